//! The billing application, end to end: summaries and exports that equal the
//! stored records exactly, FOCUS columns, alerts that fire once and only once
//! per period in Discord's and Slack's formats, delivery failures that do not
//! fail the nightly report, and an idempotent schedule.

mod util;

use agent_host_tests::data;
use rust_decimal::Decimal;
use util::{simulator, Home};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

/// A home with August 2025 collected from the simulator; today is 2025-09-01.
fn august(sim: &agent_host_tests::Simulator) -> Home {
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(0);
    home
}

fn stored_total(home: &Home) -> Decimal {
    let amounts = home.column("SELECT amount FROM cost_rows WHERE day LIKE '2025-08-%'", &[]);
    amounts.iter().map(|a| dec(a)).sum()
}

#[test]
fn summary_and_exports_equal_the_stored_records_exactly() {
    let sim = simulator();
    let home = august(&sim);
    let expected = stored_total(&home);
    assert!(expected > Decimal::ZERO);

    let summary = home.run(&["summary", "--month", "2025-08", "--json"]);
    summary.expect_code(0);
    let s = summary.json();
    assert_eq!(dec(s["total_cost"].as_str().unwrap()), expected);
    let by_provider: Decimal =
        s["providers"].as_array().unwrap().iter().map(|p| dec(p["cost"].as_str().unwrap())).sum();
    assert_eq!(by_provider, expected);
    assert_eq!(s["providers"][0]["days_covered"], 31);
    let by_model = home.run(&["summary", "--month", "2025-08", "--by", "model", "--json"]).json();
    let models: Decimal = by_model["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| dec(b["cost"].as_str().unwrap()))
        .sum();
    assert_eq!(models, expected);
    let by_project =
        home.run(&["summary", "--month", "2025-08", "--by", "project", "--json"]).json();
    assert!(by_project["breakdown"].as_array().unwrap().iter().any(|b| b["key"] == "(default)"));

    let text = home.run(&["summary", "--month", "2025-08"]);
    text.expect_code(0);
    // The screen shows cents (the exact figure is in --json and exports).
    let cents =
        expected.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let plain = format!("{cents:.2}");
    let (int, frac) = plain.split_once('.').unwrap();
    let grouped: Vec<String> =
        int.as_bytes().rchunks(3).rev().map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let shown = format!("{}.{frac}", grouped.join(","));
    assert!(text.stdout().contains(&shown), "{shown} not in {}", text.stdout());
    assert!(!text.stdout().contains("0000000000"), "no float noise: {}", text.stdout());

    // The daily CSV of the original plan, in the working directory by default.
    let run =
        home.command(&["export", "--month", "2025-08"]).current_dir(home.path()).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let file = home.path().join("billing_export_2025-08.csv");
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("Provider,Date,Tokens,Cost,Collected At,Tokens Without Billed Cost,Cost Kind")
    );
    // No field of the daily CSV holds a comma.
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 62);
    assert_eq!(rows.iter().map(|r| dec(r[3])).sum::<Decimal>(), expected);
    // Anthropic's Priority Tier tokens are flagged on their days, as the
    // simulator sent them; OpenAI has none.
    for r in &rows {
        let day: chrono::NaiveDate = r[1].parse().unwrap();
        let flagged = if r[0] == "Anthropic" { data::anthropic_priority_tokens(day) } else { 0 };
        assert_eq!(r[5], flagged.to_string(), "{r:?}");
    }
    assert!(rows.iter().any(|r| r[5] != "0"), "August has priority-tier days");
    assert!(rows.iter().all(|r| r[6] == "billed"), "no local logs: nothing estimated");

    // One row per cost line with --detail; JSON of the same.
    let detail = home.run(&["export", "--month", "2025-08", "--detail", "--out", "-"]);
    detail.expect_code(0);
    let out = detail.stdout();
    let detail_rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(detail_rows.len() as i64, home.count("cost_rows"));
    let json = home
        .run(&["export", "--month", "2025-08", "--detail", "--format", "json", "--out", "-"])
        .json();
    let json_total: Decimal =
        json.as_array().unwrap().iter().map(|r| dec(r["Cost"].as_str().unwrap())).sum();
    assert_eq!(json_total, expected);
}

