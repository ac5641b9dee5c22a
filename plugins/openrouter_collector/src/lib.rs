//! `openrouter_collector`: daily spend and tokens per model and endpoint from
//! OpenRouter's activity API (`GET /api/v1/activity`, a management key). The
//! API keeps only the last 30 completed UTC days, so the nightly cadence is
//! what keeps the history; older days are reported unavailable (not asked
//! for again).
//! Built only on the billing record contract: no file of the host knows it.

use chrono::{Days, NaiveDate, Utc};
use collector_kit::{
    encode, fetch_all, finish, number_text, parse_page, run_collector, CostPayload, DayRange,
    PageRows, ProviderPayload, Query, UsagePayload,
};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};
use serde::Deserialize;

/// The production API; `OPENROUTER_BASE_URL` overrides it.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// How many completed UTC days the activity API keeps.
pub const RETENTION_DAYS: u64 = 30;

fn manifest() -> Manifest {
    Manifest::new("openrouter_collector", env!("CARGO_PKG_VERSION"))
        .description("OpenRouter daily spend and tokens per model (activity API, last 30 days)")
        .secrets(["OPENROUTER_MANAGEMENT_KEY", "OPENROUTER_PROVISIONING_KEY"])
        .requires_one_of(["OPENROUTER_MANAGEMENT_KEY", "OPENROUTER_PROVISIONING_KEY"])
        .settings(["OPENROUTER_BASE_URL", "OPENROUTER_ACCOUNT"])
        .hosts(["openrouter.ai"])
        .daily(true)
        .setup("create a management key at openrouter.ai, Settings > Management keys (an inference key cannot read activity)")
        .providers(["openrouter"])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    run_collector(collect(ctx, &req))
}

plugin_api::export_plugin! { manifest: manifest, run: run }

fn collect(ctx: &PluginCtx<'_>, req: &RunRequest) -> Result<PluginResult, String> {
    let range = DayRange::from_request(req)?;
    let key = ctx
        .secret("OPENROUTER_MANAGEMENT_KEY")
        .or_else(|| ctx.secret("OPENROUTER_PROVISIONING_KEY"))
        .ok_or("no key: set OPENROUTER_MANAGEMENT_KEY (a management key, sk-or-v1-…)")?;
    let base =
        req.settings.get("OPENROUTER_BASE_URL").map(String::as_str).unwrap_or(DEFAULT_BASE_URL);
    let account = collector_kit::account(req, "OPENROUTER_ACCOUNT");
    // The host's day (it may be pinned), else the clock's.
    let today = req
        .today
        .as_deref()
        .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        .unwrap_or_else(|| Utc::now().date_naive());
    let queries = plan(base, &key, range, today);
    let mut fetched = fetch_all(ctx, &queries, |query, body| {
        Ok(parse_activity(body, &account, query.days)?.map(Payload::record))
    });
    for day in range.days().filter(|d| !kept(*d, today)) {
        fetched.unavailable.insert(day, out_of_window(day, today));
    }
    Ok(finish(ctx, &provider(), fetched, range))
}

/// How OpenRouter is named and exported.
pub fn provider() -> ProviderPayload {
    ProviderPayload {
        service_name: Some("OpenRouter API".into()),
        sub_account_type: Some("Workspace".into()),
        ..ProviderPayload::new("openrouter", "OpenRouter")
    }
}

/// Whether the API holds `day` on `today`: one of the last 30 completed days.
pub fn kept(day: NaiveDate, today: NaiveDate) -> bool {
    day < today && day >= today - Days::new(RETENTION_DAYS)
}

fn out_of_window(day: NaiveDate, today: NaiveDate) -> String {
    if day >= today {
        "not a completed UTC day yet".into()
    } else {
        format!("OpenRouter keeps only the last {RETENTION_DAYS} completed UTC days")
    }
}

