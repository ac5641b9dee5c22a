//! The simulator's data: deterministic rows for any UTC day, and the exact
//! totals a collector must arrive at. Rows come at the finest grain; the
//! server groups them by whatever `group_by` asked for.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// A small deterministic hash (splitmix64) so every day's data is stable.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed(day: NaiveDate, salt: &str) -> u64 {
    let mut h = day.num_days_from_ce() as u64;
    for b in salt.bytes() {
        h = mix(h ^ u64::from(b));
    }
    mix(h)
}

/// Days with no traffic at all (empty buckets), one in seven.
pub fn is_quiet(day: NaiveDate) -> bool {
    day.num_days_from_ce() % 7 == 3
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("a literal decimal")
}

/// (model, $ per 1M input, $ per 1M output, $ per 1M cached input)
const OPENAI_MODELS: &[(&str, &str, &str, &str)] = &[
    ("gpt-4o-mini-2024-07-18", "0.15", "0.60", "0.075"),
    ("gpt-4.1-2025-04-14", "2", "8", "0.50"),
];
const OPENAI_PROJECTS: &[Option<&str>] = &[Some("proj_alpha"), None];

/// (model, $/M uncached input, $/M output, $/M cache read, $/M 5m write, $/M 1h write)
const ANTHROPIC_MODELS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("claude-sonnet-4-20250514", "3", "15", "0.30", "3.75", "6"),
    ("claude-3-5-haiku-20241022", "0.80", "4", "0.08", "1", "1.6"),
];
const ANTHROPIC_WORKSPACES: &[Option<&str>] = &[Some("wrkspc_01Sim"), None];

/// An exact revision applied to a day: extra tokens and extra dollars on its
/// first row, so a re-pull sees a changed value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revision(pub u32);

