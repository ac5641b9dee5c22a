//! `agent-host blocks`: 5-hour blocks of local-log calls as a table, or
//! the JSON of [`super::views::blocks_value`].

use std::io::Write;

use super::write_err;
use crate::billing::blocks::Block;
use crate::cli::BlocksArgs;
use crate::context::Context;
use crate::error::{ExitCode, Result};

/// Prints the blocks, oldest first (`--active`: the one under way).
pub fn run(ctx: &Context, args: &BlocksArgs) -> Result<u8> {
    let table = ctx.prices();
    let (list, now) = super::views::blocks_list(ctx, &table, args)?;
    let text = if args.json {
        super::views::pretty(&super::views::blocks_json(&table, list, now))
    } else {
        render(&list, args.active)
    };
    writeln!(std::io::stdout().lock(), "{}", text.trim_end()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

fn render(blocks: &[Block], active_only: bool) -> String {
    use crate::table::{count, money, render as table, Align};
    if blocks.is_empty() {
        return if active_only {
            "no active block (no call from local logs in the last 5 hours)".to_string()
        } else {
            "no calls from local logs".to_string()
        };
    }
    let when = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    let mut rows = Vec::new();
    for b in blocks {
        let tokens = count(b.tokens.total.min(i64::MAX as u64) as i64);
        let (status, cost) = if b.is_gap {
            ("gap".to_string(), String::new())
        } else if b.is_active {
            ("ACTIVE".to_string(), money(&b.cost))
        } else {
            (String::new(), money(&b.cost))
        };
        let tokens = if b.is_gap { String::new() } else { tokens };
        let calls = if b.is_gap { String::new() } else { count(b.calls as i64) };
        rows.push(vec![
            b.source.clone(),
            when(&b.start),
            when(&b.end),
            status,
            calls,
            tokens,
            cost,
            b.models.join(", "),
        ]);
    }
    let mut out = table(
        2,
        &[
            ("Log", Align::Left),
            ("Start (UTC)", Align::Left),
            ("End", Align::Left),
            ("", Align::Left),
            ("Calls", Align::Right),
            ("Tokens", Align::Right),
            ("Est. cost (USD)", Align::Right),
            ("Models", Align::Left),
        ],
        &rows,
    );
    for b in blocks.iter().filter(|b| b.is_active) {
        if let (Some(r), Some(p)) = (&b.burn_rate, &b.projection) {
            out.push_str(&format!(
                "\n  active {} block: {} tokens/h, ${}/h; at this rate {} tokens and ${} by {} \
                 ({} left)",
                b.source,
                money(&r.tokens_per_hour).trim_end_matches(".00"),
                money(&r.cost_per_hour),
                count(p.tokens.min(i64::MAX as u64) as i64),
                money(&p.cost),
                when(&b.end),
                minutes(p.remaining_minutes),
            ));
        }
    }
    format!("5-hour blocks of local-log calls (estimated, rounded to cents)\n{out}")
}

/// `2h13m`.
pub(crate) fn minutes(m: i64) -> String {
    format!("{}h{:02}m", m / 60, m % 60)
}
