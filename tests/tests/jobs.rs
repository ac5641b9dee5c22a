//! Jobs in `agent-host.toml`: two organizations per provider, each with its
//! own admin key, collected into one store by account; and a malformed file
//! refused with its file and line before anything runs.

mod util;

use agent_host_tests::{Org, ANTHROPIC_KEY, ANTHROPIC_KEY_2, OPENAI_KEY, OPENAI_KEY_2};
use std::collections::BTreeSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use util::{simulator, Home};

const JOBS: &str = r#"
[[job]]
name = "openai-acme"
plugin = "openai_collector"
account = "acme"
[job.secrets]
OPENAI_ADMIN_KEY = "ACME_OPENAI_ADMIN_KEY"

[[job]]
name = "openai-globex"
plugin = "openai_collector"
account = "globex"
[job.secrets]
OPENAI_ADMIN_KEY = "GLOBEX_OPENAI_ADMIN_KEY"

[[job]]
name = "anthropic-acme"
plugin = "anthropic_collector"
account = "acme"
[job.secrets]
ANTHROPIC_ADMIN_KEY = "ACME_ANTHROPIC_ADMIN_KEY"

[[job]]
name = "anthropic-globex"
plugin = "anthropic_collector"
account = "globex"
timeout = 120
[job.secrets]
ANTHROPIC_ADMIN_KEY = "GLOBEX_ANTHROPIC_ADMIN_KEY"
"#;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn two_orgs() -> Home {
    let sim = Box::leak(Box::new(simulator()));
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(sim)
        .unset("OPENAI_ADMIN_KEY")
        .unset("ANTHROPIC_ADMIN_KEY")
        .env("ACME_OPENAI_ADMIN_KEY", OPENAI_KEY)
        .env("GLOBEX_OPENAI_ADMIN_KEY", OPENAI_KEY_2)
        .env("ACME_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
        .env("GLOBEX_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY_2);
    std::fs::write(home.path().join("agent-host.toml"), JOBS).unwrap();
    home
}

#[test]
fn two_organizations_per_provider_are_kept_apart_and_add_up_exactly() {
    let home = two_orgs();
    let jobs = home.run(&["jobs", "list", "--json"]).expect_code(0).json();
    let names: Vec<&str> =
        jobs["jobs"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["openai-acme", "openai-globex", "anthropic-acme", "anthropic-globex"]);
    let listed = home.run(&["jobs", "list"]).stdout();
    assert!(!listed.contains(OPENAI_KEY) && !listed.contains(OPENAI_KEY_2), "no key is shown");

    let run = home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-05"]);
    run.expect_code(0);
    let out = run.stdout();
    for job in names {
        assert!(out.lines().any(|l| l.starts_with(job) && l.contains(" success ")), "{job}: {out}");
    }

    let sim = simulator();
    let days: Vec<NaiveDate> =
        "2025-08-01".parse::<NaiveDate>().unwrap().iter_days().take(5).collect();
    let cost = |org: Org, provider: &str| -> Decimal {
        days.iter().map(|d| dec(&sim.expected_day_of(org, provider, *d).1)).sum()
    };
    let summary = home
        .run(&[
            "summary",
            "--from",
            "2025-08-01",
            "--to",
            "2025-08-05",
            "--by",
            "account",
            "--json",
        ])
        .expect_code(0)
        .json();
    for (provider, name) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
        let (acme, globex) = (cost(Org(1), provider), cost(Org(2), provider));
        assert_ne!(acme, globex, "the second organization has other data");
        let line = |account: &str| {
            let rows = summary["breakdown"].as_array().unwrap();
            let row = rows.iter().find(|r| r["provider"] == name && r["key"] == account);
            dec(row.unwrap_or_else(|| panic!("{name} {account}: {rows:?}"))["cost"]
                .as_str()
                .unwrap())
        };
        assert_eq!(line("acme"), acme, "{name} acme");
        assert_eq!(line("globex"), globex, "{name} globex");
        let total = summary["providers"].as_array().unwrap().iter().find(|p| p["provider"] == name);
        assert_eq!(dec(total.unwrap()["cost"].as_str().unwrap()), acme + globex, "{name} combined");
    }
    // Coverage is per job: a plain run-all asks each job only for what it lacks.
    let coverage = home.number("SELECT count(DISTINCT plugin_name) FROM coverage");
    assert_eq!(coverage, 4);

    // One job alone.
    let one =
        home.run(&["run", "--job", "openai-globex", "--from", "2025-08-01", "--to", "2025-08-01"]);
    one.expect_code(0);
    assert!(one.stdout().starts_with("openai-globex "), "{}", one.stdout());
    let unknown = home.run(&["run", "--job", "openai-initech"]);
    unknown.expect_code(2);
    assert!(unknown.stderr().contains("no job named \"openai-initech\""), "{}", unknown.stderr());
}

