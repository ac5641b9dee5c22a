//! The data behind every view of the dashboard, one function per view, over
//! the store. `serve`'s JSON API, `report html` and the CLI's `summary
//! --json` all call these, so the page and the command line can never
//! disagree on a number.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::breakdown::By;
use super::estimate;
use super::money::Money;
use super::period::{parse_day, DayState, Period, PeriodError};
use super::prices::PriceTable;
use super::summary::{self, BreakdownLine, Summary};
use crate::billing::storage::{
    BillingReads, Breakdown, DayBreakdownRow, DayTotal, SentAlert, TokenMix,
};
use crate::kernel::ledger::{MissingDay, RunRow};
use crate::store::StoreError;

/// What a view is asked for: the days, one provider or all, and what the
/// breakdown groups by (none: by provider only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The days.
    pub period: Period,
    /// One provider's display name, or all.
    pub provider: Option<String>,
    /// What the breakdown groups by.
    pub by: Option<Breakdown>,
}

/// The most runs a view lists.
pub const MAX_RUNS: usize = 1000;

/// Why a view's query cannot be answered: a parameter that is wrong (the
/// asker's fault), or the store (not theirs).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter the view does not take.
    #[error("unknown parameter {0:?}")]
    UnknownParam(String),
    /// A parameter given twice.
    #[error("parameter {0:?} given twice")]
    Twice(String),
    /// `from` or `to` is not a day.
    #[error("{name}: {source}")]
    Day {
        /// `from` or `to`.
        name: &'static str,
        /// Why.
        source: PeriodError,
    },
    /// `month` is not a month.
    #[error("month: {0}")]
    Month(#[source] PeriodError),
    /// `from` is after `to`.
    #[error(transparent)]
    Reversed(PeriodError),
    /// `month` and `from`/`to` together.
    #[error("give month or from/to, not both")]
    MonthAndRange,
    /// `from` without `to`, or `to` without `from`.
    #[error("from and to go together")]
    HalfRange,
    /// A period over ten years.
    #[error("{}..{} is longer than ten years", .0.from, .0.to)]
    TooLong(Period),
    /// An empty or overlong provider.
    #[error("provider: not a provider name")]
    ProviderName,
    /// A `by` that is no breakdown of billed spend.
    #[error("by: {0:?} is not provider, model, project or account")]
    By(String),
    /// A provider no data knows.
    #[error("{}", unknown_provider(.asked, .known))]
    UnknownProvider {
        /// As asked.
        asked: String,
        /// The providers with data: (id, display name).
        known: Vec<(String, String)>,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Query {
    /// Reads URL query parameters: `month=YYYY-MM` or `from`/`to`
    /// (`YYYY-MM-DD`), `provider`, `by` (`provider`, `model`, `project`).
    /// `extra` names the other parameters the view accepts. An unknown name
    /// or a bad value is refused with a one-line reason.
    pub fn from_params(
        params: &[(String, String)],
        extra: &[&str],
        default: Period,
    ) -> Result<Query, QueryError> {
        const KNOWN: [&str; 5] = ["month", "from", "to", "provider", "by"];
        let mut seen = BTreeMap::new();
        for (k, v) in params {
            if !KNOWN.contains(&k.as_str()) && !extra.contains(&k.as_str()) {
                return Err(QueryError::UnknownParam(k.clone()));
            }
            if seen.insert(k.as_str(), v.as_str()).is_some() {
                return Err(QueryError::Twice(k.clone()));
            }
        }
        let day = |name: &'static str| -> Result<Option<NaiveDate>, QueryError> {
            seen.get(name)
                .map(|v| parse_day(v).map_err(|source| QueryError::Day { name, source }))
                .transpose()
        };
        let period = match (seen.get("month"), day("from")?, day("to")?) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(QueryError::MonthAndRange),
            (Some(m), None, None) => Period::parse_month(m).map_err(QueryError::Month)?,
            (None, Some(from), Some(to)) => Period::new(from, to).map_err(QueryError::Reversed)?,
            (None, None, None) => default,
            _ => return Err(QueryError::HalfRange),
        };
        if period.days() > 3660 {
            return Err(QueryError::TooLong(period));
        }
        let provider = match seen.get("provider") {
            Some(p) if p.is_empty() || p.chars().count() > 80 => {
                return Err(QueryError::ProviderName)
            }
            p => p.map(|p| p.to_string()),
        };
        let by = match seen.get("by").map(|b| b.parse::<By>()) {
            None => None,
            // A session is not a breakdown of billed spend.
            Some(Ok(By::Session | By::Machine)) | Some(Err(_)) => {
                let other = seen.get("by").copied().unwrap_or_default();
                return Err(QueryError::By(other.into()));
            }
            Some(Ok(by)) => by.grouping(),
        };
        Ok(Query { period, provider, by })
    }

    /// Turns `provider` as asked (an id such as `openai` or a display name
    /// such as `OpenAI`, in any case) into the display name the data is kept
    /// under; one no data knows is refused with the list of those it does.
    pub fn resolve_provider(&mut self, store: &impl BillingReads) -> Result<(), QueryError> {
        let Some(asked) = self.provider.as_deref() else { return Ok(()) };
        let known = store.provider_names()?;
        let want = asked.trim();
        match known
            .iter()
            .find(|(id, name)| id.eq_ignore_ascii_case(want) || name.eq_ignore_ascii_case(want))
        {
            Some((_, name)) => {
                self.provider = Some(name.clone());
                Ok(())
            }
            None => Err(QueryError::UnknownProvider { asked: want.into(), known }),
        }
    }

    fn keeps(&self, provider: &str) -> bool {
        self.provider.as_deref().is_none_or(|p| p == provider)
    }
}

