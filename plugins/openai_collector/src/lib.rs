//! `openai_collector`: billed cost (`/organization/costs`, by line item and
//! project) and usage (`/organization/usage/*`, by model, project and API
//! key) from the OpenAI admin API, one UTC day at a time. HTTP goes through
//! the host; the parsers below take response text and return payloads.

use chrono::{DateTime, NaiveDate};
use collector_kit::{
    admin_key, fetch_all, finish, number_text, parse_page, run_collector, split_result,
    CostPayload, DayRange, PageRows, Priced, ProviderPayload, Query, UsagePayload,
};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};
use serde::Deserialize;

/// The production API; `OPENAI_BASE_URL` overrides it (the simulator in tests).
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Largest page of the costs endpoint, in daily buckets.
pub const COSTS_PAGE_DAYS: u64 = 180;
/// Largest page of the usage endpoints with `bucket_width=1d`.
pub const USAGE_PAGE_DAYS: u64 = 31;

/// Usage endpoints and their `group_by` values.
pub const USAGE_ENDPOINTS: &[(&str, &[&str])] = &[
    ("completions", &["model", "project_id", "api_key_id"]),
    ("embeddings", &["model", "project_id", "api_key_id"]),
    ("moderations", &["model", "project_id", "api_key_id"]),
    ("images", &["model", "project_id", "api_key_id"]),
    ("audio_speeches", &["model", "project_id", "api_key_id"]),
    ("audio_transcriptions", &["model", "project_id", "api_key_id"]),
    ("vector_stores", &["project_id"]),
    ("code_interpreter_sessions", &["project_id"]),
    ("file_search_calls", &["project_id", "api_key_id"]),
    ("web_search_calls", &["model", "project_id", "api_key_id"]),
];

fn manifest() -> Manifest {
    Manifest::new("openai_collector", env!("CARGO_PKG_VERSION"))
        .description("OpenAI billed cost and token usage (admin API)")
        .secrets(["OPENAI_ADMIN_KEY", "OPENAI_API_KEY"])
        .requires_one_of(["OPENAI_ADMIN_KEY", "OPENAI_API_KEY"])
        .settings(["OPENAI_BASE_URL", "OPENAI_ACCOUNT"])
        .hosts(["api.openai.com"])
        .daily(true)
        .setup("an organization owner creates an admin key at platform.openai.com, Settings > Organization > Admin keys")
        .providers(["openai"])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    run_collector(collect(ctx, &req))
}

plugin_api::export_plugin! { manifest: manifest, run: run }

fn collect(ctx: &PluginCtx<'_>, req: &RunRequest) -> Result<PluginResult, String> {
    let range = DayRange::from_request(req)?;
    let key = admin_key(ctx, "OPENAI_ADMIN_KEY", "OPENAI_API_KEY", "sk-admin-…")?;
    let base = req.settings.get("OPENAI_BASE_URL").map(String::as_str).unwrap_or(DEFAULT_BASE_URL);
    let account = collector_kit::account(req, "OPENAI_ACCOUNT");
    let queries = plan(base, &key, range);
    let fetched = fetch_all(ctx, &queries, |query, body| {
        let source = query.name.split(' ').next().unwrap_or_default();
        Ok(if source == "costs" {
            parse_costs(body, &account, query.days)?.records()
        } else {
            parse_usage(source, body, &account, query.days)?.records()
        })
    });
    Ok(finish(ctx, &provider(), fetched, range))
}

/// How OpenAI is named and exported.
pub fn provider() -> ProviderPayload {
    ProviderPayload {
        service_name: Some("OpenAI API".into()),
        sub_account_type: Some("Project".into()),
        ..ProviderPayload::new("openai", "OpenAI")
    }
}

/// The counters of a usage endpoint that make up the day's tokens: input
/// (which includes cached input) and output, for the token endpoints.
pub fn token_metrics(source: &str) -> &'static [&'static str] {
    match source {
        "completions" => &["input_tokens", "output_tokens"],
        "embeddings" | "moderations" => &["input_tokens"],
        _ => &[],
    }
}