#[test]
fn a_malformed_jobs_file_names_file_and_line_and_runs_nothing() {
    let home = two_orgs();
    let file = home.path().join("agent-host.toml");
    for (text, line, why) in [
        ("[[job]]\nname = \"a\"\nplugn = \"openai_collector\"\n", 3, "unknown field `plugn`"),
        ("[[job]]\nname = \"a\"\nplugin = \"openai_collecter\"\n", 3, "plugin \"openai_collecter\" is not loaded"),
        (
            "[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\n[job.secrets]\nOPENAI_ADMIN_KEY = \"NOBODY_SET_THIS\"\n",
            5,
            "names \"NOBODY_SET_THIS\", which is not set",
        ),
        (
            "[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\n[job.secrets]\nOPENAI_ADMIN_KEYS = \"ACME_OPENAI_ADMIN_KEY\"\n",
            5,
            "declares no such secret",
        ),
        ("[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\n[[job]]\nname = \"a\"\nplugin = \"anthropic_collector\"\n", 5, "declared twice"),
        ("[[job]\nname = \"a\"\n", 1, ""),
        (
            "[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\n[job.secrets]\nOPENAI_ADMIN_KEY = \"sk-admin-PASTED-0123456789\"\n",
            5,
            "must name a variable (put the key itself in .env)",
        ),
        (
            "[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\nsecrets = \"sk-admin-PASTED-0123456789\"\n",
            4,
            "invalid type",
        ),
        (
            "[[job]]\nname = \"a\"\nplugin = \"openai_collector\"\naccount = \"x\"\n[[job]]\nname = \"b\"\nplugin = \"openai_collector\"\n",
            6,
            "each needs its own account",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        for args in [&["run-all"][..], &["jobs", "list"][..]] {
            let run = home.run(args);
            run.expect_code(3);
            let err = run.stderr();
            let first = err.lines().next().unwrap_or_default();
            assert!(first.contains(&format!("agent-host.toml:{line}: ")), "{text}\n{err}");
            assert!(first.contains(why), "{text}\n{err}");
            assert!(!err.contains(OPENAI_KEY) && !err.contains("PASTED"), "no secret in errors");
        }
        assert_eq!(home.count("runs"), 0, "nothing ran: {text}");
    }
}

#[test]
fn with_jobs_declared_a_plugin_runs_only_as_its_jobs() {
    let home = two_orgs();
    let run = home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-01",
    ]);
    run.expect_code(2);
    assert!(run.stderr().contains("runs as job(s) openai-acme, openai-globex"), "{}", run.stderr());
    assert!(run.stderr().contains("--job openai-acme"), "{}", run.stderr());

    // A disabled job may name a variable not set yet; an empty file is said.
    let file = home.path().join("agent-host.toml");
    std::fs::write(
        &file,
        format!("{JOBS}\n[[job]]\nname = \"later\"\nplugin = \"openai_collector\"\naccount = \"initech\"\nenabled = false\n[job.secrets]\nOPENAI_ADMIN_KEY = \"INITECH_KEY\"\n"),
    )
    .unwrap();
    let list = home.run(&["jobs", "list", "--json"]).expect_code(0).json();
    let later = list["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "later").unwrap();
    assert_eq!(later["enabled"], false);
    std::fs::write(&file, "# nothing yet\n").unwrap();
    let empty = home.run(&["run-all"]);
    empty.expect_code(3);
    assert!(empty.stderr().contains("declares no enabled job"), "{}", empty.stderr());
}

