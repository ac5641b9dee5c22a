//! Helpers shared by the integration tests: fixture paths, requests, and the
//! host's merge of calls by key.

// Each test binary uses a part of these, so `expect` would fail in some.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use billing_records::Priced;
use codex_logs::collect;
use log_kit::Outcome;
use plugin_api::RunRequest;

pub const P: &str = "019a4f10-7c2e-7d31-9b5a-1c2d3e4f5a01";
pub const S: &str = "019a4f19-0b1c-7e42-8c6d-2d3e4f5a6b02";
pub const F: &str = "019a5b3c-1d2e-7f53-9d7e-3e4f5a6b7c03";
pub const E: &str = "0199c2d4-5e6f-7a64-8e8f-4f5a6b7c8d04";

/// The fixture Codex home.
pub fn home() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../../tests/fixtures/logs/codex/home").canonicalize().unwrap()
}

/// A fixture rollout: `sessions/<rel>`.
pub fn rollout(rel: &str) -> PathBuf {
    home().join("sessions").join(rel)
}

pub const P_FILE: &str =
    "2026/11/01/rollout-2026-11-01T21-00-00-019a4f10-7c2e-7d31-9b5a-1c2d3e4f5a01.jsonl";
pub const S_FILE: &str =
    "2026/11/01/rollout-2026-11-01T21-10-00-019a4f19-0b1c-7e42-8c6d-2d3e4f5a6b02.jsonl";
pub const F_FILE: &str =
    "2026/11/02/rollout-2026-11-02T08-00-00-019a5b3c-1d2e-7f53-9d7e-3e4f5a6b7c03.jsonl";

/// A request whose Codex homes (`$CODEX_HOME`, `~/.codex`) resolved to
/// `paths`: the manifest declares their two session folders.
pub fn request(paths: &[(&str, &[&Path])]) -> RunRequest {
    let read_paths = paths
        .iter()
        .flat_map(|(entry, ps)| {
            ["sessions", "archived_sessions"].map(|sub| {
                let granted = ps.iter().map(|p| p.join(sub).display().to_string()).collect();
                (format!("{entry}/{sub}"), granted)
            })
        })
        .collect();
    RunRequest { read_paths, ..RunRequest::default() }
}

/// A request for `roots` through `$CODEX_HOME`.
pub fn codex_home(roots: &[&Path]) -> RunRequest {
    request(&[("$CODEX_HOME", roots), ("~/.codex", &[])])
}

/// One run, which must succeed.
pub fn run(req: &RunRequest) -> Outcome {
    collect(req, &mut |_, _| {}).unwrap()
}

/// The same request again with the state of `out`.
pub fn next(req: &RunRequest, out: &Outcome) -> RunRequest {
    RunRequest { state: Some(out.state.clone()), ..req.clone() }
}

use log_kit::tally::Totals;

/// A row of an expected totals table.
pub fn row(
    day: &str,
    model: &str,
    calls: u64,
    [input, output, cache_read, reasoning]: [u64; 4],
) -> ((String, String), (u64, Priced)) {
    let priced = Priced { input, output, cache_read, reasoning, ..Priced::default() };
    ((day.to_string(), model.to_string()), (calls, priced))
}

/// The fixture home's totals (tests/fixtures/logs/README.md).
pub fn expected() -> Totals {
    Totals::from([
        // uncached input, output (reasoning included), cache read, reasoning
        row("2026-11-01", "gpt-5", 2, [900, 260, 600, 64]),
        row("2026-11-01", "gpt-5.1-codex", 2, [1600, 450, 900, 120]),
        row("2026-11-01", "gpt-5.1-codex-max", 1, [300, 250, 1300, 80]),
        row("2026-11-01", "gpt-5.1-codex-mini", 2, [400, 190, 1600, 50]),
        row("2026-11-02", "gpt-5.1-codex-max", 2, [300, 450, 3600, 100]),
    ])
}

/// Totals per model alone (days summed): what cannot depend on which copy
/// of a replayed call is read first.
pub fn per_model(totals: &Totals) -> BTreeMap<String, (u64, Priced)> {
    let mut out: BTreeMap<String, (u64, Priced)> = BTreeMap::new();
    for ((_, model), (n, p)) in totals {
        let (m, sum) = out.entry(model.clone()).or_default();
        *m += n;
        *sum = sum.plus(*p);
    }
    out
}
