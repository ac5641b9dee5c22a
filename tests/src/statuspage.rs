//! Atlassian Statuspage's public incidents API (`GET /api/v2/incidents.json`,
//! no key), as the providers' status pages serve it, for `status_watch`:
//! each page at `/status/<page>/api/v2/incidents.json` with a fixed set of
//! incidents (resolved, one still being monitored), newest first.

use serde_json::{json, Value};

/// The pages the simulator serves, with how many incidents each has.
pub const PAGES: [(&str, &str, usize); 2] =
    [("openai", "OpenAI", 3), ("anthropic", "Anthropic", 2)];

/// One incident of `page` (0 is the newest).
fn incident(page: &str, i: usize) -> Value {
    let day = 20 - i * 3;
    let id = format!("{page}-inc-{i:02}");
    let (status, resolved) = if i == 0 {
        ("monitoring", Value::Null)
    } else {
        ("resolved", json!(format!("2026-11-{day:02}T11:30:00.000Z")))
    };
    json!({
        "id": id,
        "name": format!("Elevated error rates on the {} API ({i})", page),
        "status": status,
        "impact": if i % 2 == 0 { "minor" } else { "major" },
        "created_at": format!("2026-11-{day:02}T09:00:00.000Z"),
        "updated_at": format!("2026-11-{day:02}T11:30:00.000Z"),
        "monitoring_at": format!("2026-11-{day:02}T10:00:00.000Z"),
        "resolved_at": resolved,
        "started_at": format!("2026-11-{day:02}T08:55:00.000Z"),
        "shortlink": format!("https://stspg.io/{id}"),
        "page_id": format!("page-{page}"),
        "incident_updates": [{
            "id": format!("{id}-u1"), "status": status, "body": "We are investigating.",
            "created_at": format!("2026-11-{day:02}T09:00:00.000Z"),
            "incident_id": id, "affected_components": null
        }],
        "components": [{
            "id": format!("{page}-api"), "name": "API", "status": "operational",
            "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2026-11-20T11:30:00.000Z",
            "position": 1, "description": null, "showcase": true, "group_id": null,
            "page_id": format!("page-{page}"), "group": false, "only_show_if_degraded": false
        }]
    })
}

/// The answer for a path under `/status/`, or `None` for an unknown page.
pub fn answer(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/status/")?;
    let (page, endpoint) = rest.split_once('/')?;
    let (_, name, count) = PAGES.iter().find(|(p, _, _)| *p == page)?;
    if endpoint != "api/v2/incidents.json" {
        return None;
    }
    let body = json!({
        "page": {
            "id": format!("page-{page}"), "name": name,
            "url": format!("https://status.{page}.com"), "time_zone": "Etc/UTC",
            "updated_at": "2026-11-20T11:30:00.000Z"
        },
        "incidents": (0..*count).map(|i| incident(page, i)).collect::<Vec<_>>()
    });
    Some(body.to_string())
}

/// How many incidents `page` serves.
pub fn incidents(page: &str) -> usize {
    PAGES.iter().find(|(p, _, _)| *p == page).map_or(0, |(_, _, n)| *n)
}