#[test]
fn focus_export_has_every_mandatory_column_and_one_row_per_cost_record() {
    let sim = simulator();
    let home = august(&sim);
    let out = home.path().join("focus.csv");
    home.run(&[
        "export",
        "--format",
        "focus",
        "--month",
        "2025-08",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    for col in [
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "BillingCurrency",
        "BillingAccountId",
        "BillingAccountName",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "InvoiceIssuerName",
        "ServiceCategory",
        "ServiceName",
        "SubAccountId",
        "ConsumedQuantity",
        "ConsumedUnit",
    ] {
        assert!(header.iter().any(|h| h == col), "missing {col}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as i64, home.count("cost_rows"));
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    let total: Decimal = rows.iter().map(|r| dec(&r[col("BilledCost")])).sum();
    assert_eq!(total, stored_total(&home));
    assert!(rows.iter().all(|r| &r[col("ServiceCategory")] == "AI and Machine Learning"));
    assert!(rows.iter().all(|r| &r[col("BillingCurrency")] == "USD"));
    assert_eq!(&rows[0][col("BillingPeriodStart")], "2025-08-01T00:00:00Z");
    assert_eq!(&rows[0][col("BillingPeriodEnd")], "2025-09-01T00:00:00Z");
    assert!(
        rows.iter().any(|r| r[col("ChargeDescription")].contains(", input")),
        "quoted commas survive"
    );
}

#[test]
fn an_alert_fires_once_and_only_once_per_period() {
    let sim = simulator();
    let sink = agent_host_tests::WebhookSink::start().unwrap();
    let mut home = august(&sim);
    home.env("MONTHLY_BUDGET_USD", "10")
        .env("DISCORD_WEBHOOK_URL", &sink.url("/api/webhooks/42/discord-SECRET-token"))
        .env("SLACK_WEBHOOK_URL", &sink.url("/services/T0/B0/slack-SECRET-token"))
        .env("ALERT_WEBHOOK_URL", &sink.url("/hook/generic-SECRET-token"));
    // A dry run with --json prints JSON alone on stdout, and sends nothing.
    let dry = home.run(&["alerts", "--dry-run", "--json"]);
    dry.expect_code(0);
    assert_eq!(dry.json()["due"].as_array().map(Vec::len), Some(1), "{}", dry.stdout());
    assert!(sink.received().is_empty());
    home.run(&["alerts"]).expect_code(0);
    let got = sink.received();
    // August is over budget: the 100 % threshold only (not 50 and 80 as well),
    // on each of the three channels. No forecast: the month is over.
    assert_eq!(got.len(), 3, "{got:?}");
    let discord = got.iter().find(|(p, _)| p.starts_with("/api/webhooks")).unwrap();
    assert_eq!(discord.1["username"], "agent-host");
    assert!(discord.1["content"].as_str().unwrap().contains("100 % of the monthly budget"));
    let slack = got.iter().find(|(p, _)| p.starts_with("/services")).unwrap();
    assert!(slack.1["text"]
        .as_str()
        .unwrap()
        .contains("*AI spend reached 100 % of the monthly budget*"));
    let generic = got.iter().find(|(p, _)| p.starts_with("/hook")).unwrap();
    assert_eq!(generic.1["key"], "budget-100:2025-08");

    // The nightly job runs again: nothing is repeated.
    home.run(&["alerts"]).expect_code(0);
    home.run(&["report", "daily"]).expect_code(0);
    assert_eq!(sink.received().len(), 3);
    for secret in ["discord-SECRET-token", "slack-SECRET-token", "generic-SECRET-token"] {
        assert!(!home.log().contains(secret));
    }
}

// See: issue 24, point 15 (alerts by email).
#[test]
fn an_email_alert_arrives_once_per_period_and_its_password_is_never_said() {
    let sim = simulator();
    let smtp = agent_host_tests::smtp::SmtpSink::start().unwrap();
    let mut home = august(&sim);
    let url = smtp.url("alerts%40example.com", "SMTP-hunter2-secret");
    home.env("MONTHLY_BUDGET_USD", "10")
        .env("ALERT_SMTP_URL", &url)
        .env("ALERT_EMAIL_FROM", "agent-host <alerts@example.com>")
        .env("ALERT_EMAIL_TO", "finance@example.com, Ops <ops@example.com>");
    let doctor = home.run(&["doctor"]);
    doctor.expect_code(0);
    assert!(
        doctor
            .stdout()
            .contains("ok    alert channels: email to finance@example.com, Ops <ops@example.com>"),
        "{}",
        doctor.stdout()
    );
    let dry = home.run(&["alerts", "--dry-run"]);
    dry.expect_code(0);
    assert!(
        dry.stdout().contains("would send to email: to finance@example.com, Ops <ops@example.com>: [agent-host] budget alert, 2025-08:"),
        "{}",
        dry.stdout()
    );
    assert!(smtp.mails().is_empty(), "a dry run sends nothing");
    home.run(&["alerts"]).expect_code(0);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["finance@example.com", "ops@example.com"]);
    assert_eq!(
        mail.login,
        Some(("alerts@example.com".to_string(), "SMTP-hunter2-secret".to_string()))
    );
    let data = mail.data.replace("=\r\n", "");
    assert!(
        data.contains("Subject: [agent-host] budget alert, 2025-08: AI spend reached 100 % of the\r\n monthly budget")
            || data.contains("Subject: [agent-host] budget alert, 2025-08: AI spend reached 100 % of the monthly budget"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative") && data.contains("text/html"), "{data}");
    assert!(data.contains("Spend in 2025-08 by provider (rounded to cents):"), "{data}");
    assert!(!data.contains("http://") && !data.contains("https://"), "link-free: {data}");

    // Once per rule and period: the nightly job does not send it again.
    home.run(&["alerts"]).expect_code(0);
    home.run(&["report", "daily"]).expect_code(0);
    assert_eq!(smtp.mails().len(), 1);
    for place in [home.log(), dry.stdout(), dry.stderr(), doctor.stdout()] {
        assert!(!place.contains("SMTP-hunter2-secret"), "{place}");
    }
    assert!(!home
        .text("SELECT group_concat(channel || rule_key || message) FROM alerts_sent")
        .contains("hunter2"));

    // A server that is down is a failed delivery, retried next run, the
    // password unsaid (a new threshold, so a new alert is due).
    home.env("ALERT_SMTP_URL", "smtp://u:SMTP-hunter2-secret@127.0.0.1:9")
        .env("MONTHLY_BUDGET_USD", "0.01")
        .env("ALERT_BUDGET_THRESHOLDS", "100,1000");
    let run = home.run(&["alerts"]);
    run.expect_code(0);
    assert!(run.stdout().contains("1 failed"), "{}", run.stdout());
    assert!(home.log().contains("not delivered to email"), "{}", home.log());
    assert!(!home.log().contains("SMTP-hunter2-secret") && !run.stderr().contains("hunter2"));

    // A bad address is found by doctor (exit 3) and refused by alerts, the
    // URL unsaid.
    home.env("ALERT_EMAIL_TO", "finance");
    let doctor = home.run(&["doctor"]);
    doctor.expect_code(3);
    assert!(doctor.stdout().contains("\"finance\" is not an email address"), "{}", doctor.stdout());
    let refused = home.run(&["alerts"]);
    refused.expect_code(3);
    assert!(!refused.stderr().contains("hunter2") && !doctor.stdout().contains("hunter2"));
}

#[test]
fn a_failed_delivery_does_not_fail_the_report_and_is_retried_next_run() {
    let sim = simulator();
    let sink = agent_host_tests::WebhookSink::start().unwrap();
    let mut home = august(&sim);
    home.env("MONTHLY_BUDGET_USD", "10")
        .env("SLACK_WEBHOOK_URL", &sink.url("/services/slack-SECRET-path"));
    sink.script(&[(500, "oops")]);
    let run = home.run(&["report", "daily"]);
    run.expect_code(0);
    assert!(run.stdout().contains("1 failed"), "{}", run.stdout());
    assert!(home.log().contains("not delivered to slack"), "{}", home.log());
    assert!(!home.log().contains("slack-SECRET-path"));
    assert!(home.path().join("exports/billing_export_2025-08.csv").exists());
    assert_eq!(sink.received().len(), 0);

    home.run(&["report", "daily"]).expect_code(0);
    assert_eq!(sink.received().len(), 1, "retried and delivered on the next run");
}

#[test]
fn discord_rate_limits_are_waited_out() {
    let sim = simulator();
    let sink = agent_host_tests::WebhookSink::start().unwrap();
    let mut home = august(&sim);
    home.env("MONTHLY_BUDGET_USD", "10")
        .env("DISCORD_WEBHOOK_URL", &sink.url("/api/webhooks/1/tok"));
    sink.script(&[(
        429,
        r#"{"message":"You are being rate limited.","retry_after":0.2,"global":false}"#,
    )]);
    home.run(&["alerts"]).expect_code(0);
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn report_daily_exit_code_reflects_collection_failures() {
    let sim = simulator();
    let mut home = august(&sim);
    home.env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9");
    let run = home.run(&["report", "daily", "--dry-run"]);
    run.expect_code(1);
    assert!(run.stdout().contains("would write"), "{}", run.stdout());
}

#[test]
fn bad_settings_get_a_one_line_error() {
    let sim = simulator();
    let mut home = august(&sim);
    home.env("MONTHLY_BUDGET_USD", "lots");
    let run = home.run(&["summary"]);
    run.expect_code(3);
    assert!(
        run.stderr().starts_with("error: MONTHLY_BUDGET_USD=\"lots\" is not a positive amount"),
        "{}",
        run.stderr()
    );
    home.env("MONTHLY_BUDGET_USD", "50").env("DISCORD_WEBHOOK_URL", "discord-SECRET-not-a-url");
    let run = home.run(&["alerts"]);
    run.expect_code(3);
    assert!(run.stderr().contains("DISCORD_WEBHOOK_URL is not an http(s) URL"));
    assert!(!run.stderr().contains("discord-SECRET"));
    let run = home.run(&["summary", "--month", "2025-13"]);
    run.expect_code(2);
    let run = home.run(&["export", "--format", "xlsx"]);
    run.expect_code(2);
}

#[test]
fn schedule_install_twice_leaves_one_entry() {
    let mut home = Home::with_plugins(&[]);
    // A stand-in crontab with the real one's interface (`-l`, `-`), so the
    // test never touches the machine's own crontab.
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let store = home.path().join("crontab.txt");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = -l ]; then [ -f '{0}' ] && cat '{0}' || {{ echo 'no crontab for test' >&2; exit 1; }}; \
         elif [ \"$1\" = - ]; then cat > '{0}'; fi\n",
        store.display()
    );
    std::fs::write(bin.join("crontab"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("crontab"), std::fs::Permissions::from_mode(0o755)).unwrap();
    home.env("PATH", &format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
    std::fs::write(&store, "MAILTO=ops@example.com\n0 1 * * * /usr/bin/true\n").unwrap();

    let dry = home.run(&["schedule", "install", "--backend", "cron", "--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout().contains("report daily"));
    assert_eq!(
        std::fs::read_to_string(&store).unwrap().lines().count(),
        2,
        "a dry run changes nothing"
    );

    home.run(&["schedule", "install", "--backend", "cron", "--at", "05:30"]).expect_code(0);
    home.run(&["schedule", "install", "--backend", "cron", "--at", "06:45"]).expect_code(0);
    let crontab = std::fs::read_to_string(&store).unwrap();
    let entries: Vec<&str> =
        crontab.lines().filter(|l| l.contains("agent-host report daily")).collect();
    assert_eq!(entries.len(), 1, "{crontab}");
    assert!(entries[0].starts_with("45 06 * * * cd '/"), "{}", entries[0]);
    assert!(entries[0].contains("/agent-host' --home '/") && entries[0].contains("report.log"));
    assert!(crontab.contains("MAILTO=ops@example.com"));
    let status = home.run(&["schedule", "status", "--backend", "cron"]);
    assert!(status.stdout().starts_with("installed: 45 06"), "{}", status.stdout());
    home.run(&["schedule", "remove", "--backend", "cron"]).expect_code(0);
    assert!(!std::fs::read_to_string(&store).unwrap().contains("agent-host"));
    let bad = home.run(&["schedule", "install", "--at", "25:00"]);
    bad.expect_code(2);
}

#[test]
fn exports_are_named_for_their_period_and_errors_name_the_path_asked_for() {
    let home = Home::with_plugins(&[]);
    for args in [
        &["--month", "2025-07"][..],
        &["--month", "2025-08"],
        &["--from", "2025-08-03", "--to", "2025-09-02"],
    ] {
        let mut cmd = vec!["export"];
        cmd.extend_from_slice(args);
        let run = home.command(&cmd).current_dir(home.path()).output().unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    for name in [
        "billing_export_2025-07.csv",
        "billing_export_2025-08.csv",
        "billing_export_2025-08-03_2025-09-02.csv",
    ] {
        assert!(home.path().join(name).exists(), "{name} missing");
    }
    let run = home.run(&["export", "--month", "2025-08", "--out", "/nonexistent-folder/costs.csv"]);
    run.expect_code(6);
    assert!(
        run.stderr().contains("cannot write /nonexistent-folder/costs.csv"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("tmp-"), "{}", run.stderr());
}

#[test]
fn one_provider_s_summary_shows_only_its_models_per_day() {
    let sim = simulator();
    let home = august(&sim);
    let run = home.run(&[
        "summary",
        "--month",
        "2025-08",
        "--provider",
        "OpenAI",
        "--daily",
        "--breakdown",
    ]);
    run.expect_code(0);
    assert!(run.stdout().contains("gpt-4.1-2025-04-14"), "{}", run.stdout());
    assert!(!run.stdout().contains("claude"), "{}", run.stdout());
}
