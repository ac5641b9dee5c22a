//! OpenRouter's activity API (`GET /api/v1/activity`), as its OpenAPI
//! description (OpenRouterTeam/docs, 2026-08) documents it: a management key
//! as Bearer (an inference key gets 403), an optional `date` among the last
//! 30 completed UTC days (400 otherwise), `group_by=workspace` to split rows
//! per workspace, no pagination, `{"data":[…]}`.

use chrono::{Days, NaiveDate};
use serde_json::{json, Map, Value};

use crate::data;
use crate::paging::days;
use crate::wire::{bad, param, Fail};

/// The management key the simulator accepts.
pub const OPENROUTER_KEY: &str = "sk-or-v1-SIMULATED-management-0123456789abcdef";
/// An inference key: authenticated, but not allowed to read activity.
pub const OPENROUTER_INFERENCE_KEY: &str = "sk-or-v1-SIMULATED-inference-0123456789abcdef";

/// The days the API holds on `today`: the last 30 completed UTC days.
pub fn window(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    (today - Days::new(30), today - Days::new(1))
}

/// Answers `/api/v1/activity`.
pub fn activity(path: &str, params: &[(String, String)], today: NaiveDate) -> Result<String, Fail> {
    if path != "/api/v1/activity" {
        return Err((404, "not_found", "Resource not found".into()));
    }
    let (first, last) = window(today);
    let days: Vec<NaiveDate> = match param(params, "date") {
        None => days(first, today),
        Some(v) => {
            let day: NaiveDate = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| bad(format!("Invalid date format {v:?}; use YYYY-MM-DD")))?;
            if day < first || day > last {
                return Err(bad("date must be within the last 30 completed UTC days"));
            }
            vec![day]
        }
    };
    let by_workspace = match param(params, "group_by") {
        None => false,
        Some("workspace") => true,
        Some(other) => return Err(bad(format!("Invalid group_by {other:?}"))),
    };
    let items: Vec<Map<String, Value>> = days
        .into_iter()
        .flat_map(data::openrouter_activity)
        .map(|mut row| {
            if !by_workspace {
                row.remove("workspace_id");
            }
            row
        })
        .collect();
    Ok(json!({ "data": items }).to_string())
}