/// "unknown provider" with the list of known ones.
fn unknown_provider(asked: &str, known: &[(String, String)]) -> String {
    if known.is_empty() {
        return format!("unknown provider {asked:?}: no provider has data in this home yet");
    }
    let list: Vec<String> = known
        .iter()
        .map(|(id, name)| if id == name { id.clone() } else { format!("{name} ({id})") })
        .collect();
    format!("unknown provider {asked:?}; known: {}", list.join(", "))
}

/// The summary (`summary --json`): totals, breakdown, coverage, budget and
/// forecast; the budget and forecast are of the month holding the period's
/// end.
pub fn summary(
    store: &impl BillingReads,
    q: &Query,
    today: NaiveDate,
    budget: &Money,
    prices: &PriceTable,
) -> Result<Summary, StoreError> {
    summary_of(store, q, today, budget, prices, &day_totals(store, q, q.period)?)
}

/// The query's providers' estimates from local logs over `period`.
fn estimates(
    store: &impl BillingReads,
    q: &Query,
    prices: &PriceTable,
    period: Period,
) -> Result<Vec<estimate::Priced>, StoreError> {
    let mut lines = estimate::from_calls(store, prices, period.from, period.to)?;
    lines.retain(|l| q.keeps(&l.group.name));
    Ok(lines)
}

/// The query's providers' `results` rows over `period`.
fn day_totals(
    store: &impl BillingReads,
    q: &Query,
    period: Period,
) -> Result<Vec<DayTotal>, StoreError> {
    let mut rows = store.day_totals(period.from, period.to)?;
    rows.retain(|d| q.keeps(&d.provider));
    Ok(rows)
}

/// [`summary()`] over the period's rows, already read.
fn summary_of(
    store: &impl BillingReads,
    q: &Query,
    today: NaiveDate,
    budget: &Money,
    prices: &PriceTable,
    days: &[DayTotal],
) -> Result<Summary, StoreError> {
    let p = q.period;
    let month = Period::month_of(p.to);
    let lines = estimates(store, q, prices, p)?;
    let same_month = (month.from, month.to) == (p.from, p.to);
    let mut month_days = if same_month { days.to_vec() } else { day_totals(store, q, month)? };
    let month_lines = if same_month { None } else { Some(estimates(store, q, prices, month)?) };
    let stand_ins = estimate::stand_ins(
        &month_days,
        month_lines.as_deref().unwrap_or(&lines),
        &month.finished_days(today),
    );
    month_days.extend(stand_ins);
    let breakdown = match q.by {
        None => None,
        Some(by) => {
            let mut rows = store.breakdown(p.from, p.to, by)?;
            rows.retain(|r| q.keeps(&r.provider));
            Some((By::of(by), rows))
        }
    };
    let mut s = summary::summarize(p, today, days, breakdown, &month_days, budget);
    estimate::onto_days(&mut s.daily, &lines);
    if q.provider.is_some() {
        // The budget is for every provider: one provider's spend is shown
        // as its part of it, never measured against all of it.
        let all = Query { provider: None, ..q.clone() };
        let mut all_days = day_totals(store, &all, month)?;
        let all_lines = estimates(store, &all, prices, month)?;
        let stand_ins = estimate::stand_ins(&all_days, &all_lines, &month.finished_days(today));
        all_days.extend(stand_ins);
        let part = s.budget.month_to_date.clone();
        s.budget = summary::budget_view(p.to, today, &all_days, budget);
        s.budget.provider = q.provider.clone();
        s.budget.provider_month_to_date = Some(part);
    }
    s.estimated = estimate::summarize(&lines, prices).map(|mut e| {
        if let Some(by) = q.by {
            e.breakdown = estimate::by_key(&lines, by);
        }
        e
    });
    let notes = store.not_in_cost_notes()?;
    for line in &mut s.providers {
        line.without_billed_cost_note = notes.get(&line.provider).cloned();
    }
    Ok(s)
}

