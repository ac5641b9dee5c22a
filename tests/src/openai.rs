//! OpenAI's admin usage and costs API (`/v1/organization/usage/*`,
//! `/v1/organization/costs`): Unix-second windows, `group_by` in both array
//! forms, `limit` in buckets, amounts as numbers or strings.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use crate::data;
use crate::paging::{days, group, limit, paginate, rev};
use crate::wire::{array, bad, param, Fail};

pub(crate) fn answer(
    path: &str,
    params: &[(String, String)],
    endless: bool,
    revisions: &BTreeMap<NaiveDate, u32>,
    bad_day: Option<NaiveDate>,
    org: crate::Org,
) -> Result<String, Fail> {
    let start: i64 = param(params, "start_time")
        .ok_or_else(|| bad("start_time is required"))?
        .parse()
        .map_err(|_| bad("start_time must be an integer"))?;
    let end: Option<i64> = match param(params, "end_time") {
        Some(v) => Some(v.parse().map_err(|_| bad("end_time must be an integer"))?),
        None => None,
    };
    let width = param(params, "bucket_width").unwrap_or("1d");
    let day_of = |t: i64| {
        DateTime::<Utc>::from_timestamp(t, 0)
            .map(|d| d.date_naive())
            .ok_or_else(|| bad("time out of range"))
    };
    let from = day_of(start)?;
    let to_excl = match end {
        Some(e) => day_of(e - 1)? + Days::new(1),
        None => from + Days::new(7),
    };
    let grouped = array(params, "group_by");
    let is_costs = path == "/v1/organization/costs";
    if width != "1d" {
        return Err(bad(format!(
            "bucket_width {width} is not supported by the simulator (use 1d)"
        )));
    }
    let limit = if is_costs { limit(params, 7, 180)? } else { limit(params, 7, 31)? };
    let (page_days, next) = paginate(days(from, to_excl), limit, param(params, "page"), endless)?;
    let mut numbers: Vec<String> = Vec::new();
    let mut buckets = Vec::new();
    for day in page_days {
        let t0 = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default();
        let results: Vec<Map<String, Value>> = if is_costs {
            for g in &grouped {
                if !["project_id", "line_item", "api_key_id"].contains(&g.as_str()) {
                    return Err(bad(format!("invalid group_by value {g:?}")));
                }
            }
            let rows = data::openai_costs(org.data_day(day), rev(revisions, org.data_day(day)))
                .into_iter()
                .map(|(line_item, project, amount, qty)| {
                    let mut m = Map::new();
                    m.insert("object".into(), json!("organization.costs.result"));
                    m.insert(
                        "amount".into(),
                        json!({"value": amount.normalize().to_string(), "currency": "usd"}),
                    );
                    m.insert("line_item".into(), json!(line_item));
                    m.insert("project_id".into(), json!(project));
                    m.insert("api_key_id".into(), json!("key_sim_1"));
                    m.insert("quantity".into(), json!(qty));
                    m.insert("quantity_unit".into(), json!("tokens"));
                    m
                })
                .collect();
            let mut rows = group(rows, &["line_item", "project_id", "api_key_id"], &grouped);
            let as_string = data::openai_amount_as_string(org.data_day(day));
            for r in &mut rows {
                if !grouped.iter().any(|g| g == "line_item") {
                    r.insert("quantity".into(), Value::Null);
                    r.insert("quantity_unit".into(), Value::Null);
                }
                // Odd days send amount.value as a string (a live deviation);
                // even days as a JSON number with every digit kept.
                if !as_string {
                    if let Some(v) = r.get_mut("amount").and_then(|a| a.get_mut("value")) {
                        let text = v.as_str().unwrap_or("0").to_string();
                        numbers.push(text.clone());
                        *v = json!(format!("__num{}__", numbers.len() - 1));
                    }
                }
            }
            if bad_day == Some(day) {
                if let Some(amount) = rows.first_mut().and_then(|r| r.get_mut("amount")) {
                    amount["value"] = Value::Null;
                }
            }
            rows
        } else {
            let endpoint = path.trim_start_matches("/v1/organization/usage/");
            let rows = match endpoint {
                "completions" => {
                    data::openai_completions(org.data_day(day), rev(revisions, org.data_day(day)))
                }
                "embeddings" => data::openai_embeddings(org.data_day(day)),
                "moderations"
                | "images"
                | "audio_speeches"
                | "audio_transcriptions"
                | "vector_stores"
                | "code_interpreter_sessions"
                | "file_search_calls"
                | "web_search_calls" => Vec::new(),
                other => {
                    return Err((
                        404,
                        "invalid_request_error",
                        format!("unknown usage endpoint {other}"),
                    ))
                }
            };
            group(
                rows,
                &["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"],
                &grouped,
            )
        };
        buckets.push(json!({"object": "bucket", "start_time": t0, "end_time": t0 + 86_400, "results": results}));
    }
    let mut body =
        json!({"object": "page", "data": buckets, "has_more": next.is_some(), "next_page": next})
            .to_string();
    for (i, n) in numbers.iter().enumerate() {
        body = body.replacen(&format!("\"__num{i}__\""), n, 1);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Revision;
    use crate::wire::parse_query;
    use rust_decimal::Decimal;

    #[test]
    fn grouping_preserves_totals() {
        let day: NaiveDate = "2025-08-01".parse().unwrap();
        let q = |g: &str| {
            let body = answer(
                "/v1/organization/costs",
                &parse_query(&format!("start_time=1754006400&end_time=1754092800&limit=1{g}")),
                false,
                &BTreeMap::new(),
                None,
                crate::Org(1),
            )
            .unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            v["data"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["amount"]["value"].to_string().trim_matches('"').parse::<Decimal>().unwrap()
                })
                .sum::<Decimal>()
        };
        let expected: Decimal = data::expected_day("openai", day, Revision(0)).1.parse().unwrap();
        assert_eq!(q(""), expected);
        assert_eq!(q("&group_by=line_item&group_by=project_id"), expected);
    }
}
