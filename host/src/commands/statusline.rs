//! `agent-host statusline`: one line for Claude Code's status line. Reads
//! the status-line JSON Claude Code writes on stdin (`session_id`,
//! `model`, `workspace`, `cost`…) and prints the session's cost, today's
//! estimate, the active 5-hour block with its time left, and the month's
//! billed spend when collectors have any.

use std::io::{Read, Write};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;

use super::write_err;
use crate::billing::money::Money;
use crate::billing::storage::BillingReads as _;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::table::money;

/// The most stdin read: Claude Code's input is a few hundred bytes.
const MAX_INPUT: u64 = 1 << 20;

/// The fields of Claude Code's status-line input the line uses; the rest
/// (`transcript_path`, `version`, `output_style`…) is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct StatusInput {
    /// The session's id (the transcript's `sessionId`).
    #[serde(default)]
    pub session_id: Option<String>,
    /// The model in use.
    #[serde(default)]
    pub model: Option<ModelInput>,
    /// Claude Code's own running cost of the session.
    #[serde(default)]
    pub cost: Option<CostInput>,
}

/// `model` of the input.
#[derive(Debug, Default, Deserialize)]
pub struct ModelInput {
    /// `claude-opus-4-1`.
    #[serde(default)]
    pub id: Option<String>,
    /// `Opus`.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `cost` of the input.
#[derive(Debug, Default, Deserialize)]
pub struct CostInput {
    /// The session's cost so far in USD, as Claude Code counts it.
    #[serde(default)]
    pub total_cost_usd: Option<serde_json::Number>,
}

/// Reads the input and prints the line.
pub fn run(ctx: &Context) -> Result<u8> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| HostError::usage(format!("statusline: cannot read stdin: {e}")))?;
    let input: StatusInput = if text.trim().is_empty() {
        StatusInput::default()
    } else {
        serde_json::from_str(&text).map_err(|e| {
            HostError::usage(format!(
                "statusline: stdin is not Claude Code's status-line JSON ({e})"
            ))
        })?
    };
    let line = line(ctx, &input)?;
    writeln!(std::io::stdout().lock(), "{line}").map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// The line: `Opus · session $0.42 · today ~$3.10 · block ~$1.20 (2h13m left) · Nov billed $123.45`.
/// `~` marks estimates from local logs (as of their last collection).
pub fn line(ctx: &Context, input: &StatusInput) -> Result<String> {
    let store = ctx.store()?;
    let now = super::views::now(ctx)?;
    let today = now.date_naive();
    let mut parts = Vec::new();
    if let Some(m) = &input.model {
        if let Some(name) = m.display_name.as_ref().or(m.id.as_ref()) {
            parts.push(name.clone());
        }
    }
    // A day's calls (and the block under way, which starts at most 5 hours
    // back, but whose start depends on the calls before it) are read from
    // the day before yesterday on: a handful of rows, so the line stays fast.
    let table = ctx.prices();
    let calls = super::views::priced_calls(&table, &store, today - Duration::days(2), today)?;
    let session = input.session_id.as_deref().filter(|s| !s.is_empty());
    let claude_cost = input.cost.as_ref().and_then(|c| c.total_cost_usd.as_ref());
    match (claude_cost, session) {
        (Some(n), _) => parts.push(format!("session ${}", money(&n.to_string()))),
        (None, Some(id)) => {
            let cost: Money = calls
                .iter()
                .filter(|(c, _)| c.session == id)
                .filter_map(|(_, p)| p.cost())
                .cloned()
                .sum();
            parts.push(format!("session ~${}", money(&cost.to_stored())));
        }
        (None, None) => {}
    }
    let day: Money =
        calls.iter().filter(|(c, _)| c.day == today).filter_map(|(_, p)| p.cost()).cloned().sum();
    parts.push(format!("today ~${}", money(&day.to_stored())));
    let blocks = super::views::blocks_of(calls, now);
    match blocks.iter().find(|b| b.is_active && b.source == "claude_code") {
        Some(b) => {
            let end = chrono::DateTime::parse_from_rfc3339(&b.end)
                .map(|e| e.with_timezone(&chrono::Utc) - now)
                .unwrap_or_default();
            let left = super::blocks::minutes(end.num_minutes().max(0));
            parts.push(format!("block ~${} ({left} left)", money(&b.cost)));
        }
        None => parts.push("no active block".to_string()),
    }
    if let Some(billed) = month_billed(&store, today)? {
        parts.push(format!("{} billed ${}", today.format("%b"), money(&billed.to_stored())));
    }
    Ok(parts.join(" · "))
}

/// What collectors stored as billed this month, or `None` when nothing is.
fn month_billed(store: &crate::store::Store, today: NaiveDate) -> Result<Option<Money>> {
    let first = today.with_day(1).unwrap_or(today);
    let rows = store.day_totals(first, today)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.iter().map(|r| Money::from_stored(&r.cost)).sum()))
}
