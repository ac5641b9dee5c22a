//! Helpers shared by the integration tests: fixture paths, requests, and the
//! host's merge of calls by key.

// Each test binary uses a part of these, so `expect` would fail in some.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use billing_records::Priced;
use claude_code_logs::collect;
use log_kit::Outcome;
use plugin_api::RunRequest;

/// A root of the Claude fixture tree (`root-a`, `root-b`).
pub fn fixture(root: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../../tests/fixtures/logs/claude").join(root).canonicalize().unwrap()
}

/// A request whose config folders (`$CLAUDE_CONFIG_DIR`, `~/.claude`, …)
/// resolved to `paths`: the manifest declares their `projects/` folders.
pub fn request(paths: &[(&str, &[&Path])]) -> RunRequest {
    let read_paths = paths
        .iter()
        .map(|(entry, ps)| {
            let granted = ps.iter().map(|p| p.join("projects").display().to_string()).collect();
            (format!("{entry}/projects"), granted)
        })
        .collect();
    RunRequest { read_paths, ..RunRequest::default() }
}

/// A request for `roots` through `$CLAUDE_CONFIG_DIR`.
pub fn config_dirs(roots: &[&Path]) -> RunRequest {
    request(&[("$CLAUDE_CONFIG_DIR", roots), ("~/.claude", &[]), ("~/.config/claude", &[])])
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
    [input, output, cache_read, cache_write_5m, cache_write_1h, web_searches]: [u64; 6],
) -> ((String, String), (u64, Priced)) {
    let priced = Priced {
        input,
        output,
        cache_read,
        cache_write_5m,
        cache_write_1h,
        reasoning: 0,
        web_searches,
    };
    ((day.to_string(), model.to_string()), (calls, priced))
}

/// The fixture tree's totals (tests/fixtures/logs/README.md): root-a's rows,
/// then root-b's.
pub fn expected(root_a: bool, root_b: bool) -> Totals {
    let mut out = Totals::new();
    if root_a {
        out.extend([
            // in, out, cache read, write 5m, write 1h, web searches
            row("2026-11-01", "claude-sonnet-4-5", 3, [10, 240, 6500, 800, 2000, 2]),
            row("2026-11-01", "claude-haiku-4-5", 2, [28, 210, 900, 1000, 0, 0]),
            row("2026-11-02", "claude-sonnet-4-5", 1, [4, 200, 4300, 0, 0, 0]),
            row("2026-11-02", "claude-opus-4-6", 1, [10, 300, 0, 200, 1000, 0]),
        ]);
    }
    if root_b {
        out.extend([row("2026-11-01", "claude-opus-4-1", 2, [18, 120, 4800, 800, 0, 0])]);
    }
    out
}
