//! The JSON every read-only view prints with `--json`, one function per
//! view: the commands print these values and the MCP server (`agent-host
//! mcp`) returns them, so an agent and the command line can never disagree
//! on a number.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::billing::blocks::{self, Block, TimedCall};
use crate::billing::estimate;
use crate::billing::period::Period;
use crate::billing::prices::PriceTable;
use crate::billing::sessions::{self, SessionLine};
use crate::billing::storage::BillingReads as _;
use crate::cli::{BlocksArgs, RunsArgs, SummaryArgs};
use crate::context::Context;
use crate::error::{HostError, Result};
use crate::kernel::ledger::LedgerReads as _;
use crate::store::Store;

/// A view's JSON, compact, its fields in the order the view declares them
/// (a `serde_json::Value` would sort them).
pub type Json = Box<RawValue>;

/// Serializes a view (our own types, with string keys: this cannot fail).
pub(crate) fn value(v: &impl Serialize) -> Json {
    serde_json::value::to_raw_value(v).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// A view's JSON as the commands print it: indented by two spaces, one
/// field per line, as `serde_json::to_string_pretty` lays it out.
pub fn pretty(json: &RawValue) -> String {
    let text = json.get();
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// The instant views are computed at: `AGENT_NOW` (RFC 3339) pins it, for
/// tests and reproducible reports, like `AGENT_TODAY` pins the day.
pub fn now(ctx: &Context) -> Result<DateTime<Utc>> {
    match ctx.settings.get("AGENT_NOW") {
        Some(v) => DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)).map_err(|e| {
            HostError::config(format!("AGENT_NOW: {v:?} is not an RFC 3339 instant ({e})"))
        }),
        None => Ok(Utc::now()),
    }
}

/// Every call between two days with its estimate, oldest first.
pub fn priced_calls(
    table: &PriceTable,
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(crate::billing::storage::CallLine, estimate::Priced)>> {
    let starts = table.tier_starts();
    let calls = store.calls_in(from, to)?;
    Ok(calls
        .into_iter()
        .map(|c| {
            let p = estimate::price_call(table, &starts, &c);
            (c, p)
        })
        .collect())
}

/// `summary --by session`: the period's sessions (of one provider, by its
/// display name, when `--provider` says).
pub fn sessions(
    ctx: &Context,
    store: &Store,
    table: &PriceTable,
    args: &SummaryArgs,
) -> Result<Vec<SessionLine>> {
    if args.daily || args.weekly || args.monthly {
        return Err(HostError::usage(
            "--by session lists sessions; --daily, --weekly and --monthly do not apply to it",
        ));
    }
    let p = super::billing::period(ctx, &args.period)?;
    let mut calls = priced_calls(table, store, p.from, p.to)?;
    if let Some(name) = &args.provider {
        calls.retain(|(c, _)| &c.name == name);
    }
    Ok(sessions::by_session(&calls))
}

/// `summary --by machine`'s rows: the period's calls and runs per machine.
pub fn machines(
    ctx: &Context,
    store: &Store,
    table: &PriceTable,
    args: &SummaryArgs,
) -> Result<Vec<crate::billing::machines::MachineLine>> {
    if args.daily || args.weekly || args.monthly {
        return Err(HostError::usage(
            "--by machine lists machines; --daily, --weekly and --monthly do not apply to it",
        ));
    }
    let p = super::billing::period(ctx, &args.period)?;
    let mut calls = priced_calls(table, store, p.from, p.to)?;
    if let Some(name) = &args.provider {
        calls.retain(|(c, _)| &c.name == name);
    }
    let runs = store.runs_by_machine(p.from, p.to)?;
    Ok(crate::billing::machines::by_machine(&calls, &runs))
}

/// `summary --by session --json`.
pub fn sessions_value(table: &PriceTable, p: Period, sessions: &[SessionLine]) -> Json {
    #[derive(Serialize)]
    struct Sessions<'a> {
        period: Period,
        kind: &'static str,
        basis: &'static str,
        price_table: String,
        price_table_date: String,
        sessions: &'a [SessionLine],
    }
    value(&Sessions {
        period: p,
        kind: "estimated",
        basis: "calls read from local agent logs, priced with the table below",
        price_table: table.source.clone(),
        price_table_date: table.date.clone(),
        sessions,
    })
}