/// One request per day the API still holds (`date=` selects one day), all at
/// once: a failed day costs that day only.
pub fn plan(base: &str, key: &str, range: DayRange, today: NaiveDate) -> Vec<Query> {
    let base = base.trim_end_matches('/');
    let headers = vec![("Authorization".to_string(), format!("Bearer {key}"))];
    range
        .days()
        .filter(|d| kept(*d, today))
        .map(|day| Query {
            name: format!("activity {day}"),
            url: format!("{base}/activity?date={}&group_by=workspace", encode(&day.to_string())),
            headers: headers.clone(),
            max_pages: 1,
            days: DayRange { from: day, to: day },
        })
        .collect()
}

#[derive(Deserialize)]
struct Item {
    date: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    endpoint_id: Option<String>,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    usage: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    requests: Option<u64>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
    #[serde(default)]
    workspace_id: Option<String>,
}

/// The counters that make up the day's tokens (completion tokens include
/// the reasoning tokens).
pub const TOKEN_METRICS: [&str; 2] = ["prompt_tokens", "completion_tokens"];

/// Parses one activity answer: a cost and a usage payload per item, for the
/// days of `range` only. `usage` (USD) keeps every digit sent; an item sent
/// twice (same day, model, endpoint and workspace) costs its day, as does
/// an item whose `usage` does not read. BYOK cost (`byok_usage_inference`)
/// is paid to the upstream provider, not billed by OpenRouter, and is left
/// out.
pub fn parse_activity(
    body: &str,
    account: &str,
    range: DayRange,
) -> Result<PageRows<Payload>, String> {
    let page = parse_page::<Item>(body).map_err(|e| format!("activity: {e}"))?;
    let mut out = PageRows::default();
    let mut seen = std::collections::BTreeSet::new();
    for item in page.data {
        let day = NaiveDate::parse_from_str(&item.date, "%Y-%m-%d")
            .map_err(|_| format!("activity: item date {:?} is not YYYY-MM-DD", item.date))?;
        if !range.contains(day) {
            continue;
        }
        let key = (day, item.model.clone(), item.endpoint_id.clone(), item.workspace_id.clone());
        if !seen.insert(key) {
            out.bad(day, format!("an activity item of {day} came back twice"));
            continue;
        }
        for p in payloads(item, account, day) {
            out.push(day, p);
        }
    }
    Ok(out)
}

/// A cost or a usage payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The item's spend.
    Cost(CostPayload),
    /// The item's counters.
    Usage(UsagePayload),
}

impl Payload {
    /// As a record of its kind.
    pub fn record(self) -> plugin_api::Record {
        use collector_kit::AsRecord;
        match self {
            Payload::Cost(c) => c.record(),
            Payload::Usage(u) => u.record(),
        }
    }
}

