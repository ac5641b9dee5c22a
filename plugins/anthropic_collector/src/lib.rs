//! `anthropic_collector`: billed cost (`/v1/organizations/cost_report`, by
//! workspace and description; amounts in cents) and message usage
//! (`/v1/organizations/usage_report/messages`, by model, workspace, API key
//! and service tier) from the Anthropic admin API, one UTC day at a time.
//! HTTP goes through the host; the parsers take text and return payloads.

use chrono::{DateTime, NaiveDate};
use collector_kit::{
    admin_key, encode, fetch_all, finish, number_text, parse_page, run_collector, split_result,
    CostPayload, DayRange, PageRows, Priced, ProviderPayload, Query, UsagePayload,
};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};
use serde::Deserialize;

/// The production API; `ANTHROPIC_BASE_URL` overrides it.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version header every request carries.
pub const API_VERSION: &str = "2023-06-01";
/// Largest page of both reports, in daily buckets.
pub const PAGE_DAYS: u64 = 31;

fn manifest() -> Manifest {
    Manifest::new("anthropic_collector", env!("CARGO_PKG_VERSION"))
        .description("Anthropic billed cost and token usage (admin API)")
        .secrets(["ANTHROPIC_ADMIN_KEY", "ANTHROPIC_API_KEY"])
        .requires_one_of(["ANTHROPIC_ADMIN_KEY", "ANTHROPIC_API_KEY"])
        .settings(["ANTHROPIC_BASE_URL", "ANTHROPIC_ACCOUNT"])
        .hosts(["api.anthropic.com"])
        .daily(true)
        .setup("an organization admin creates an admin key at console.anthropic.com, Settings > Admin keys")
        .providers(["anthropic"])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    run_collector(collect(ctx, &req))
}

plugin_api::export_plugin! { manifest: manifest, run: run }

fn collect(ctx: &PluginCtx<'_>, req: &RunRequest) -> Result<PluginResult, String> {
    let range = DayRange::from_request(req)?;
    let key = admin_key(ctx, "ANTHROPIC_ADMIN_KEY", "ANTHROPIC_API_KEY", "sk-ant-admin…")?;
    let base =
        req.settings.get("ANTHROPIC_BASE_URL").map(String::as_str).unwrap_or(DEFAULT_BASE_URL);
    let account = collector_kit::account(req, "ANTHROPIC_ACCOUNT");
    let queries = plan(base, &key, range);
    let fetched = fetch_all(ctx, &queries, |query, body| {
        Ok(if query.name.starts_with("cost_report") {
            parse_costs(body, &account, query.days)?.records()
        } else {
            parse_usage(body, &account, query.days)?.records()
        })
    });
    Ok(finish(ctx, &provider(), fetched, range))
}

/// How Anthropic is named and exported, and what its cost report leaves out.
pub fn provider() -> ProviderPayload {
    ProviderPayload {
        service_name: Some("Claude API".into()),
        sub_account_type: Some("Workspace".into()),
        not_in_cost_note: Some(
            "Anthropic's cost report does not include Priority Tier costs".into(),
        ),
        ..ProviderPayload::new("anthropic", "Anthropic")
    }
}

/// The usage counters that make up the day's tokens: uncached input, both
/// cache writes, cache reads and output.
pub const TOKEN_METRICS: [&str; 5] = [
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
];

/// Whether usage on `tier` is left out of the cost report: "Priority Tier
/// costs are not included in the cost endpoint" (the usage report has them).
pub fn tier_not_in_cost(tier: Option<&str>) -> bool {
    tier.is_some_and(|t| t.starts_with("priority"))
}

fn rfc3339(day: NaiveDate) -> String {
    format!("{day}T00:00:00Z")
}

