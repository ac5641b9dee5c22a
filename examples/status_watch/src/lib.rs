//! `status_watch`: records the AI providers' public status-page incidents
//! (Atlassian Statuspage's `GET <page>/api/v2/incidents.json`, no key) as
//! generic records of kind `incident`, one per page and incident, so a later
//! run updates an incident as it moves from investigating to resolved. It
//! knows nothing of billing, and the billing application ignores it: it is
//! a second kind of agent on the same kernel, built outside the workspace
//! from `agent-host plugin new`.

use plugin_api::{HttpRequest, Manifest, PluginCtx, PluginResult, Record, RunMetadata, RunRequest};
use serde::Deserialize;

/// The status pages it watches: the setting that overrides each base URL,
/// and its default.
pub const PAGES: [(&str, &str); 2] = [
    ("OPENAI_STATUS_URL", "https://status.openai.com"),
    ("ANTHROPIC_STATUS_URL", "https://status.anthropic.com"),
];

/// What the plugin declares; the host grants it nothing else.
pub fn manifest() -> Manifest {
    Manifest::new("status_watch", env!("CARGO_PKG_VERSION"))
        .description("Public status-page incidents of the AI providers (Statuspage API)")
        .settings(PAGES.iter().map(|(s, _)| *s))
        .hosts(["status.openai.com", "status.anthropic.com"])
}

/// A Statuspage answer: the page and its recent incidents.
#[derive(Deserialize)]
struct Incidents {
    page: Page,
    incidents: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Page {
    id: String,
    name: String,
}

/// One run: every page, every incident it lists.
pub fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for (setting, default) in PAGES {
        let base = req.settings.get(setting).map_or(default, String::as_str);
        match page(ctx, base) {
            Ok(found) => records.extend(found),
            Err(why) => failed.push(why),
        }
    }
    if !failed.is_empty() {
        // Incidents are upserted by key: the next run reads every page again.
        return PluginResult::failed(failed.join("; "));
    }
    let metadata = RunMetadata { requests: PAGES.len() as u64, ..RunMetadata::default() };
    PluginResult::success(records, &metadata)
}

/// The incidents of the page at `base`, one record each.
fn page(ctx: &PluginCtx<'_>, base: &str) -> Result<Vec<Record>, String> {
    let url = format!("{}/api/v2/incidents.json", base.trim_end_matches('/'));
    let request = HttpRequest::get(&url).header("Accept", "application/json").retries(2);
    let response = ctx.http(&request)?;
    if response.status != 200 {
        return Err(format!("GET {url} answered HTTP {}", response.status));
    }
    let answer: Incidents = serde_json::from_slice(&response.body)
        .map_err(|e| format!("GET {url}: not a Statuspage incidents answer: {e}"))?;
    ctx.info(&format!("{}: {} incident(s)", answer.page.name, answer.incidents.len()));
    answer.incidents.iter().map(|i| incident(&answer.page, i)).collect()
}

/// One incident as a record keyed `<page id>/<incident id>`, with the fields
/// people read (its updates and components are kept as the page sent them).
fn incident(page: &Page, i: &serde_json::Map<String, serde_json::Value>) -> Result<Record, String> {
    let id = i.get("id").and_then(|v| v.as_str()).ok_or("an incident without an id")?;
    let pick = |k: &str| i.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let payload = serde_json::json!({
        "page": page.name,
        "page_id": page.id,
        "id": id,
        "name": pick("name"),
        "status": pick("status"),
        "impact": pick("impact"),
        "created_at": pick("created_at"),
        "resolved_at": pick("resolved_at"),
        "shortlink": pick("shortlink"),
        "components": pick("components"),
        "updates": pick("incident_updates"),
    });
    Ok(Record::new("incident", &format!("{}/{id}", page.id), payload.to_string()))
}

plugin_api::export_plugin! { manifest: manifest, run: run }
