//! No secret anywhere: the whole flow runs with recognisable fake keys,
//! webhook URLs and an SMTP password, then every log line, error, database
//! row, export and `--json` output is searched for them.

mod util;

use util::{simulator, Home};

const SECRETS: &[&str] = &[
    agent_host_tests::OPENAI_KEY,
    agent_host_tests::ANTHROPIC_KEY,
    "discord-TOKEN-b7e1c9",
    "slack-TOKEN-5d2a44",
    "generic-TOKEN-93ff10",
    "smtp-PASS-6c1f0e",
];

fn dump_database(home: &Home) -> String {
    let tables = if home.is_postgres() {
        home.column(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
    } else {
        home.column("SELECT name FROM sqlite_master WHERE type = 'table'", &[])
    };
    let mut out = String::new();
    for t in tables {
        for row in home.rows(&format!("SELECT * FROM {t}"), &[]) {
            for v in row.into_iter().flatten() {
                out.push_str(&v);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn no_secret_appears_in_any_output_log_row_or_export() {
    let sim = simulator();
    let sink = agent_host_tests::WebhookSink::start().unwrap();
    let smtp = agent_host_tests::smtp::SmtpSink::start().unwrap();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector", "misbehaving"]);
    home.use_simulator(&sim)
        .env("MONTHLY_BUDGET_USD", "5")
        .env("MISBEHAVE_MODE", "secrets")
        .env("MISBEHAVE_TOKEN", agent_host_tests::OPENAI_KEY)
        .env("DISCORD_WEBHOOK_URL", &sink.url("/api/webhooks/1/discord-TOKEN-b7e1c9"))
        .env("SLACK_WEBHOOK_URL", &sink.url("/services/slack-TOKEN-5d2a44"))
        .env("ALERT_WEBHOOK_URL", &sink.url("/hook?token=generic-TOKEN-93ff10"))
        .env("ALERT_SMTP_URL", &smtp.url("billing", "smtp-PASS-6c1f0e"))
        .env("ALERT_EMAIL_FROM", "agent-host@example.com")
        .env("ALERT_EMAIL_TO", "billing@example.com");
    // Make one delivery fail, so an error path is exercised too.
    sink.script(&[(500, "failure echoing nothing")]);
    let mut outputs = Vec::new();
    for args in [
        &["run-all", "--json"][..],
        &["run-all", "--from", "2025-07-01", "--to", "2025-07-31"],
        &["runs", "--json"],
        &["summary", "--json"],
        &["summary", "--by", "project"],
        &["alerts", "--dry-run"],
        &["alerts", "--json"],
        &["report", "daily"],
        &["export", "--out", "-"],
        &["export", "--detail", "--format", "json", "--out", "-"],
        &["export", "--format", "focus", "--out", "-"],
        &["plugins", "list", "--json"],
    ] {
        let run = home.run(args);
        outputs.push(format!("{args:?}\n{}\n{}", run.stdout(), run.stderr()));
    }
    // A bad key too, so the provider's error text is stored.
    home.env("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-WRONG-KEY-4242");
    let run = home.run(&["run", "--plugin", "anthropic_collector"]);
    outputs.push(format!("{}\n{}", run.stdout(), run.stderr()));

    let mut haystacks = outputs;
    haystacks.push(home.log());
    haystacks.push(dump_database(&home));
    for e in std::fs::read_dir(home.path().join("exports")).unwrap().flatten() {
        haystacks.push(std::fs::read_to_string(e.path()).unwrap());
    }
    let mut secrets: Vec<&str> = SECRETS.to_vec();
    secrets.push("sk-ant-admin01-WRONG-KEY-4242");
    for secret in secrets {
        for (i, h) in haystacks.iter().enumerate() {
            assert!(!h.contains(secret), "secret {secret:?} found in haystack {i}:\n{h}");
        }
    }
    // The flow really ran: data, alerts and the redaction are all there.
    assert!(home.count("cost_rows") > 0);
    assert!(!sink.received().is_empty());
    assert!(!smtp.mails().is_empty(), "an email alert was sent");
    assert!(home.log().contains("my token is [redacted]"));
}