#[test]
fn a_job_name_given_to_another_plugin_leaves_the_old_rows_alone() {
    let home = two_orgs();
    home.run(&["run", "--job", "openai-acme", "--from", "2025-08-01", "--to", "2025-08-01"])
        .expect_code(0);
    let openai = "SELECT count(*) FROM cost_rows WHERE provider = 'openai' AND account = 'acme'";
    let before = home.number(openai);
    assert!(before > 0);
    let renamed = JOBS.replacen(
        "name = \"openai-acme\"\nplugin = \"openai_collector\"\naccount = \"acme\"\n[job.secrets]\nOPENAI_ADMIN_KEY = \"ACME_OPENAI_ADMIN_KEY\"",
        "name = \"openai-acme\"\nplugin = \"anthropic_collector\"\naccount = \"acme2\"\n[job.secrets]\nANTHROPIC_ADMIN_KEY = \"ACME_ANTHROPIC_ADMIN_KEY\"",
        1,
    );
    assert_ne!(renamed, JOBS);
    // Without the job that already collects that Anthropic organization: one
    // key under two jobs is refused.
    let (head, tail) = renamed.split_once("[[job]]\nname = \"anthropic-acme\"").unwrap();
    let renamed = format!("{head}{}", &tail[tail.find("[[job]]").unwrap()..]);
    std::fs::write(home.path().join("agent-host.toml"), renamed).unwrap();
    home.run(&["run", "--job", "openai-acme", "--from", "2025-08-01", "--to", "2025-08-01"])
        .expect_code(0);
    assert_eq!(home.number(openai), before, "another plugin's rows under the name stay");
}

/// Per provider and day, the stored tokens and cost.
fn day_totals(home: &Home) -> Vec<(String, String, i64, String)> {
    home.rows("SELECT provider, date, tokens, cost FROM results ORDER BY provider, date", &[])
        .into_iter()
        .map(|r| {
            let t = |i: usize| r[i].clone().unwrap();
            (t(0), t(1), t(2).parse().unwrap(), t(3))
        })
        .collect()
}

const ACME: &str = r#"
[[job]]
name = "openai-acme"
plugin = "openai_collector"
account = "acme"
[job.secrets]
OPENAI_ADMIN_KEY = "ACME_OPENAI_ADMIN_KEY"

[[job]]
name = "anthropic-acme"
plugin = "anthropic_collector"
account = "acme"
[job.secrets]
ANTHROPIC_ADMIN_KEY = "ACME_ANTHROPIC_ADMIN_KEY"
"#;

#[test]
fn moving_keys_from_dot_env_into_jobs_keeps_one_account_and_counts_every_day_once() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(0);
    let before = day_totals(&home);
    assert_eq!(before.len(), 62);
    for (provider, date, tokens, cost) in &before {
        let id = if provider == "OpenAI" { "openai" } else { "anthropic" };
        let (t, c) = sim.expected_day(id, date.parse().unwrap());
        assert_eq!((*tokens as u64, dec(cost)), (t, dec(&c)), "{provider} {date}");
    }

    // The same keys, now under jobs of account "acme".
    home.unset("OPENAI_ADMIN_KEY")
        .unset("ANTHROPIC_ADMIN_KEY")
        .env("ACME_OPENAI_ADMIN_KEY", OPENAI_KEY)
        .env("ACME_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY);
    std::fs::write(home.path().join("agent-host.toml"), ACME).unwrap();
    let jobs = home.run(&["jobs", "list", "--json"]).expect_code(0).json();
    let identity = jobs["jobs"][0]["identity"].as_str().unwrap().to_string();
    assert!(identity.starts_with("key-sha256:") && !identity.contains(OPENAI_KEY));

    let run = home.run(&["run-all"]);
    run.expect_code(0);
    assert_eq!(day_totals(&home), before, "every day's totals unchanged");
    for (provider, job) in [("openai", "openai_collector"), ("anthropic", "anthropic_collector")] {
        let said = format!(
            "{provider} row(s) of account \"default\" (job {job}) are now account \"acme\""
        );
        assert_eq!(run.stderr().matches(&said).count(), 1, "said once: {}", run.stderr());
    }
    // Only the re-pull window was asked for: the history came with the rows.
    assert!(run.stdout().contains("2025-08-29..2025-08-31"), "{}", run.stdout());

    let summary = home
        .run(&[
            "summary",
            "--from",
            "2025-08-01",
            "--to",
            "2025-08-31",
            "--by",
            "account",
            "--json",
        ])
        .expect_code(0)
        .json();
    let keys: BTreeSet<&str> = summary["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, BTreeSet::from(["acme"]));
    let accounts = home.run(&["accounts", "list", "--json"]).expect_code(0).json();
    let accounts = accounts["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    for a in accounts {
        assert_eq!(a["account"], "acme");
        let days = home.number(&format!(
            "SELECT count(DISTINCT day) FROM (SELECT provider, day FROM cost_rows
             UNION ALL SELECT provider, day FROM usage_rows) AS all_rows WHERE provider = '{}'",
            a["provider"].as_str().unwrap()
        ));
        assert_eq!(a["days"], days);
        assert_eq!(a["identities"].as_array().unwrap().len(), 1);
    }
    let listed = home.run(&["accounts", "list"]).expect_code(0).stdout();
    assert!(listed.contains(&identity) && !listed.contains(OPENAI_KEY), "{listed}");

    // Said once: the next run has nothing to adopt.
    let again = home.run(&["run-all"]);
    again.expect_code(0);
    assert!(!again.stderr().contains("are now account"), "{}", again.stderr());
    assert_eq!(day_totals(&home), before);

    // A second job of the same key would count its organization twice.
    let twice = ACME.to_string()
        + "\n[[job]]\nname = \"openai-acme2\"\nplugin = \"openai_collector\"\naccount = \"acme2\"\n[job.secrets]\nOPENAI_ADMIN_KEY = \"ACME_OPENAI_ADMIN_KEY\"\n";
    std::fs::write(home.path().join("agent-host.toml"), twice).unwrap();
    let refused = home.run(&["run-all"]);
    refused.expect_code(3);
    let first = refused.stderr().lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains(
            "agent-host.toml:17: job \"openai-acme2\": uses the same key as job \"openai-acme\""
        ),
        "{}",
        refused.stderr()
    );
    assert!(!refused.stderr().contains(OPENAI_KEY));
}