/// The requests for a range: one per 31-day chunk per report.
pub fn plan(base: &str, key: &str, range: DayRange) -> Vec<Query> {
    let base = base.trim_end_matches('/');
    let headers = vec![
        ("x-api-key".to_string(), key.to_string()),
        ("anthropic-version".to_string(), API_VERSION.to_string()),
    ];
    let reports: [(&str, &str, &[&str]); 2] = [
        ("cost_report", "cost_report", &["workspace_id", "description"]),
        (
            "usage_report/messages",
            "usage_report/messages",
            &["model", "workspace_id", "api_key_id", "service_tier"],
        ),
    ];
    let mut queries = Vec::new();
    for (name, path, group_by) in reports {
        let groups: String = group_by.iter().map(|g| format!("&group_by[]={g}")).collect();
        for c in range.chunks(PAGE_DAYS) {
            let end = c.to.succ_opt().unwrap_or(c.to);
            queries.push(Query {
                name: format!("{name} {}..{}", c.from, c.to),
                url: format!(
                    "{base}/v1/organizations/{path}?starting_at={}&ending_at={}&bucket_width=1d&limit={PAGE_DAYS}{groups}",
                    encode(&rfc3339(c.from)),
                    encode(&rfc3339(end))
                ),
                headers: headers.clone(),
                max_pages: c.len() as usize + 2,
                days: c,
            });
        }
    }
    queries
}

