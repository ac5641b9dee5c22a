//! Reading speed on a generated rollout of realistic shape (large response
//! items and command outputs between token counts). Ignored by default; run
//! it in release:
//! `cargo test --release -p codex_logs --test throughput -- --ignored --nocapture`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::time::Instant;

use plugin_api::RunRequest;

const TARGET_BYTES: u64 = 256 * 1024 * 1024;

fn write_rollout(path: &std::path::Path) -> (u64, u64) {
    let mut out = BufWriter::new(File::create(path).unwrap());
    let blob = "fn main() {\\n    println!(\\\"hello \\\\u00e9\\\");\\n}\\n".repeat(150);
    writeln!(out, r#"{{"timestamp":"2026-11-01T21:00:00.000Z","type":"session_meta","payload":{{"id":"t1","cwd":"/w","source":"cli"}}}}"#).unwrap();
    writeln!(out, r#"{{"timestamp":"2026-11-01T21:00:00.000Z","type":"turn_context","payload":{{"model":"gpt-5.1-codex"}}}}"#).unwrap();
    let (mut bytes, mut calls) = (0u64, 0u64);
    while bytes < TARGET_BYTES {
        calls += 1;
        let (i, o) = (calls * 1000, calls * 100);
        let lines = [
            format!(
                r#"{{"timestamp":"2026-11-01T21:00:01.000Z","type":"response_item","payload":{{"type":"function_call_output","call_id":"call_{calls}","output":"{{\"output\":\"{blob}\",\"metadata\":{{\"exit_code\":0}}}}"}}}}"#
            ),
            format!(
                r#"{{"timestamp":"2026-11-01T21:00:01.000Z","type":"event_msg","payload":{{"type":"exec_command_end","call_id":"call_{calls}","stdout":"{blob}","exit_code":0}}}}"#
            ),
            format!(
                r#"{{"timestamp":"2026-11-01T21:00:02.000Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{i},"cached_input_tokens":{o},"output_tokens":{o},"reasoning_output_tokens":0,"total_tokens":{}}},"last_token_usage":{{"input_tokens":1000,"cached_input_tokens":100,"output_tokens":100,"reasoning_output_tokens":0,"total_tokens":1100}},"model_context_window":258400}},"rate_limits":null}}}}"#,
                i + o
            ),
        ];
        for line in &lines {
            writeln!(out, "{line}").unwrap();
            bytes += line.len() as u64 + 1;
        }
    }
    out.flush().unwrap();
    (bytes, calls)
}

#[test]
#[ignore = "a benchmark: run in release with --ignored"]
fn reads_faster_than_100_mb_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sessions/2026/11/01");
    fs::create_dir_all(&folder).unwrap();
    let (bytes, calls) = write_rollout(&folder.join("rollout-x.jsonl"));
    let sessions = dir.path().join("sessions").display().to_string();
    let read_paths = [("$CODEX_HOME/sessions".to_string(), vec![sessions])];
    let mut req = RunRequest { read_paths: read_paths.into(), ..RunRequest::default() };
    req.settings.insert("LOG_MAX_BYTES".into(), (1u64 << 40).to_string());
    let start = Instant::now();
    let out = codex_logs::collect(&req, &mut |_, _| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let rate = bytes as f64 / secs / 1e6;
    println!("{:.0} MB in {secs:.2} s: {rate:.0} MB/s, {calls} calls", bytes as f64 / 1e6);
    assert_eq!(out.calls.len() as u64, calls);
    assert!(rate > 100.0, "{rate:.0} MB/s");
}
