//! Usage per machine of a shared store (`summary --by machine`): the calls
//! each machine read from local logs (estimated, as every figure from
//! logs is) and the runs it ran. Billed spend belongs to organizations, not
//! machines, so it is not split here.

use std::collections::BTreeMap;

use serde::Serialize;

use super::estimate::Priced;
use super::money::Money;
use crate::billing::storage::CallLine;

/// One machine.
#[derive(Debug, Clone, Serialize)]
pub struct MachineLine {
    /// `AGENT_MACHINE` (`(unknown)` for what was stored before machines
    /// were kept).
    pub machine: String,
    /// Calls it read first.
    pub calls: usize,
    /// Their tokens.
    pub tokens: u64,
    /// Their estimated cost, exact.
    pub cost: String,
    /// Tokens of calls no price covers (left out of `cost`).
    pub unpriced_tokens: u64,
    /// Runs it started in the period.
    pub runs: i64,
    /// Its newest run's start (RFC 3339), if any.
    pub last_run: Option<String>,
}

/// Calls and runs summed per machine; the most expensive first.
pub fn by_machine(
    calls: &[(CallLine, Priced)],
    runs: &BTreeMap<String, (i64, String)>,
) -> Vec<MachineLine> {
    let name = |m: &str| if m.is_empty() { "(unknown)".to_string() } else { m.to_string() };
    let mut acc: BTreeMap<String, (MachineLine, Money)> = BTreeMap::new();
    let line = |m: &str| {
        let line = MachineLine {
            machine: name(m),
            calls: 0,
            tokens: 0,
            cost: String::new(),
            unpriced_tokens: 0,
            runs: 0,
            last_run: None,
        };
        (name(m), (line, Money::zero()))
    };
    for (c, p) in calls {
        let (key, fresh) = line(&c.machine);
        let (l, cost) = acc.entry(key).or_insert(fresh);
        l.calls += 1;
        l.tokens = l.tokens.saturating_add(p.tokens);
        match p.cost() {
            Some(m) => *cost += m,
            None => l.unpriced_tokens = l.unpriced_tokens.saturating_add(p.tokens),
        }
    }
    for (m, (count, last)) in runs {
        let (key, fresh) = line(m);
        let (l, _) = acc.entry(key).or_insert(fresh);
        l.runs += count;
        l.last_run = l.last_run.take().max(Some(last.clone()));
    }
    let mut out: Vec<(MachineLine, Money)> = acc.into_values().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.machine.cmp(&b.0.machine)));
    out.into_iter()
        .map(|(mut l, cost)| {
            l.cost = cost.to_stored();
            l
        })
        .collect()
}

/// The machines as a table, money rounded to cents.
pub fn render(machines: &[MachineLine]) -> String {
    use crate::table::{count, money, render as table, Align};
    if machines.is_empty() {
        return "no calls or runs in this period".to_string();
    }
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|m| {
            let last = m
                .last_run
                .as_deref()
                .map_or("-".to_string(), |t| t.get(..16).unwrap_or(t).replace('T', " "));
            vec![
                m.machine.clone(),
                count(m.calls as i64),
                count(m.tokens.min(i64::MAX as u64) as i64),
                money(&m.cost),
                count(m.runs),
                last,
            ]
        })
        .collect();
    let body = table(
        2,
        &[
            ("Machine", Align::Left),
            ("Calls", Align::Right),
            ("Tokens", Align::Right),
            ("Est. cost (USD)", Align::Right),
            ("Runs", Align::Right),
            ("Last run (UTC)", Align::Left),
        ],
        &rows,
    );
    format!(
        "Machines (calls estimated from local logs, NOT billed; billed spend is per organization, \
         not per machine)\n{body}"
    )
}
