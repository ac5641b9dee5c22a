//! `agent-host accounts list|rename|merge`, and the rule that keeps one
//! organization under one account: before a job runs, rows that a job of
//! the same identity (the same key) stored under another account or job
//! name become this job's, so moving a key from `.env` into
//! `agent-host.toml`, renaming a job or changing its account never counts
//! a day twice.

use std::collections::BTreeSet;
use std::io::Write;

use chrono::{NaiveDate, Utc};

use super::write_err;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::job::Job;
use crate::kernel::lock::RunLock;
use crate::kernel::run::span_text;
use crate::store::accounts::Moved;
use crate::store::Store;
use crate::table::{count, render, Align};

/// Before `jobs` run: each adopts the rows, history and ledger that jobs of
/// its identity left under another account or name, and its identity is
/// recorded. What moved is said once (a warning, and in `agent.log`). Rows
/// are never dropped to make room: a day both accounts hold with different
/// rows stops that adoption, and it is said on every run until resolved.
pub(crate) fn adopt(store: &mut Store, jobs: &[&Job]) -> Result<()> {
    let now = Utc::now().to_rfc3339();
    for job in jobs {
        let Some(identity) = job.identity() else { continue };
        let account = job.account.as_deref().unwrap_or("");
        let plugin = &job.plugin.manifest.name;
        let known = store.jobs_of_identity(&identity)?;
        let stale: Vec<_> =
            known.iter().filter(|k| !(k.job == job.name && k.account == account)).collect();
        let tx = store.transaction()?;
        let mut refused = false;
        let mut from_jobs: BTreeSet<&str> = stale.iter().map(|k| k.job.as_str()).collect();
        if !stale.is_empty() {
            from_jobs.insert(&job.name);
        }
        for from_job in from_jobs {
            let mut blocked = false;
            for provider in &job.plugin.manifest.providers {
                if let Some(into) = &job.account {
                    for from in tx.accounts_of_job(from_job, provider, into)? {
                        let moved = tx.move_account(
                            provider,
                            &from,
                            into,
                            Some(from_job),
                            Some(&job.name),
                            false,
                            &now,
                        )?;
                        match moved {
                            Ok(m) => say_adopted(job, provider, from_job, &from, into, &m),
                            Err(overlap) => {
                                blocked = true;
                                tracing::warn!(
                                    "{}: {provider} rows of account {from:?} were collected with \
                                     the same key, but account {into:?} holds other rows for {}; \
                                     they stay apart (compare them with `agent-host accounts \
                                     list`, re-collect or merge by hand)",
                                    job.name,
                                    spans(&overlap.0)
                                );
                            }
                        }
                    }
                }
                if from_job != job.name && !blocked {
                    let rows = tx.move_job_rows(provider, from_job, &job.name)?;
                    if rows > 0 && job.account.is_none() {
                        tracing::warn!(
                            "{}: {} {provider} row(s) of job {from_job} are now this job's: the \
                             same key, one organization, counted once",
                            job.name,
                            count(rows as i64)
                        );
                    }
                }
            }
            // What an earlier job of the same plugin knew of its history
            // (complete days, its ledger) is this job's now.
            let same_plugin = stale.iter().any(|k| k.job == from_job && k.plugin == *plugin);
            if from_job != job.name && same_plugin && !blocked {
                tx.move_history(from_job, &job.name)?;
            }
            refused |= blocked;
        }
        // A blocked adoption is tried (and said) again next run.
        tx.set_identity(&job.name, plugin, &identity, account, !refused, &now)?;
        tx.commit()?;
    }
    Ok(())
}

fn say_adopted(job: &Job, provider: &str, from_job: &str, from: &str, into: &str, m: &Moved) {
    if m.rows == 0 && m.overlapping.is_empty() {
        return;
    }
    let by = if from_job == job.name { String::new() } else { format!(" (job {from_job})") };
    let mut line = format!(
        "{}: {} {provider} row(s) of account {from:?}{by} are now account {into:?}: the same \
         key, one organization, counted once",
        job.name,
        count(m.rows as i64)
    );
    if !m.overlapping.is_empty() {
        line.push_str(&format!(
            "; {} day(s) both accounts held identically kept one copy",
            m.overlapping.len()
        ));
    }
    tracing::warn!("{line}");
}

/// `accounts list`.
pub fn list(ctx: &Context, json: bool) -> Result<u8> {
    let store = ctx.store()?;
    let accounts = store.accounts()?;
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({ "accounts": accounts });
        writeln!(out, "{doc:#}").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if accounts.is_empty() {
        writeln!(out, "no accounts yet: nothing has been collected").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.provider.clone(),
                a.account.clone(),
                count(a.days),
                format!("{}..{}", a.first_day, a.last_day),
                a.jobs.join(", "),
                if a.identities.is_empty() { "unknown".into() } else { a.identities.join(", ") },
            ]
        })
        .collect();
    let header = [
        ("Provider", Align::Left),
        ("Account", Align::Left),
        ("Days", Align::Right),
        ("From..to", Align::Left),
        ("Jobs", Align::Left),
        ("Identity (key fingerprint)", Align::Left),
    ];
    write!(out, "{}", render(0, &header, &rows)).map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// `accounts rename OLD NEW`: refused when NEW exists (that is a merge).