/// The breakdown lines of `summary --by model|project --json` (by model
/// unless the query says otherwise), mapped by the same function.
pub fn models(store: &impl BillingReads, q: &Query) -> Result<Vec<BreakdownLine>, StoreError> {
    let mut rows = store.breakdown(q.period.from, q.period.to, q.by.unwrap_or(Breakdown::Model))?;
    rows.retain(|r| q.keeps(&r.provider));
    Ok(summary::breakdown_lines(rows))
}

/// One provider's part of a day.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderDay {
    /// Exact cost.
    pub cost: String,
    /// Tokens.
    pub tokens: i64,
    /// Of them, tokens no billed cost covers.
    pub tokens_without_billed_cost: i64,
}

/// One day of the chart.
#[derive(Debug, Clone, Serialize)]
pub struct DailyPoint {
    /// The day.
    pub date: NaiveDate,
    /// `collected` (some provider's data is stored), `missing` (a finished
    /// day without data: not a zero) or `future` (not finished yet).
    pub state: DayState,
    /// Per provider with data that day.
    pub providers: BTreeMap<String, ProviderDay>,
    /// Stored values a later re-pull changed (a late-settled day).
    pub revisions: i64,
}

/// Spend per day, stacked by provider.
#[derive(Debug, Clone, Serialize)]
pub struct Daily {
    /// The days.
    pub period: Period,
    /// Every provider with data in the period.
    pub providers: Vec<String>,
    /// One point per day of the period.
    pub days: Vec<DailyPoint>,
}

/// The breakdown of each day (by model unless the query says otherwise),
/// for the query's providers.
pub fn models_by_day(
    store: &impl BillingReads,
    q: &Query,
) -> Result<Vec<DayBreakdownRow>, StoreError> {
    let by = q.by.unwrap_or(Breakdown::Model);
    let mut rows = store.breakdown_by_day(q.period.from, q.period.to, by)?;
    rows.retain(|r| q.keeps(&r.row.provider));
    Ok(rows)
}

/// Spend per day and provider, with missing days told apart from zero days.
pub fn daily(store: &impl BillingReads, q: &Query, today: NaiveDate) -> Result<Daily, StoreError> {
    let revisions = store.revisions_by_day(q.period.from, q.period.to)?;
    Ok(daily_of(q.period, today, &day_totals(store, q, q.period)?, &revisions))
}

/// [`daily`] from the period's rows and revisions, already read.
fn daily_of(
    p: Period,
    today: NaiveDate,
    rows: &[DayTotal],
    revisions: &BTreeMap<String, i64>,
) -> Daily {
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, ProviderDay>> = BTreeMap::new();
    let mut providers = std::collections::BTreeSet::new();
    for d in rows {
        providers.insert(d.provider.clone());
        by_day.entry(d.date).or_default().insert(
            d.provider.clone(),
            ProviderDay {
                cost: Money::from_stored(&d.cost).to_stored(),
                tokens: d.tokens,
                tokens_without_billed_cost: d.not_in_cost_tokens,
            },
        );
    }
    let days = p
        .from
        .iter_days()
        .take_while(|d| *d <= p.to)
        .map(|date| {
            let providers = by_day.remove(&date).unwrap_or_default();
            let state = DayState::of(date, !providers.is_empty(), today);
            let revisions = revisions.get(&date.to_string()).copied().unwrap_or(0);
            DailyPoint { date, state, providers, revisions }
        })
        .collect();
    Daily { period: p, providers: providers.into_iter().collect(), days }
}