/// The counters as prices see them: OpenAI's `input_tokens` includes cached
/// input and cache writes, which are priced apart. Moderations are free and
/// images are not priced per token: neither is sent.
pub fn priced(source: &str, metrics: &std::collections::BTreeMap<String, u64>) -> Option<Priced> {
    let m = |k: &str| metrics.get(k).copied().unwrap_or(0);
    match source {
        "completions" => {
            let (cached, written) = (m("input_cached_tokens"), m("input_cache_write_tokens"));
            Some(Priced {
                input: m("input_tokens").saturating_sub(cached).saturating_sub(written),
                output: m("output_tokens"),
                cache_read: cached,
                cache_write_5m: written,
                ..Priced::default()
            })
        }
        "embeddings" => Some(Priced { input: m("input_tokens"), ..Priced::default() }),
        _ => None,
    }
}

fn unix(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default()
}

/// The requests for a range: one per page-sized chunk per endpoint, so no
/// cursor is needed and every request can run at once.
pub fn plan(base: &str, key: &str, range: DayRange) -> Vec<Query> {
    let base = base.trim_end_matches('/');
    let headers = vec![("Authorization".to_string(), format!("Bearer {key}"))];
    let mut queries = Vec::new();
    let window = |c: DayRange| {
        format!("start_time={}&end_time={}&bucket_width=1d", unix(c.from), unix(c.to) + 86_400)
    };
    for c in range.chunks(COSTS_PAGE_DAYS) {
        queries.push(Query {
            name: format!("costs {}..{}", c.from, c.to),
            url: format!(
                "{base}/organization/costs?{}&limit={COSTS_PAGE_DAYS}&group_by=line_item&group_by=project_id",
                window(c)
            ),
            headers: headers.clone(),
            max_pages: c.len() as usize + 2,
            days: c,
        });
    }
    for (endpoint, group_by) in USAGE_ENDPOINTS {
        let groups: String = group_by.iter().map(|g| format!("&group_by={g}")).collect();
        for c in range.chunks(USAGE_PAGE_DAYS) {
            queries.push(Query {
                name: format!("{endpoint} {}..{}", c.from, c.to),
                url: format!(
                    "{base}/organization/usage/{endpoint}?{}&limit={USAGE_PAGE_DAYS}{groups}",
                    window(c)
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
    start_time: i64,
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

#[derive(Deserialize)]
struct CostResult {
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default)]
    line_item: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default)]
    quantity: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    quantity_unit: Option<String>,
}

#[derive(Deserialize)]
struct Amount {
    #[serde(default)]
    value: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    currency: Option<String>,
}

fn bucket_day(start_time: i64) -> Result<NaiveDate, String> {
    DateTime::from_timestamp(start_time, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| format!("bucket start_time {start_time} is not a time"))
}

/// Parses a `/organization/costs` page. Amounts keep every digit sent,
/// whether `value` was a JSON number or a string; a row whose amount or
/// quantity does not read costs its day.
pub fn parse_costs(
    body: &str,
    account: &str,
    range: DayRange,
) -> Result<PageRows<CostPayload>, String> {
    let page = parse_page::<Bucket<CostResult>>(body).map_err(|e| format!("costs: {e}"))?;
    let mut out = PageRows::default();
    for bucket in page.data {
        let day = bucket_day(bucket.start_time)?;
        out.add_bucket(range, day, bucket.results.into_iter().map(|r| cost_row(r, account, day)));
    }
    Ok(out)
}

fn cost_row(r: CostResult, account: &str, day: NaiveDate) -> Result<CostPayload, String> {
    let amount = r.amount.ok_or("a cost row without an amount")?;
    let value = amount.value.ok_or("a cost row whose amount has no value")?;
    let quantity = r.quantity.as_deref().map(|q| number_text(q, "quantity")).transpose()?;
    let (model, token_type) = line_item_parts(r.line_item.as_deref());
    Ok(CostPayload {
        project: r.project_id,
        api_key: r.api_key_id,
        line_item: r.line_item,
        model,
        token_type,
        amount: number_text(&value, "amount.value")?,
        currency: amount.currency.unwrap_or_else(|| "usd".into()),
        quantity,
        quantity_unit: r.quantity_unit,
        ..CostPayload::new("openai", account, &day.to_string())
    })
}

/// OpenAI's cost line items read `<model>, <token type>` (e.g.
/// `gpt-4o-2024-08-06, cached input`); the costs carry no model field, so
/// the model is taken from there, and a summary by model puts the cost and
/// the tokens of a model on one row. Anything else keeps its line item only.
fn line_item_parts(line_item: Option<&str>) -> (Option<String>, Option<String>) {
    match line_item.and_then(|l| l.split_once(", ")) {
        Some((model, kind)) if !model.is_empty() && !model.contains(' ') => {
            (Some(model.to_string()), Some(kind.to_string()))
        }
        _ => (None, None),
    }
}

/// Parses a `/organization/usage/{source}` page: every whole-number field is
/// a counter, every string or boolean a dimension. A row with a counter that
/// is not a whole number costs its day.
pub fn parse_usage(
    source: &str,
    body: &str,
    account: &str,
    range: DayRange,
) -> Result<PageRows<UsagePayload>, String> {
    type Obj = serde_json::Map<String, serde_json::Value>;
    let page = parse_page::<Bucket<Obj>>(body).map_err(|e| format!("{source}: {e}"))?;
    let mut out = PageRows::default();
    for bucket in page.data {
        let day = bucket_day(bucket.start_time)?;
        out.add_bucket(
            range,
            day,
            bucket.results.into_iter().map(|r| usage_row(source, &r, account, day)),
        );
    }
    Ok(out)
}

fn usage_row(
    source: &str,
    r: &serde_json::Map<String, serde_json::Value>,
    account: &str,
    day: NaiveDate,
) -> Result<UsagePayload, String> {
    let (mut dims, mut metrics) = split_result(r).map_err(|e| format!("{source}: {e}"))?;
    dims.remove("object");
    // The first published spec called this counter `sessions`.
    if let Some(v) = metrics.remove("sessions") {
        metrics.entry("num_sessions".into()).or_insert(v);
    }
    let mut take = |k: &str| dims.remove(k);
    Ok(UsagePayload {
        priced: priced(source, &metrics),
        model: take("model"),
        project: take("project_id"),
        api_key: take("api_key_id"),
        user: take("user_id"),
        service_tier: take("service_tier"),
        dims: std::mem::take(&mut dims),
        metrics,
        token_metrics: token_metrics(source).iter().map(|m| m.to_string()).collect(),
        ..UsagePayload::new("openai", account, &day.to_string(), source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn costs(body: &str, account: &str, range: DayRange) -> Result<Vec<CostPayload>, String> {
        parse_costs(body, account, range)?.whole()
    }

    fn usage(
        source: &str,
        body: &str,
        account: &str,
        range: DayRange,
    ) -> Result<Vec<UsagePayload>, String> {
        parse_usage(source, body, account, range)?.whole()
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    /// The day's token total as the README defines it.
    fn tokens_by_day(usage: &[UsagePayload]) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for u in usage {
            let counted: u64 = match u.source.as_str() {
                "completions" => {
                    u.metrics.get("input_tokens").copied().unwrap_or(0)
                        + u.metrics.get("output_tokens").copied().unwrap_or(0)
                }
                "embeddings" | "moderations" => u.metrics.get("input_tokens").copied().unwrap_or(0),
                _ => 0,
            };
            *out.entry(u.day.clone()).or_insert(0) += counted;
        }
        out
    }

    fn aug() -> DayRange {
        DayRange { from: "2025-08-01".parse().unwrap(), to: "2025-08-04".parse().unwrap() }
    }

    #[test]
    fn grouped_costs_keep_exact_amounts_and_null_projects() {
        let rows = costs(&fixture("openai_costs_grouped_page1.json"), "default", aug()).unwrap();
        assert!(!rows.is_empty());
        assert_eq!(rows[0].amount, "0.1846287");
        assert_eq!(rows[0].day, "2025-08-01");
        assert_eq!(rows[0].quantity.as_deref(), Some("1230858"));
        let page2 = costs(&fixture("openai_costs_grouped_page2.json"), "default", aug()).unwrap();
        assert!(page2.iter().any(|r| r.quantity_unit.as_deref() == Some("gibibyte_hours")));
    }

    #[test]
    fn amount_as_string_is_accepted() {
        let body = r#"{"object":"page","data":[{"object":"bucket","start_time":1754006400,"end_time":1754092800,
            "results":[{"object":"organization.costs.result","amount":{"value":"12.50","currency":"usd"},
            "line_item":"Text tokens","project_id":null,"organization_id":"org_x"}]}],"has_more":false,"next_page":null}"#;
        let rows = costs(body, "default", aug()).unwrap();
        assert_eq!(rows[0].amount, "12.50");
        assert_eq!(rows[0].project, None);
    }

    #[test]
    fn spec_example_costs_parse() {
        let range =
            DayRange { from: "2024-11-01".parse().unwrap(), to: "2024-11-01".parse().unwrap() };
        let rows = costs(&fixture("openai_costs.json"), "default", range).unwrap();
        assert_eq!(rows[0].amount, "0.06");
    }

    #[test]
    fn usage_pages_cover_every_endpoint_shape() {
        let c1 = usage("completions", &fixture("openai_usage_completions_page1.json"), "a", aug())
            .unwrap();
        let c2 = usage("completions", &fixture("openai_usage_completions_page2.json"), "a", aug())
            .unwrap();
        assert_eq!(c1[0].model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(c1[0].metrics["input_tokens"], 1_843_210);
        assert!(c2.iter().all(|u| u.day != "2025-08-03"), "empty bucket yields no rows");
        let all = [c1, c2].concat();
        assert!(tokens_by_day(&all)["2025-08-01"] > 0);
        for (source, file) in [
            ("embeddings", "openai_usage_embeddings.json"),
            ("moderations", "openai_usage_moderations.json"),
            ("images", "openai_usage_images.json"),
            ("audio_speeches", "openai_usage_audio_speeches.json"),
            ("audio_transcriptions", "openai_usage_audio_transcriptions.json"),
            ("vector_stores", "openai_usage_vector_stores.json"),
            ("code_interpreter_sessions", "openai_usage_code_interpreter_sessions.json"),
            ("file_search_calls", "openai_usage_file_search_calls.json"),
            ("web_search_calls", "openai_usage_web_search_calls.json"),
        ] {
            let body = fixture(file);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let start = v["data"][0]["start_time"].as_i64().unwrap();
            let day = bucket_day(start).unwrap();
            let rows = usage(source, &body, "a", DayRange { from: day, to: day }).unwrap();
            assert!(!rows.is_empty(), "{source}");
            assert!(!rows[0].metrics.is_empty(), "{source}");
        }
    }

    #[test]
    fn plan_uses_the_fewest_requests() {
        let year =
            DayRange { from: "2025-01-01".parse().unwrap(), to: "2025-12-31".parse().unwrap() };
        let q = plan("http://127.0.0.1:1/v1/", "sk-admin-x", year);
        assert_eq!(q.len(), 3 + 10 * 12);
        assert!(q[0]
            .url
            .starts_with("http://127.0.0.1:1/v1/organization/costs?start_time=1735689600&"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn body(value: &str) -> String {
            format!(
                r#"{{"object":"page","data":[{{"object":"bucket","start_time":1754006400,"end_time":1754092800,
                "results":[{{"object":"organization.costs.result","amount":{{"value":{value},"currency":"usd"}},
                "line_item":"x","project_id":null}}]}}],"has_more":false,"next_page":null}}"#
            )
        }

        proptest! {
            #[test]
            fn amounts_keep_every_digit_as_number_or_string(int in "[1-9][0-9]{0,8}", frac in "[0-9]{1,17}", exp in "([eE][+-]?[0-9]{1,3})?", quoted in any::<bool>()) {
                let text = format!("{int}.{frac}{exp}");
                let value = if quoted { format!("\"{text}\"") } else { text.clone() };
                let rows = costs(&body(&value), "a", aug()).unwrap();
                prop_assert_eq!(&rows[0].amount, &text);
            }

            #[test]
            fn any_body_is_parsed_or_rejected_never_a_panic(text in "\\PC{0,200}") {
                let _ = parse_costs(&text, "a", aug());
                let _ = parse_usage("completions", &text, "a", aug());
            }

            #[test]
            fn mangled_real_pages_never_panic(cut in 0usize..3000, byte in any::<u8>()) {
                let mut page = fixture("openai_costs_grouped_page1.json").into_bytes();
                if cut < page.len() {
                    page[cut] = byte;
                    page.truncate(cut + 1 + (cut % 7) * 100);
                }
                let text = String::from_utf8_lossy(&page);
                let _ = parse_costs(&text, "a", aug());
            }
        }
    }
}