/// `summary --json`, with `--weekly` rows and `--by session` as asked.
pub fn summary_value(ctx: &Context, args: &SummaryArgs) -> Result<Json> {
    #[derive(Serialize)]
    struct Weekly<'a> {
        #[serde(flatten)]
        summary: &'a crate::billing::summary::Summary,
        weekly: Vec<crate::billing::period::WeekLine>,
    }
    if args.by == crate::cli::By::Session {
        let store = ctx.store()?;
        let p = super::billing::period(ctx, &args.period)?;
        let table = ctx.prices();
        let list = sessions(ctx, &store, &table, args)?;
        return Ok(sessions_value(&table, p, &list));
    }
    if args.by == crate::cli::By::Machine {
        #[derive(Serialize)]
        struct Machines {
            period: Period,
            kind: &'static str,
            basis: &'static str,
            price_table: String,
            machines: Vec<crate::billing::machines::MachineLine>,
        }
        let store = ctx.store()?;
        let p = super::billing::period(ctx, &args.period)?;
        let table = ctx.prices();
        let machines = machines(ctx, &store, &table, args)?;
        return Ok(value(&Machines {
            period: p,
            kind: "estimated",
            basis: "calls read from local agent logs per machine, priced with the table below; runs per machine",
            price_table: table.source,
            machines,
        }));
    }
    let s = super::billing::summary_data(ctx, args)?;
    if args.weekly {
        let weekly = weeks(ctx, args, &s)?;
        return Ok(value(&Weekly { summary: &s, weekly }));
    }
    if args.daily || args.monthly {
        // --json carries what the text shows: the --daily/--monthly table.
        #[derive(Serialize)]
        struct Periods {
            by: &'static str,
            rows: Vec<crate::billing::summary::PeriodLine>,
        }
        #[derive(Serialize)]
        struct WithPeriods<'a> {
            #[serde(flatten)]
            summary: &'a crate::billing::summary::Summary,
            periods: Periods,
        }
        let store = ctx.store()?;
        let q = super::billing::summary_query(ctx, args, &store)?;
        let detail = if args.breakdown {
            Some(crate::billing::dashboard::models_by_day(&store, &q)?)
        } else {
            None
        };
        let rows = crate::billing::summary::period_lines(&s, args.monthly, detail.as_deref());
        let by = if args.monthly { "month" } else { "day" };
        let periods = Periods { by, rows };
        return Ok(value(&WithPeriods { summary: &s, periods }));
    }
    Ok(value(&s))
}

/// `summary --weekly`'s rows: the summary's days per ISO week, with the
/// estimate of the local-log calls of each (of `--provider`'s, when given).
pub fn weeks(
    ctx: &Context,
    args: &SummaryArgs,
    s: &crate::billing::summary::Summary,
) -> Result<Vec<crate::billing::period::WeekLine>> {
    let store = ctx.store()?;
    let mut lines = estimate::from_calls(&store, &ctx.prices(), s.period.from, s.period.to)?;
    if let Some(name) = super::billing::summary_query(ctx, args, &store)?.provider {
        lines.retain(|l| l.group.name == name);
    }
    Ok(crate::billing::period::weekly(&s.daily, &lines))
}

/// The days `blocks` reads: `--from`/`--to`, else everything up to today.
fn blocks_days(ctx: &Context, args: &BlocksArgs) -> Result<(NaiveDate, NaiveDate)> {
    let today = ctx.today()?;
    let from = args.from.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(today));
    let to = args.to.unwrap_or(today);
    if from > to {
        return Err(HostError::usage(format!("--from {from} is after --to {to}")));
    }
    Ok((from, to))
}