/// One plugin's data health over the period.
#[derive(Debug, Clone, Serialize)]
pub struct PluginHealth {
    /// The plugin.
    pub plugin: String,
    /// Complete days in the period.
    pub days_complete: i64,
    /// Finished days in the period.
    pub days_finished: i64,
    /// Its newest finished run.
    pub last_run: Option<RunRow>,
    /// When its newest successful run started.
    pub last_success_at: Option<String>,
    /// For a plugin that reads local logs (its days are not tracked:
    /// it reads files, not days): the calls it stored for the period, and
    /// the newest one's time. Absent for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<i64>,
    /// The newest of those calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_call_at: Option<String>,
}

/// Which days each plugin has, which it lacks and why, and which days a
/// re-pull revised.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The days.
    pub period: Period,
    /// Per plugin.
    pub plugins: Vec<PluginHealth>,
    /// Days of each job's history that are not complete (from the first
    /// day any of its runs asked for), with why.
    pub missing: Vec<MissingDay>,
    /// Per day, how many stored values a re-pull changed.
    pub revisions: BTreeMap<String, i64>,
}

/// Data health: coverage per plugin, last runs, missing and revised days.
pub fn coverage(
    store: &impl BillingReads,
    q: &Query,
    today: NaiveDate,
) -> Result<Coverage, StoreError> {
    coverage_of(store, q, today, store.revisions_by_day(q.period.from, q.period.to)?)
}

/// [`coverage`] with the period's revisions, already read.
fn coverage_of(
    store: &impl BillingReads,
    q: &Query,
    today: NaiveDate,
    revisions: BTreeMap<String, i64>,
) -> Result<Coverage, StoreError> {
    let p = q.period;
    let finished = p.finished_days(today).len() as i64;
    let counts: BTreeMap<String, i64> = store.coverage_counts(p.from, p.to)?;
    let mut last: BTreeMap<String, RunRow> =
        store.last_runs()?.into_iter().map(|r| (r.plugin_name.clone(), r)).collect();
    let mut successes: BTreeMap<String, String> = store.last_successes()?;
    let mut calls = store.calls_by_plugin(p.from, p.to)?;
    let mut names: Vec<String> =
        counts.keys().chain(last.keys()).chain(calls.keys()).cloned().collect();
    names.sort();
    names.dedup();
    let plugins = names
        .into_iter()
        .map(|plugin| {
            let (calls, last_call_at) = match calls.remove(&plugin) {
                Some((n, at)) => (Some(n), at),
                // A plugin that has stored calls before, but none in the
                // period, still reads logs: say 0, not "0 of N days".
                None if !counts.contains_key(&plugin) && store.has_calls(&plugin)? => {
                    (Some(0), None)
                }
                None => (None, None),
            };
            Ok(PluginHealth {
                days_complete: counts.get(&plugin).copied().unwrap_or(0),
                days_finished: finished,
                last_run: last.remove(&plugin),
                last_success_at: successes.remove(&plugin),
                calls,
                last_call_at,
                plugin,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let missing = store.missing_in(p.from, p.to, today)?;
    Ok(Coverage { period: p, plugins, missing, revisions })
}

/// Tokens per provider and kind (input, output, cache reads and writes...).
pub fn token_mix(store: &impl BillingReads, q: &Query) -> Result<Vec<TokenMix>, StoreError> {
    let mut rows = store.token_mix(q.period.from, q.period.to)?;
    rows.retain(|r| q.keeps(&r.provider));
    Ok(rows)
}

/// The newest runs (`runs --json`).
pub fn runs(store: &impl BillingReads, limit: usize) -> Result<Vec<RunRow>, StoreError> {
    store.list_runs(limit.min(MAX_RUNS))
}

/// The alerts delivered, newest first.
pub fn alerts(store: &impl BillingReads) -> Result<Vec<SentAlert>, StoreError> {
    store.alerts_sent(200)
}

/// Everything the page shows, for `report html`.
#[derive(Debug, Clone, Serialize)]
pub struct Everything {
    /// The one provider the views are of (its display name), if any.
    pub provider: Option<String>,
    /// `/api/summary`.
    pub summary: Summary,
    /// `/api/daily`.
    pub daily: Daily,
    /// `/api/models?by=model`.
    pub models: Vec<BreakdownLine>,
    /// `/api/models?by=project`.
    pub projects: Vec<BreakdownLine>,
    /// `/api/tokens`.
    pub tokens: Vec<TokenMix>,
    /// `/api/coverage`.
    pub coverage: Coverage,
    /// `/api/runs`.
    pub runs: Vec<RunRow>,
    /// `/api/alerts`.
    pub alerts: Vec<SentAlert>,
    /// Status-page incidents plugins recorded (newest first).
    pub incidents: Vec<Incident>,
}

/// A status-page incident a plugin recorded (records of kind `incident`,
/// such as `status_watch`'s), for the health section.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// The plugin (job) that recorded it.
    pub plugin: String,
    /// Its key (`<page id>/<incident id>`).
    pub key: Option<String>,
    /// When it was last recorded.
    pub updated_at: String,
    /// The payload's `page`, `name`, `status`, `impact`, `created_at`,
    /// `resolved_at` and `shortlink`, where they are text.
    pub fields: BTreeMap<String, String>,
}

/// Incidents shown at most.
const MAX_INCIDENTS: usize = 20;

/// The newest incidents any plugin recorded.
pub fn incidents(store: &impl BillingReads) -> Result<Vec<Incident>, StoreError> {
    const SHOWN: [&str; 7] =
        ["page", "name", "status", "impact", "created_at", "resolved_at", "shortlink"];
    let rows = store.records_of_kind("incident", MAX_INCIDENTS)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let payload: serde_json::Value =
                serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null);
            let fields = SHOWN
                .iter()
                .filter_map(|k| Some((k.to_string(), payload.get(k)?.as_str()?.to_string())))
                .collect();
            Incident { plugin: r.plugin, key: r.key, updated_at: r.updated_at, fields }
        })
        .collect())
}