#[test]
fn accounts_merge_refuses_a_day_both_hold_differently_and_rename_moves_every_row() {
    let home = two_orgs();
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-05"]).expect_code(0);
    let before = day_totals(&home);
    let declared = home.run(&["accounts", "merge", "globex", "acme"]);
    declared.expect_code(2);
    assert!(declared.stderr().contains("collects account \"globex\""), "{}", declared.stderr());

    std::fs::remove_file(home.path().join("agent-host.toml")).unwrap();
    let refused = home.run(&["accounts", "merge", "globex", "acme"]);
    refused.expect_code(2);
    let err = refused.stderr();
    assert!(
        err.contains("both hold different rows for anthropic on 2025-08-01..2025-08-05; openai on 2025-08-01..2025-08-05"),
        "{err}"
    );
    assert_eq!(day_totals(&home), before, "nothing moved");

    let exists = home.run(&["accounts", "rename", "globex", "acme"]);
    exists.expect_code(2);
    assert!(exists.stderr().contains("accounts merge globex acme"), "{}", exists.stderr());
    home.run(&["accounts", "rename", "nobody", "x"]).expect_code(2);
    home.run(&["accounts", "rename", "globex", "bad name"]).expect_code(2);

    let renamed = home.run(&["accounts", "rename", "globex", "initech"]);
    renamed.expect_code(0);
    assert!(renamed.stdout().starts_with("renamed account \"globex\" into \"initech\""));
    let accounts = home.run(&["accounts", "list", "--json"]).expect_code(0).json();
    let names: BTreeSet<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["acme", "initech"]));
    assert_eq!(day_totals(&home), before, "a rename changes no total");
    assert_eq!(home.number("SELECT count(*) FROM cost_rows WHERE account = 'globex'"), 0);
}

#[test]
fn a_key_moved_onto_an_account_holding_other_rows_is_said_and_nothing_is_dropped() {
    let home = two_orgs();
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-05"]).expect_code(0);
    let before = day_totals(&home);
    // globex's job now holds acme's key (and acme's job is gone): acme's
    // rows are of that key, but globex holds other rows on the same days.
    let swapped = "[[job]]\nname = \"openai-globex\"\nplugin = \"openai_collector\"\n\
                   account = \"globex\"\n[job.secrets]\nOPENAI_ADMIN_KEY = \"ACME_OPENAI_ADMIN_KEY\"\n";
    std::fs::write(home.path().join("agent-host.toml"), swapped).unwrap();
    for _ in 0..2 {
        let run = home.run(&[
            "run",
            "--job",
            "openai-globex",
            "--from",
            "2025-08-06",
            "--to",
            "2025-08-06",
        ]);
        run.expect_code(0);
        assert!(
            run.stderr().contains(
                "openai rows of account \"acme\" were collected with the same key, but account \"globex\" holds other rows for 2025-08-01..2025-08-05"
            ),
            "said on every run: {}",
            run.stderr()
        );
    }
    let after: Vec<_> =
        day_totals(&home).into_iter().filter(|r| r.1.as_str() < "2025-08-06").collect();
    assert_eq!(after, before, "nothing dropped, nothing doubled");
}