/// The blocks (and gaps) of the calls between two days, per source, seen
/// at `now`; oldest first.
pub fn blocks_between(
    table: &PriceTable,
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<Block>> {
    Ok(blocks_of(priced_calls(table, store, from, to)?, now))
}

/// The blocks (and gaps) of priced calls, per source, seen at `now`;
/// oldest first.
pub fn blocks_of(
    calls: Vec<(crate::billing::storage::CallLine, estimate::Priced)>,
    now: DateTime<Utc>,
) -> Vec<Block> {
    let mut by_source: std::collections::BTreeMap<String, Vec<TimedCall>> = Default::default();
    for (c, p) in calls {
        // A call without an instant cannot be placed in a block.
        let Some(at) = c.at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
            continue;
        };
        let call = TimedCall {
            at: at.with_timezone(&Utc),
            model: c.model,
            counts: c.counts,
            cost: p.cost().cloned(),
        };
        by_source.entry(c.source).or_default().push(call);
    }
    let mut out: Vec<Block> = by_source
        .into_iter()
        .flat_map(|(source, calls)| blocks::identify(&source, calls, now))
        .collect();
    // RFC 3339 in UTC with milliseconds sorts as time does.
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.source.cmp(&b.source)));
    out
}

/// The blocks `blocks` shows (`--active`: only the one under way, if
/// any), and the instant they were seen at.
pub fn blocks_list(
    ctx: &Context,
    table: &PriceTable,
    args: &BlocksArgs,
) -> Result<(Vec<Block>, DateTime<Utc>)> {
    let store = ctx.store()?;
    let (from, to) = blocks_days(ctx, args)?;
    let now = now(ctx)?;
    let mut list = blocks_between(table, &store, from, to, now)?;
    if args.active {
        list.retain(|b| b.is_active);
    }
    Ok((list, now))
}

/// `blocks --json` of [`blocks_list`].
pub fn blocks_json(table: &PriceTable, blocks: Vec<Block>, now: DateTime<Utc>) -> Json {
    #[derive(Serialize)]
    struct Blocks {
        kind: &'static str,
        basis: &'static str,
        price_table: String,
        price_table_date: String,
        now: String,
        blocks: Vec<Block>,
    }
    value(&Blocks {
        kind: "estimated",
        basis: "calls read from local agent logs in 5-hour blocks, priced with the table below",
        price_table: table.source.clone(),
        price_table_date: table.date.clone(),
        now: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        blocks,
    })
}

/// `blocks --json`.
pub fn blocks_value(ctx: &Context, args: &BlocksArgs) -> Result<Json> {
    let table = ctx.prices();
    let (list, now) = blocks_list(ctx, &table, args)?;
    Ok(blocks_json(&table, list, now))
}

/// `reconcile --json`.
pub fn reconcile_value(ctx: &Context, period: &crate::cli::PeriodArgs) -> Result<Json> {
    Ok(value(&super::estimates::reconcile_data(ctx, period)?))
}

/// `runs --json` (`--missing`: every missing day instead). Read only: runs
/// of a host that died are marked by the command, not here.
pub fn runs_value(ctx: &Context, store: &Store, args: &RunsArgs) -> Result<Json> {
    let today = ctx.today()?;
    if args.missing {
        return Ok(value(&store.missing_in(NaiveDate::MIN, today, today)?));
    }
    Ok(value(&store.list_runs(args.limit as usize)?))
}

/// Data health over a period, as the dashboard's `/api/coverage` gives it:
/// each plugin's complete days and last run, missing days with why, and
/// revised days.
pub fn data_health_value(
    ctx: &Context,
    period: &crate::cli::PeriodArgs,
    provider: Option<String>,
) -> Result<Json> {
    let store = ctx.store()?;
    let p = super::billing::period(ctx, period)?;
    let q = crate::billing::dashboard::Query { period: p, provider, by: None };
    Ok(value(&crate::billing::dashboard::coverage(&store, &q, ctx.today()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_lays_out_json_as_serde_json_does() {
        let v = serde_json::json!({
            "a": [], "b": {}, "c": [1, {"d": "x,y:{[\"]}"}], "e": null, "f": "\\", "g": -1.5e-7
        });
        let raw = serde_json::value::to_raw_value(&v).unwrap();
        assert_eq!(pretty(&raw), serde_json::to_string_pretty(&v).unwrap());
    }
}
