//! `status_watch` against plugin-api's fake host: recorded Statuspage
//! answers, no agent-host, no network.

use plugin_api::testing::{json_response, response, FakeHost};
use plugin_api::{RunRequest, RunStatus};

const OPENAI: &str = "https://status.openai.com/api/v2/incidents.json";
const ANTHROPIC: &str = "https://status.anthropic.com/api/v2/incidents.json";

fn page(id: &str, name: &str, incidents: &[(&str, &str)]) -> String {
    let list: Vec<String> = incidents
        .iter()
        .map(|(id, status)| {
            format!(
                r#"{{"id":"{id}","name":"Errors","status":"{status}","impact":"minor",
                   "created_at":"2026-11-20T09:00:00Z","resolved_at":null,
                   "shortlink":"https://stspg.io/{id}","incident_updates":[],"components":[]}}"#
            )
        })
        .collect();
    format!(r#"{{"page":{{"id":"{id}","name":"{name}"}},"incidents":[{}]}}"#, list.join(","))
}

#[test]
fn every_incident_of_every_page_is_one_record() {
    let out = FakeHost::new()
        .manifest(status_watch::manifest())
        .respond(
            "GET",
            OPENAI,
            json_response(200, &page("p1", "OpenAI", &[("a", "resolved"), ("b", "investigating")])),
        )
        .respond(
            "GET",
            ANTHROPIC,
            json_response(200, &page("p2", "Anthropic", &[("c", "resolved")])),
        )
        .run(status_watch::run, &RunRequest::default());
    assert_eq!(out.result.status, RunStatus::SUCCESS, "{:?}", out.error());
    let keys: Vec<String> = out.records("incident").iter().map(|r| r.key.to_string()).collect();
    assert_eq!(keys, ["p1/a", "p1/b", "p2/c"]);
    let payloads = out.payloads("incident").unwrap();
    assert_eq!(payloads[1]["status"], "investigating");
    assert_eq!(payloads[2]["page"], "Anthropic");
}

#[test]
fn a_page_that_fails_fails_the_run_with_its_url() {
    let out = FakeHost::new()
        .manifest(status_watch::manifest())
        .respond("GET", OPENAI, response(503, "down"))
        .respond("GET", ANTHROPIC, json_response(200, &page("p2", "Anthropic", &[])))
        .run(status_watch::run, &RunRequest::default());
    assert_eq!(out.result.status, RunStatus::FAILED);
    assert!(out.error().unwrap_or_default().contains("status.openai.com"), "{:?}", out.error());
}

#[test]
fn a_setting_moves_a_page() {
    let mut req = RunRequest::default();
    req.settings.insert("OPENAI_STATUS_URL".into(), "http://127.0.0.1:9/status/openai".into());
    let out = FakeHost::new()
        .manifest(status_watch::manifest())
        .respond(
            "GET",
            "http://127.0.0.1:9/status/openai/api/v2/incidents.json",
            json_response(200, &page("p1", "OpenAI", &[])),
        )
        .respond("GET", ANTHROPIC, json_response(200, &page("p2", "Anthropic", &[])))
        .run(status_watch::run, &req);
    assert_eq!(out.result.status, RunStatus::SUCCESS, "{:?}", out.error());
}