fn payloads(item: Item, account: &str, day: NaiveDate) -> Vec<Result<Payload, String>> {
    let day_text = day.to_string();
    let amount = item
        .usage
        .as_deref()
        .ok_or_else(|| "an activity item without usage".to_string())
        .and_then(|v| number_text(v, "usage"));
    let cost = amount.map(|amount| {
        Payload::Cost(CostPayload {
            project: item.workspace_id.clone(),
            line_item: item.provider_name.clone(),
            model: item.model.clone(),
            cost_type: Some("inference".into()),
            amount,
            ..CostPayload::new("openrouter", account, &day_text)
        })
    });
    let mut usage = UsagePayload::new("openrouter", account, &day_text, "activity");
    usage.model = item.model;
    usage.project = item.workspace_id;
    for (k, v) in [("provider_name", item.provider_name), ("endpoint_id", item.endpoint_id)] {
        if let Some(v) = v {
            usage.dims.insert(k.into(), v);
        }
    }
    for (k, v) in [
        ("requests", item.requests),
        ("prompt_tokens", item.prompt_tokens),
        ("completion_tokens", item.completion_tokens),
        ("reasoning_tokens", item.reasoning_tokens),
    ] {
        if let Some(v) = v {
            usage.metrics.insert(k.into(), v);
        }
    }
    usage.token_metrics = TOKEN_METRICS.iter().map(|m| m.to_string()).collect();
    vec![cost, Ok(Payload::Usage(usage))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn one(day: &str) -> DayRange {
        DayRange { from: d(day), to: d(day) }
    }

    fn costs(page: &PageRows<Payload>) -> Vec<&CostPayload> {
        page.rows
            .iter()
            .filter_map(|(_, p)| match p {
                Payload::Cost(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn tokens(page: &PageRows<Payload>) -> u64 {
        page.rows
            .iter()
            .filter_map(|(_, p)| match p {
                Payload::Usage(u) => Some(u.tokens()),
                _ => None,
            })
            .sum()
    }

    #[test]
    fn the_documented_example_gives_its_exact_day() {
        let body = include_str!("../tests/fixtures/openrouter_activity_docs_example.json");
        let page = parse_activity(body, "default", one("2025-08-24")).unwrap();
        assert!(page.bad.is_empty());
        let c = costs(&page);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].amount.as_str(), c[0].unit.as_str()), ("0.015", "major"));
        assert_eq!(c[0].model.as_deref(), Some("openai/gpt-4.1"));
        assert_eq!(c[0].line_item.as_deref(), Some("OpenAI"));
        // Prompt and completion; reasoning is inside completion; BYOK is not billed here.
        assert_eq!(tokens(&page), 175);
    }

    fn item(date: &str, endpoint: &str, usage: &str) -> String {
        format!(
            r#"{{"date":"{date}","model":"m/x","model_permaslug":"m/x-1","endpoint_id":"{endpoint}",
               "provider_name":"P","usage":{usage},"byok_usage_inference":0,"requests":1,
               "prompt_tokens":10,"completion_tokens":5,"reasoning_tokens":0}}"#
        )
    }

    #[test]
    fn float_residues_keep_every_digit() {
        let body = format!(
            r#"{{"data":[{},{}]}}"#,
            item("2025-08-24", "a", "5.551115123125783e-17"),
            item("2025-08-24", "b", "0.030114000000000002")
        );
        let page = parse_activity(&body, "default", one("2025-08-24")).unwrap();
        let amounts: Vec<&str> = costs(&page).iter().map(|c| c.amount.as_str()).collect();
        assert_eq!(amounts, ["5.551115123125783e-17", "0.030114000000000002"]);
    }

    #[test]
    fn an_item_twice_or_without_usage_costs_its_day_only() {
        let range = DayRange { from: d("2025-08-23"), to: d("2025-08-25") };
        let body = format!(
            r#"{{"data":[{},{},{},{},{}]}}"#,
            item("2025-08-23", "a", "1"),
            item("2025-08-23", "a", "1"),
            item("2025-08-24", "a", "null"),
            item("2025-08-25", "a", "2"),
            item("2025-09-30", "a", "9")
        );
        let page = parse_activity(&body, "default", range).unwrap();
        let bad: Vec<NaiveDate> = page.bad.iter().map(|(d, _)| *d).collect();
        assert_eq!(bad, [d("2025-08-23"), d("2025-08-24")]);
        assert!(page.bad[0].1.contains("twice"), "{:?}", page.bad);
        assert!(page.bad[1].1.contains("without usage"), "{:?}", page.bad);
        // The day outside the range is not kept; 2025-08-25 is whole.
        assert_eq!(page.on(d("2025-08-25")).count(), 2);
        assert_eq!(page.on(d("2025-09-30")).count(), 0);
    }

    #[test]
    fn only_days_the_api_keeps_are_asked_for() {
        let today = d("2025-09-01");
        assert!(kept(d("2025-08-31"), today));
        assert!(kept(d("2025-08-02"), today));
        assert!(!kept(d("2025-08-01"), today));
        assert!(!kept(today, today));
        let range = DayRange { from: d("2025-07-01"), to: d("2025-09-01") };
        let q = plan("http://127.0.0.1:1/api/v1/", "k", range, today);
        assert_eq!(q.len(), 30);
        assert_eq!(
            q[0].url,
            "http://127.0.0.1:1/api/v1/activity?date=2025-08-02&group_by=workspace"
        );
        assert!(out_of_window(d("2025-07-01"), today).contains("last 30"));
    }

    #[test]
    fn errors_quote_openrouter() {
        let body =
            r#"{"error":{"code":403,"message":"Only management keys can perform this operation"}}"#;
        assert_eq!(
            collector_kit::provider_error(403, body),
            "HTTP 403: Only management keys can perform this operation"
        );
    }
}