/// One day of OpenAI completions usage rows (finest grain).
pub fn openai_completions(day: NaiveDate, rev: Revision) -> Vec<Map<String, Value>> {
    if is_quiet(day) {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for (mi, (model, ..)) in OPENAI_MODELS.iter().enumerate() {
        for (pi, project) in OPENAI_PROJECTS.iter().enumerate() {
            let s = seed(day, &format!("oai{mi}{pi}"));
            let mut input = 10_000 + s % 2_000_000;
            if mi == 0 && pi == 0 {
                input += u64::from(rev.0) * 1000;
            }
            let cached = input / 3;
            let output = 1_000 + (s >> 20) % 400_000;
            let mut row = Map::new();
            row.insert("object".into(), json!("organization.usage.completions.result"));
            row.insert("input_tokens".into(), json!(input));
            row.insert("input_cached_tokens".into(), json!(cached));
            row.insert("input_cache_write_tokens".into(), json!(0));
            row.insert("input_uncached_tokens".into(), json!(input - cached));
            row.insert("output_tokens".into(), json!(output));
            row.insert("num_model_requests".into(), json!(1 + (s >> 40) % 3000));
            row.insert("project_id".into(), json!(project));
            row.insert("user_id".into(), Value::Null);
            row.insert("api_key_id".into(), json!("key_sim_1"));
            row.insert("model".into(), json!(model));
            row.insert("batch".into(), Value::Null);
            row.insert("service_tier".into(), Value::Null);
            rows.push(row);
        }
    }
    rows
}

/// One day of OpenAI embeddings usage rows.
pub fn openai_embeddings(day: NaiveDate) -> Vec<Map<String, Value>> {
    if is_quiet(day) {
        return Vec::new();
    }
    let s = seed(day, "emb");
    let mut row = Map::new();
    row.insert("object".into(), json!("organization.usage.embeddings.result"));
    row.insert("input_tokens".into(), json!(s % 500_000));
    row.insert("num_model_requests".into(), json!(1 + s % 90));
    row.insert("project_id".into(), json!("proj_alpha"));
    row.insert("user_id".into(), Value::Null);
    row.insert("api_key_id".into(), json!("key_sim_1"));
    row.insert("model".into(), json!("text-embedding-3-small"));
    vec![row]
}

/// One day of OpenAI cost rows: (line_item, project, amount).
pub fn openai_costs(
    day: NaiveDate,
    rev: Revision,
) -> Vec<(String, Option<&'static str>, Decimal, u64)> {
    let mut out = Vec::new();
    let million = Decimal::from(1_000_000u32);
    let completions = openai_completions(day, rev);
    let mut i = 0;
    for (model, p_in, p_out, p_cached) in OPENAI_MODELS {
        for project in OPENAI_PROJECTS {
            let Some(row) = completions.get(i) else { break };
            i += 1;
            let n = |k: &str| row[k].as_u64().unwrap_or(0);
            let uncached = n("input_uncached_tokens");
            let cached = n("input_cached_tokens");
            let output = n("output_tokens");
            for (what, tokens, price) in [
                ("input", uncached, p_in),
                ("cached input", cached, p_cached),
                ("output", output, p_out),
            ] {
                let amount = Decimal::from(tokens) * dec(price) / million;
                out.push((format!("{model}, {what}"), *project, amount, tokens));
            }
        }
    }
    for row in openai_embeddings(day) {
        let tokens = row["input_tokens"].as_u64().unwrap_or(0);
        let amount = Decimal::from(tokens) * dec("0.02") / million;
        out.push(("text-embedding-3-small, input".into(), Some("proj_alpha"), amount, tokens));
    }
    if rev.0 > 0 {
        if let Some(first) = out.first_mut() {
            first.2 += Decimal::from(rev.0) * dec("0.01");
        }
    }
    out
}

/// One day of Anthropic messages usage rows (finest grain).
pub fn anthropic_usage(day: NaiveDate, rev: Revision) -> Vec<Map<String, Value>> {
    if is_quiet(day) {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for (mi, (model, ..)) in ANTHROPIC_MODELS.iter().enumerate() {
        for (wi, ws) in ANTHROPIC_WORKSPACES.iter().enumerate() {
            let s = seed(day, &format!("ant{mi}{wi}"));
            let mut uncached = 5_000 + s % 900_000;
            if mi == 0 && wi == 0 {
                uncached += u64::from(rev.0) * 1000;
            }
            let row = json!({
                "uncached_input_tokens": uncached,
                "cache_creation": {
                    "ephemeral_1h_input_tokens": (s >> 8) % 20_000,
                    "ephemeral_5m_input_tokens": (s >> 16) % 50_000,
                },
                "cache_read_input_tokens": (s >> 24) % 300_000,
                "output_tokens": 500 + (s >> 32) % 150_000,
                "server_tool_use": { "web_search_requests": (s >> 44) % 20 },
                "api_key_id": "apikey_sim_1",
                "workspace_id": ws,
                "model": model,
                "service_tier": "standard",
                "context_window": "0-200k",
            });
            if let Value::Object(m) = row {
                rows.push(m);
            }
        }
    }
    if let Some(row) = anthropic_priority(day) {
        rows.push(row);
    }
    rows
}

/// Priority Tier usage, on one day in five: in the usage report but, as
/// Anthropic documents, never in the cost report.
pub fn anthropic_priority(day: NaiveDate) -> Option<Map<String, Value>> {
    if is_quiet(day) || day.ordinal() % 5 != 0 {
        return None;
    }
    let s = seed(day, "priority");
    let row = json!({
        "uncached_input_tokens": 1_000 + s % 90_000,
        "cache_creation": { "ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0 },
        "cache_read_input_tokens": 0,
        "output_tokens": 100 + (s >> 20) % 9_000,
        "server_tool_use": { "web_search_requests": 0 },
        "api_key_id": "apikey_sim_1",
        "workspace_id": null,
        "model": ANTHROPIC_MODELS[0].0,
        "service_tier": "priority",
        "context_window": "0-200k",
    });
    match row {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Tokens of a day's usage that no billed cost covers (Priority Tier).
pub fn anthropic_priority_tokens(day: NaiveDate) -> u64 {
    anthropic_priority(day).map_or(0, |r| {
        r["uncached_input_tokens"].as_u64().unwrap_or(0) + r["output_tokens"].as_u64().unwrap_or(0)
    })
}

/// One day of Anthropic cost rows: (workspace, description, model, token_type, cost_type, cents).
#[allow(clippy::type_complexity)]
pub fn anthropic_costs(
    day: NaiveDate,
    rev: Revision,
) -> Vec<(
    Option<&'static str>,
    String,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    Decimal,
)> {
    let usage = anthropic_usage(day, rev);
    // cents per token = $ per 1M × 100 / 1M
    let per_token = |price: &str| dec(price) / Decimal::from(10_000u32);
    let mut out = Vec::new();
    let mut i = 0;
    for (model, p_in, p_out, p_read, p_5m, p_1h) in ANTHROPIC_MODELS {
        for ws in ANTHROPIC_WORKSPACES {
            let Some(row) = usage.get(i) else { break };
            i += 1;
            let n = |k: &str| row[k].as_u64().unwrap_or(0);
            let cc = |k: &str| row["cache_creation"][k].as_u64().unwrap_or(0);
            for (label, token_type, tokens, price) in [
                ("Input Tokens", "uncached_input_tokens", n("uncached_input_tokens"), p_in),
                ("Output Tokens", "output_tokens", n("output_tokens"), p_out),
                ("Cache Read", "cache_read_input_tokens", n("cache_read_input_tokens"), p_read),
                (
                    "Cache Write 5m",
                    "cache_creation.ephemeral_5m_input_tokens",
                    cc("ephemeral_5m_input_tokens"),
                    p_5m,
                ),
                (
                    "Cache Write 1h",
                    "cache_creation.ephemeral_1h_input_tokens",
                    cc("ephemeral_1h_input_tokens"),
                    p_1h,
                ),
            ] {
                let cents = Decimal::from(tokens) * per_token(price);
                out.push((
                    *ws,
                    format!("{model} Usage - {label}"),
                    Some(*model),
                    Some(token_type),
                    "tokens",
                    cents,
                ));
            }
            let searches = row["server_tool_use"]["web_search_requests"].as_u64().unwrap_or(0);
            if searches > 0 {
                // $10 per 1000 searches = 1 cent each.
                out.push((
                    *ws,
                    "Web Search Usage".into(),
                    None,
                    None,
                    "web_search",
                    Decimal::from(searches),
                ));
            }
        }
    }
    if rev.0 > 0 {
        if let Some(first) = out.first_mut() {
            first.5 += Decimal::from(rev.0);
        }
    }
    out
}

/// The exact totals a collector must store for a provider's day:
/// (tokens as the README defines them, cost in USD as exact text).
pub fn expected_day(provider: &str, day: NaiveDate, rev: Revision) -> (u64, String) {
    match provider {
        "openrouter" => openrouter_expected(day),
        "openai" => {
            let tokens: u64 = openai_completions(day, rev)
                .iter()
                .map(|r| {
                    r["input_tokens"].as_u64().unwrap_or(0)
                        + r["output_tokens"].as_u64().unwrap_or(0)
                })
                .sum::<u64>()
                + openai_embeddings(day)
                    .iter()
                    .map(|r| r["input_tokens"].as_u64().unwrap_or(0))
                    .sum::<u64>();
            let cost: Decimal = openai_costs(day, rev).iter().map(|c| c.2).sum();
            (tokens, cost.normalize().to_string())
        }
        _ => {
            let tokens: u64 = anthropic_usage(day, rev)
                .iter()
                .map(|r| {
                    r["uncached_input_tokens"].as_u64().unwrap_or(0)
                        + r["cache_creation"]["ephemeral_1h_input_tokens"].as_u64().unwrap_or(0)
                        + r["cache_creation"]["ephemeral_5m_input_tokens"].as_u64().unwrap_or(0)
                        + r["cache_read_input_tokens"].as_u64().unwrap_or(0)
                        + r["output_tokens"].as_u64().unwrap_or(0)
                })
                .sum();
            let cents: Decimal = anthropic_costs(day, rev).iter().map(|c| c.5).sum();
            (tokens, (cents / Decimal::from(100)).normalize().to_string())
        }
    }
}

/// A stable day-of-year flavour for amounts sent as strings (OpenAI's live
/// deviation): odd days send `amount.value` as a string.
pub fn openai_amount_as_string(day: NaiveDate) -> bool {
    day.ordinal() % 2 == 1
}

/// (model, permaslug, endpoint provider, endpoint id, $ per prompt token, $ per completion token)
const OPENROUTER_ENDPOINTS: &[(&str, &str, &str, &str, f64, f64)] = &[
    ("openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", "OpenAI", "ep-openai-1", 2e-6, 8e-6),
    (
        "anthropic/claude-sonnet-4",
        "anthropic/claude-4-sonnet-20250522",
        "Anthropic",
        "ep-anthropic-1",
        3e-6,
        15e-6,
    ),
    (
        "anthropic/claude-sonnet-4",
        "anthropic/claude-4-sonnet-20250522",
        "Google",
        "ep-vertex-1",
        3e-6,
        15e-6,
    ),
    (
        "meta-llama/llama-3.3-70b-instruct:free",
        "meta-llama/llama-3.3-70b-instruct",
        "Chutes",
        "ep-chutes-1",
        0.0,
        0.0,
    ),
];

/// One day of OpenRouter activity items, one per model endpoint, each in one
/// workspace. `usage` is a JSON number computed in floating point, as the
/// API's is: its text carries float residues (`0.030114000000000002`), and
/// the free model's bills a residue on one day in three
/// (`5.551115123125783e-17`), which must be summed exactly.
pub fn openrouter_activity(day: NaiveDate) -> Vec<Map<String, Value>> {
    if is_quiet(day) {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for (i, (model, slug, provider, endpoint, pp, cp)) in OPENROUTER_ENDPOINTS.iter().enumerate() {
        let s = seed(day, &format!("or{i}"));
        let prompt = 100 + s % 400_000;
        let completion = 10 + (s >> 20) % 60_000;
        let usage = if *pp == 0.0 {
            if day.ordinal() % 3 == 0 {
                5.551115123125783e-17
            } else {
                0.0
            }
        } else {
            prompt as f64 * pp + completion as f64 * cp
        };
        let byok = if *provider == "Google" { usage * 0.05 } else { 0.0 };
        let row = json!({
            "date": day.to_string(),
            "model": model,
            "model_permaslug": slug,
            "endpoint_id": endpoint,
            "provider_name": provider,
            "usage": usage,
            "byok_usage_inference": byok,
            "requests": 1 + (s >> 40) % 300,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "reasoning_tokens": (s >> 48) % (completion / 2 + 1),
            "workspace_id": if i % 2 == 0 { "ws-sim-default" } else { "ws-sim-research" },
        });
        if let Value::Object(m) = row {
            rows.push(m);
        }
    }
    rows
}

/// OpenRouter's exact totals for a day: prompt + completion tokens, and the
/// exact sum of the `usage` numbers as the API writes them.
pub fn openrouter_expected(day: NaiveDate) -> (u64, String) {
    let rows = openrouter_activity(day);
    let tokens = rows
        .iter()
        .map(|r| {
            r["prompt_tokens"].as_u64().unwrap_or(0) + r["completion_tokens"].as_u64().unwrap_or(0)
        })
        .sum();
    let cost: bigdecimal::BigDecimal = rows
        .iter()
        .map(|r| r["usage"].to_string().parse::<bigdecimal::BigDecimal>().expect("a JSON number"))
        .sum();
    (tokens, cost.normalized().to_plain_string())
}