#[derive(Deserialize)]
struct Bucket<T> {
    starting_at: String,
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

#[derive(Deserialize)]
struct CostItem {
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    amount: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cost_type: Option<String>,
    #[serde(default)]
    context_window: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    service_tier: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

fn bucket_day(starting_at: &str) -> Result<NaiveDate, String> {
    DateTime::parse_from_rfc3339(starting_at)
        .map(|t| t.to_utc().date_naive())
        .map_err(|_| format!("bucket starting_at {starting_at:?} is not an RFC 3339 time"))
}

/// Parses a cost report page; amounts are cents, kept as sent. A row whose
/// amount does not read costs its day.
pub fn parse_costs(
    body: &str,
    account: &str,
    range: DayRange,
) -> Result<PageRows<CostPayload>, String> {
    let page = parse_page::<Bucket<CostItem>>(body).map_err(|e| format!("cost_report: {e}"))?;
    let mut out = PageRows::default();
    for bucket in page.data {
        let day = bucket_day(&bucket.starting_at)?;
        out.add_bucket(range, day, bucket.results.into_iter().map(|r| cost_row(r, account, day)));
    }
    Ok(out)
}

fn cost_row(r: CostItem, account: &str, day: NaiveDate) -> Result<CostPayload, String> {
    let amount = r.amount.ok_or("a cost row without an amount")?;
    Ok(CostPayload {
        project: r.workspace_id,
        line_item: r.description,
        model: r.model,
        token_type: r.token_type,
        cost_type: r.cost_type,
        service_tier: r.service_tier,
        context_window: r.context_window,
        amount: number_text(&amount, "amount")?,
        unit: "cents".into(),
        currency: r.currency.unwrap_or_else(|| "USD".into()),
        ..CostPayload::new("anthropic", account, &day.to_string())
    })
}

/// Parses a messages usage page. A null workspace is the default workspace
/// and is kept; nested counters become `cache_creation.…` metrics; usage on
/// a tier the cost report leaves out is flagged `not_in_cost`.
pub fn parse_usage(
    body: &str,
    account: &str,
    range: DayRange,
) -> Result<PageRows<UsagePayload>, String> {
    type Obj = serde_json::Map<String, serde_json::Value>;
    let page =
        parse_page::<Bucket<Obj>>(body).map_err(|e| format!("usage_report/messages: {e}"))?;
    let mut out = PageRows::default();
    for bucket in page.data {
        let day = bucket_day(&bucket.starting_at)?;
        out.add_bucket(range, day, bucket.results.into_iter().map(|r| usage_row(&r, account, day)));
    }
    Ok(out)
}

fn usage_row(
    r: &serde_json::Map<String, serde_json::Value>,
    account: &str,
    day: NaiveDate,
) -> Result<UsagePayload, String> {
    let (mut dims, metrics) = split_result(r).map_err(|e| format!("usage_report/messages: {e}"))?;
    // Requests past 200k input are billed at the long-context rates.
    let long_context = dims.get("context_window").is_some_and(|c| c == "200k-1M");
    let mut take = |k: &str| dims.remove(k);
    let service_tier = take("service_tier");
    let m = |k: &str| metrics.get(k).copied().unwrap_or(0);
    let priced = Priced {
        input: m("uncached_input_tokens"),
        output: m("output_tokens"),
        cache_read: m("cache_read_input_tokens"),
        cache_write_5m: m("cache_creation.ephemeral_5m_input_tokens"),
        cache_write_1h: m("cache_creation.ephemeral_1h_input_tokens"),
        web_searches: m("server_tool_use.web_search_requests"),
        ..Priced::default()
    };
    Ok(UsagePayload {
        priced: Some(priced),
        long_context,
        model: take("model"),
        project: take("workspace_id"),
        api_key: take("api_key_id"),
        not_in_cost: tier_not_in_cost(service_tier.as_deref()),
        service_tier,
        dims: std::mem::take(&mut dims),
        metrics,
        token_metrics: TOKEN_METRICS.iter().map(|m| m.to_string()).collect(),
        ..UsagePayload::new("anthropic", account, &day.to_string(), "messages")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(body: &str, account: &str, range: DayRange) -> Result<Vec<CostPayload>, String> {
        parse_costs(body, account, range)?.whole()
    }

    fn usage(body: &str, account: &str, range: DayRange) -> Result<Vec<UsagePayload>, String> {
        parse_usage(body, account, range)?.whole()
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    fn aug() -> DayRange {
        DayRange { from: "2025-08-01".parse().unwrap(), to: "2025-08-04".parse().unwrap() }
    }

    #[test]
    fn cost_report_amounts_are_cents_text() {
        let rows = costs(&fixture("anthropic_cost_report_page1.json"), "default", aug()).unwrap();
        assert_eq!(rows[0].amount, "123.7035");
        assert_eq!(rows[0].unit, "cents");
        assert!(rows
            .iter()
            .any(|r| r.cost_type.as_deref() == Some("web_search") && r.model.is_none()));
        let page2 = costs(&fixture("anthropic_cost_report_page2.json"), "default", aug()).unwrap();
        assert!(page2.is_empty(), "an empty bucket is a zero day, not an error");
        let one =
            DayRange { from: "2025-08-01".parse().unwrap(), to: "2025-08-01".parse().unwrap() };
        let docs = costs(&fixture("anthropic_cost_report.json"), "default", one).unwrap();
        assert_eq!(docs[0].amount, "123.78912");
    }

    #[test]
    fn usage_keeps_default_workspace_and_cache_writes() {
        let rows =
            usage(&fixture("anthropic_usage_messages_page1.json"), "default", aug()).unwrap();
        assert!(rows.iter().any(|r| r.project.is_none()), "null workspace kept");
        assert!(rows
            .iter()
            .any(|r| r.metrics.contains_key("cache_creation.ephemeral_5m_input_tokens")));
        assert!(rows.iter().all(|r| r.metrics.contains_key("uncached_input_tokens")));
    }

    #[test]
    fn errors_carry_the_provider_message() {
        let msg = collector_kit::provider_error(401, &fixture("anthropic_error_401.json"));
        assert!(msg.starts_with("HTTP 401 (authentication_error): "), "{msg}");
    }

    #[test]
    fn plan_sends_rfc3339_and_brackets() {
        let year =
            DayRange { from: "2025-01-01".parse().unwrap(), to: "2025-12-31".parse().unwrap() };
        let q = plan("http://127.0.0.1:1", "k", year);
        assert_eq!(q.len(), 2 * 12);
        assert!(q[0]
            .url
            .contains("starting_at=2025-01-01T00%3A00%3A00Z&ending_at=2025-02-01T00%3A00%3A00Z"));
        assert!(q[0].url.contains("&group_by[]=workspace_id&group_by[]=description"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn cents_text_is_kept_as_sent(int in "[0-9]{1,9}", frac in "[0-9]{0,9}") {
                let text = if frac.is_empty() { int } else { format!("{int}.{frac}") };
                let body = format!(
                    r#"{{"data":[{{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z",
                    "results":[{{"currency":"USD","amount":"{text}","workspace_id":null,"description":null}}]}}],
                    "has_more":false,"next_page":null}}"#
                );
                let rows = costs(&body, "a", aug()).unwrap();
                prop_assert_eq!(&rows[0].amount, &text);
            }

            #[test]
            fn any_body_is_parsed_or_rejected_never_a_panic(text in "\\PC{0,200}") {
                let _ = parse_costs(&text, "a", aug());
                let _ = parse_usage(&text, "a", aug());
            }
        }
    }
}