pub fn rename(ctx: &Context, old: &str, new: &str) -> Result<u8> {
    move_rows(ctx, old, new, false)
}

/// `accounts merge FROM INTO`: refused when both hold rows of one provider
/// and day that differ.
pub fn merge(ctx: &Context, from: &str, into: &str) -> Result<u8> {
    move_rows(ctx, from, into, true)
}

fn move_rows(ctx: &Context, from: &str, into: &str, merge: bool) -> Result<u8> {
    for name in [from, into] {
        if !crate::jobfile::valid_account(name) {
            return Err(HostError::usage(format!(
                "account {name:?}: letters, digits, '_', '-' and '.' only"
            )));
        }
    }
    if from == into {
        return Err(HostError::usage(format!("{from:?} is already {into:?}")));
    }
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    refuse_if_declared(ctx, from, into)?;
    let mut store = ctx.store()?;
    let accounts = store.accounts()?;
    let providers: Vec<String> =
        accounts.iter().filter(|a| a.account == from).map(|a| a.provider.clone()).collect();
    if providers.is_empty() {
        let known: BTreeSet<&str> = accounts.iter().map(|a| a.account.as_str()).collect();
        return Err(HostError::usage(format!("no account {from:?} has any rows")).with_hint(
            if known.is_empty() {
                "nothing has been collected yet".to_string()
            } else {
                format!("accounts: {}", known.into_iter().collect::<Vec<_>>().join(", "))
            },
        ));
    }
    if !merge && accounts.iter().any(|a| a.account == into) {
        return Err(HostError::usage(format!("account {into:?} already has rows")).with_hint(
            format!("to put both together, `agent-host accounts merge {from} {into}`"),
        ));
    }
    let now = Utc::now().to_rfc3339();
    let tx = store.transaction()?;
    let (mut rows, mut identical, mut refused) = (0, 0, Vec::new());
    for provider in &providers {
        match tx.move_account(provider, from, into, None, None, false, &now)? {
            Ok(m) => {
                rows += m.rows;
                identical += m.overlapping.len();
            }
            Err(overlap) => refused.push((provider, overlap.0)),
        }
    }
    if !refused.is_empty() {
        // Dropped without a commit: nothing moved.
        let lines: Vec<String> =
            refused.iter().map(|(p, days)| format!("{p} on {}", spans(days))).collect();
        return Err(HostError::usage(format!(
            "refused: accounts {from:?} and {into:?} both hold different rows for {}; merging \
             would count those days twice",
            lines.join("; ")
        ))
        .with_hint(
            "two organizations' data on one day cannot be one account; if one copy is stale, \
             re-collect the days with `run --job … --from … --to …` first",
        ));
    }
    tx.commit()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} account {from:?} into {into:?}: {} row(s) of {}{}",
        if merge { "merged" } else { "renamed" },
        count(rows as i64),
        providers.join(", "),
        if identical > 0 {
            format!("; {identical} day(s) both held were identical, one copy kept")
        } else {
            String::new()
        }
    )
    .map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// A job that still collects an account would bring its rows back under
/// the old name: the job's account is what to change.
fn refuse_if_declared(ctx: &Context, from: &str, into: &str) -> Result<()> {
    if !ctx.home.path().join(crate::jobfile::FILE).exists() {
        return Ok(());
    }
    let catalog = ctx.catalog()?;
    let jobs = crate::jobfile::load(ctx, &catalog)?;
    if let Some(job) = jobs.jobs.iter().find(|j| j.account.as_deref() == Some(from)) {
        return Err(HostError::usage(format!(
            "job {:?} of {} collects account {from:?}",
            job.name,
            crate::jobfile::FILE
        ))
        .with_hint(format!(
            "set its account to {into:?} there instead: its rows follow on its next run"
        )));
    }
    Ok(())
}

/// Days as a short list of spans.
fn spans(days: &[NaiveDate]) -> String {
    let mut spans: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for d in days {
        match spans.last_mut() {
            Some((_, end)) if end.succ_opt() == Some(*d) => *end = *d,
            _ => spans.push((*d, *d)),
        }
    }
    let mut text: Vec<String> = spans.iter().take(5).map(|(a, b)| span_text(*a, *b)).collect();
    if spans.len() > 5 {
        text.push(format!("and {} more span(s)", spans.len() - 5));
    }
    text.join(", ")
}
