//! Spend per agent session (`summary --by session`): the calls of each
//! session id, their project, first and last call, estimated cost and
//! tokens. Local logs are the only source that knows sessions, so every
//! figure here is an estimate.

use std::collections::BTreeMap;

use serde::Serialize;

use super::estimate::Priced;
use super::money::Money;
use crate::billing::storage::CallLine;

/// One session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionLine {
    /// The agent's session id (`(none)` for calls whose log had none).
    pub session: String,
    /// Which log (`claude_code`, `codex`).
    pub source: String,
    /// Display name of the provider.
    pub provider: String,
    /// The project (the agent's folder) of its first call.
    pub project: String,
    /// Its first call (RFC 3339, UTC), or its first day when no call says.
    pub first_call: String,
    /// Its last call.
    pub last_call: String,
    /// Calls.
    pub calls: usize,
    /// Tokens of every call.
    pub tokens: u64,
    /// Estimated cost of the priced calls, exact.
    pub cost: String,
    /// Tokens of calls no price covers (left out of `cost`).
    pub unpriced_tokens: u64,
    /// Models, in order of first use.
    pub models: Vec<String>,
}

/// Calls (oldest first) and their prices, summed per source and session;
/// the most expensive session first.
pub fn by_session(calls: &[(CallLine, Priced)]) -> Vec<SessionLine> {
    let mut acc: BTreeMap<(&str, &str), (SessionLine, Money)> = BTreeMap::new();
    for (c, p) in calls {
        let when = c.at.clone().unwrap_or_else(|| c.day.to_string());
        let (line, cost) = acc.entry((&c.source, &c.session)).or_insert_with(|| {
            let session =
                if c.session.is_empty() { "(none)".to_string() } else { c.session.clone() };
            let line = SessionLine {
                session,
                source: c.source.clone(),
                provider: c.name.clone(),
                project: c.project.clone(),
                first_call: when.clone(),
                last_call: when.clone(),
                calls: 0,
                tokens: 0,
                cost: String::new(),
                unpriced_tokens: 0,
                models: Vec::new(),
            };
            (line, Money::zero())
        });
        line.first_call = line.first_call.clone().min(when.clone());
        line.last_call = line.last_call.clone().max(when);
        line.calls += 1;
        line.tokens = line.tokens.saturating_add(p.tokens);
        match p.cost() {
            Some(m) => *cost += m,
            None => line.unpriced_tokens = line.unpriced_tokens.saturating_add(p.tokens),
        }
        if !line.models.contains(&c.model) {
            line.models.push(c.model.clone());
        }
    }
    let mut out: Vec<(SessionLine, Money)> = acc.into_values().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.first_call.cmp(&b.0.first_call)));
    out.into_iter()
        .map(|(mut l, cost)| {
            l.cost = cost.to_stored();
            l
        })
        .collect()
}

/// The sessions as a table, money rounded to cents.
pub fn render(sessions: &[SessionLine]) -> String {
    use crate::table::{count, money, render as table, Align};
    if sessions.is_empty() {
        return "no calls from local logs in this period".to_string();
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let short: String = s.session.chars().take(13).collect();
            let when = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
            vec![
                short,
                s.project.chars().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect(),
                when(&s.first_call),
                when(&s.last_call),
                count(s.calls as i64),
                count(s.tokens.min(i64::MAX as u64) as i64),
                money(&s.cost),
            ]
        })
        .collect();
    let body = table(
        2,
        &[
            ("Session", Align::Left),
            ("Project", Align::Left),
            ("First call (UTC)", Align::Left),
            ("Last call", Align::Left),
            ("Calls", Align::Right),
            ("Tokens", Align::Right),
            ("Est. cost (USD)", Align::Right),
        ],
        &rows,
    );
    format!("Sessions (estimated from local logs, rounded to cents)\n{body}")
}
