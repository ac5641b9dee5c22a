//! Reading speed on a generated transcript of realistic shape (large tool
//! results and assistant content, the bulk of real logs). Ignored by
//! default; run it in release:
//! `cargo test --release -p claude_code_logs --test throughput -- --ignored --nocapture`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::time::Instant;

use plugin_api::RunRequest;

const TARGET_BYTES: u64 = 256 * 1024 * 1024;

fn write_transcript(path: &std::path::Path) -> (u64, u64) {
    let mut out = BufWriter::new(File::create(path).unwrap());
    let blob = "fn main() {\\n    println!(\\\"hello \\\\u00e9\\\");\\n}\\n".repeat(150);
    let (mut bytes, mut calls) = (0u64, 0u64);
    while bytes < TARGET_BYTES {
        let user = format!(
            r#"{{"parentUuid":"a","isSidechain":false,"userType":"external","cwd":"/home/me/app","sessionId":"s1","version":"2.1.63","gitBranch":"main","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_{calls}","type":"tool_result","content":"{blob}"}}]}},"uuid":"u-{calls}","timestamp":"2026-11-01T09:00:00.000Z","toolUseResult":{{"stdout":"{blob}","stderr":"","interrupted":false}}}}"#
        );
        let assistant = format!(
            r#"{{"parentUuid":"u-{calls}","isSidechain":false,"userType":"external","cwd":"/home/me/app","sessionId":"s1","version":"2.1.63","gitBranch":"main","type":"assistant","requestId":"req_{calls}","uuid":"a-{calls}","timestamp":"2026-11-01T09:00:02.000Z","message":{{"id":"msg_{calls}","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{{"type":"text","text":"{blob}"}},{{"type":"tool_use","id":"toolu_x","name":"Edit","input":{{"file_path":"/home/me/app/src/main.rs","old_string":"a","new_string":"b"}}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{"input_tokens":3,"cache_creation_input_tokens":500,"cache_read_input_tokens":1000,"cache_creation":{{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":0}},"output_tokens":120,"service_tier":"standard"}}}}}}"#
        );
        writeln!(out, "{user}\n{assistant}").unwrap();
        bytes += (user.len() + assistant.len() + 2) as u64;
        calls += 1;
    }
    out.flush().unwrap();
    (bytes, calls)
}

#[test]
#[ignore = "a benchmark: run in release with --ignored"]
fn reads_faster_than_100_mb_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("projects/-home-me-app");
    fs::create_dir_all(&folder).unwrap();
    let (bytes, calls) = write_transcript(&folder.join("s1.jsonl"));
    let projects = dir.path().join("projects").display().to_string();
    let read_paths = [("$CLAUDE_CONFIG_DIR/projects".to_string(), vec![projects])];
    let mut req = RunRequest { read_paths: read_paths.into(), ..RunRequest::default() };
    req.settings.insert("LOG_MAX_BYTES".into(), (1u64 << 40).to_string());
    let start = Instant::now();
    let out = claude_code_logs::collect(&req, &mut |_, _| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let rate = bytes as f64 / secs / 1e6;
    println!("{:.0} MB in {secs:.2} s: {rate:.0} MB/s, {calls} calls", bytes as f64 / 1e6);
    assert_eq!(out.calls.len() as u64, calls);
    assert!(rate > 100.0, "{rate:.0} MB/s");
}