/// Every view at once.
pub fn everything(
    store: &impl BillingReads,
    q: &Query,
    today: NaiveDate,
    budget: &Money,
    prices: &PriceTable,
) -> Result<Everything, StoreError> {
    // Each table is read once for every view.
    let days = day_totals(store, q, q.period)?;
    let revisions = store.revisions_by_day(q.period.from, q.period.to)?;
    Ok(Everything {
        provider: q.provider.clone(),
        summary: summary_of(store, q, today, budget, prices, &days)?,
        daily: daily_of(q.period, today, &days, &revisions),
        models: models(store, &Query { by: Some(Breakdown::Model), ..q.clone() })?,
        projects: models(store, &Query { by: Some(Breakdown::Project), ..q.clone() })?,
        tokens: token_mix(store, q)?,
        coverage: coverage_of(store, q, today, revisions)?,
        runs: runs(store, 50)?,
        alerts: alerts(store)?,
        incidents: incidents(store)?,
    })
}

/// The default period of a view: the month of yesterday.
pub fn default_period(today: NaiveDate) -> Period {
    Period::month_of(today.pred_opt().unwrap_or(today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn bad_parameters_are_refused_with_a_reason() {
        let default = Period::parse_month("2025-08").unwrap();
        let q = |s: &str| Query::from_params(&params(s), &["limit"], default);
        assert_eq!(q("").unwrap().period, default);
        assert_eq!(q("month=2025-07").unwrap().period.to.to_string(), "2025-07-31");
        assert_eq!(q("by=model&provider=OpenAI").unwrap().by, Some(Breakdown::Model));
        for (bad, why) in [
            ("month=2025-13", "month"),
            ("from=2025-08-02&to=2025-08-01", "after"),
            ("from=2025-08-01", "together"),
            ("month=2025-08&from=2025-08-01&to=2025-08-02", "not both"),
            ("by=color", "not provider, model, project or account"),
            ("colour=red", "unknown parameter"),
            ("month=2025-08&month=2025-07", "twice"),
            ("from=1900-01-01&to=2025-01-01", "ten years"),
            ("from=2025-02-30&to=2025-03-01", "from"),
        ] {
            let e = q(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
