//! Anthropic's admin usage and cost reports
//! (`/v1/organizations/usage_report/messages`, `/v1/organizations/cost_report`):
//! RFC 3339 windows, `group_by[]`, cents as decimal text.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate};
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
    let parse_t = |name: &str| -> Result<Option<NaiveDate>, Fail> {
        match param(params, name) {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.to_utc().date_naive()))
                .map_err(|_| bad(format!("{name} must be an RFC 3339 time, got {v:?}"))),
        }
    };
    let from = parse_t("starting_at")?.ok_or_else(|| bad("starting_at is required"))?;
    let to_excl = parse_t("ending_at")?.unwrap_or(from + Days::new(7));
    if param(params, "bucket_width").unwrap_or("1d") != "1d" {
        return Err(bad("bucket_width must be 1d in the simulator"));
    }
    let limit = limit(params, 7, 31)?;
    let grouped = array(params, "group_by");
    let (page_days, next) = paginate(days(from, to_excl), limit, param(params, "page"), endless)?;
    let mut buckets = Vec::new();
    for day in page_days {
        let results = match path {
            "/v1/organizations/cost_report" => {
                for g in &grouped {
                    if !["workspace_id", "description"].contains(&g.as_str()) {
                        return Err(bad(format!("invalid group_by[] value {g:?}")));
                    }
                }
                let by_desc = grouped.iter().any(|g| g == "description");
                let rows =
                    data::anthropic_costs(org.data_day(day), rev(revisions, org.data_day(day)))
                        .into_iter()
                        .map(|(ws, desc, model, token_type, cost_type, cents)| {
                            let d = |v: Value| if by_desc { v } else { Value::Null };
                            let tokens = cost_type == "tokens";
                            let mut m = Map::new();
                            m.insert("currency".into(), json!("USD"));
                            m.insert("amount".into(), json!(cents.normalize().to_string()));
                            m.insert("workspace_id".into(), json!(ws));
                            m.insert("description".into(), json!(desc));
                            m.insert("cost_type".into(), d(json!(cost_type)));
                            m.insert(
                                "context_window".into(),
                                d(if tokens { json!("0-200k") } else { Value::Null }),
                            );
                            m.insert("model".into(), d(json!(model)));
                            m.insert(
                                "service_tier".into(),
                                d(if tokens { json!("standard") } else { Value::Null }),
                            );
                            m.insert("token_type".into(), d(json!(token_type)));
                            m
                        })
                        .collect();
                let mut rows = group(rows, &["workspace_id", "description"], &grouped);
                if bad_day == Some(day) {
                    if let Some(first) = rows.first_mut() {
                        first.insert("currency".into(), json!("EUR"));
                    }
                }
                rows
            }
            "/v1/organizations/usage_report/messages" => group(
                data::anthropic_usage(org.data_day(day), rev(revisions, org.data_day(day))),
                &["api_key_id", "workspace_id", "model", "service_tier", "context_window"],
                &grouped,
            ),
            other => return Err((404, "not_found_error", format!("no such report {other}"))),
        };
        let end = day + Days::new(1);
        buckets.push(json!({
            "starting_at": format!("{day}T00:00:00Z"),
            "ending_at": format!("{end}T00:00:00Z"),
            "results": results,
        }));
    }
    Ok(json!({"data": buckets, "has_more": next.is_some(), "next_page": next}).to_string())
}
