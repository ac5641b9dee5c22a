//! `agent-host mcp`: a Model Context Protocol server (revision 2025-06-18)
//! on stdin/stdout, JSON-RPC 2.0 written against the specification: one
//! message per line, no batches. It only reads: its tools
//! ([`super::mcp_tools`]) return what the matching `--json` command
//! prints. Bad input gets a JSON-RPC error, never a crash: the server
//! stops only when stdin ends.

use std::io::{BufRead, Read, Write};

use serde_json::{json, Value};

use super::write_err;
use crate::context::Context;
use crate::error::{ExitCode, Result};

/// The protocol revision this server speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Earlier revisions whose tools work the same (without
/// `structuredContent`, which their clients ignore): a client asking for
/// one gets it.
const OLDER_VERSIONS: [&str; 2] = ["2025-03-26", "2024-11-05"];

/// JSON-RPC error codes.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad parameters (an unknown tool, arguments that do not fit its schema).
    pub const INVALID_PARAMS: i64 = -32602;
}

/// The longest message read; a longer line is answered with an error and
/// skipped, so a runaway client cannot exhaust memory.
const MAX_LINE: usize = 1 << 20;

/// Serves until stdin ends.
pub fn serve(ctx: &Context) -> Result<u8> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let tools = super::mcp_tools::Tools { ctx };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(crate::error::HostError::write)?;
        if n == 0 {
            return Ok(ExitCode::OK);
        }
        let reply = if line.len() > MAX_LINE && !line.ends_with(b"\n") {
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            let _ = input.read_until(b'\n', &mut rest);
            Some(error(Value::Null, code::INVALID_REQUEST, "message longer than 1 MiB"))
        } else {
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            handle(&text, &tools)
        };
        if let Some(reply) = reply {
            writeln!(out, "{reply}").and_then(|()| out.flush()).map_err(write_err)?;
        }
    }
}

fn error(id: Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

fn result(id: Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// What answers `tools/list` and `tools/call`.
pub trait ToolBox {
    /// The tools, as `tools/list` lists them.
    fn list(&self) -> Value;
    /// Calls one: `Err((code, message))` is a protocol error (an unknown
    /// tool, bad arguments); `Ok` is the call's result, which may say
    /// `isError`.
    fn call(&self, name: &str, arguments: &Value) -> std::result::Result<Value, (i64, String)>;
}

/// Answers one message: `None` for a notification or a response.
pub fn handle(text: &str, tools: &dyn ToolBox) -> Option<String> {
    let msg: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, code::PARSE_ERROR, &format!("parse error: {e}"))),
    };
    let Some(obj) = msg.as_object() else {
        let what = if msg.is_array() { "batches are not supported" } else { "not an object" };
        return Some(error(
            Value::Null,
            code::INVALID_REQUEST,
            &format!("invalid request: {what}"),
        ));
    };
    let id = obj.get("id").cloned();
    let id_ok = matches!(id, Some(Value::String(_) | Value::Number(_)));
    // A response from the client (to nothing we asked): nothing to answer.
    if obj.get("method").is_none() && (obj.contains_key("result") || obj.contains_key("error")) {
        return None;
    }
    let reply_id = if id_ok { id.clone().unwrap_or(Value::Null) } else { Value::Null };
    if obj.get("jsonrpc") != Some(&json!("2.0")) {
        return Some(error(
            reply_id,
            code::INVALID_REQUEST,
            "invalid request: jsonrpc must be \"2.0\"",
        ));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Some(error(reply_id, code::INVALID_REQUEST, "invalid request: no method"));
    };
    let params = obj.get("params").cloned().unwrap_or(json!({}));
    // Notifications (`notifications/initialized`, cancellations) need no
    // answer, and a notification never gets one.
    id.as_ref()?;
    if !id_ok {
        return Some(error(
            Value::Null,
            code::INVALID_REQUEST,
            "invalid request: id must be a string or a number",
        ));
    }
    if !params.is_object() {
        return Some(error(reply_id, code::INVALID_PARAMS, "params must be an object"));
    }
    Some(match method {
        "initialize" => result(reply_id, initialize(&params)),
        "ping" => result(reply_id, json!({})),
        "tools/list" => result(reply_id, tools.list()),
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return Some(error(reply_id, code::INVALID_PARAMS, "tools/call needs a tool name"));
            };
            let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
            match tools.call(name, &arguments) {
                Ok(r) => result(reply_id, r),
                Err((c, m)) => error(reply_id, c, &m),
            }
        }
        other => error(reply_id, code::METHOD_NOT_FOUND, &format!("method not found: {other}")),
    })
}

fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
    let version =
        if OLDER_VERSIONS.contains(&asked) { asked.to_string() } else { PROTOCOL_VERSION.into() };
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {
            "name": "agent-host",
            "title": "agent-host: AI usage and billing",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Read-only answers about AI spend: billed cost from the providers' admin \
            APIs and estimates from local Claude Code and Codex logs (always labelled \
            `estimated`). Money is exact decimal text in USD. Days are UTC.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl ToolBox for Echo {
        fn list(&self) -> Value {
            json!({"tools": []})
        }
        fn call(&self, name: &str, _: &Value) -> std::result::Result<Value, (i64, String)> {
            Err((code::INVALID_PARAMS, format!("unknown tool {name}")))
        }
    }

    fn reply(text: &str) -> Value {
        serde_json::from_str(&handle(text, &Echo).expect("a reply")).unwrap()
    }

    #[test]
    fn bad_messages_get_json_rpc_errors() {
        assert_eq!(reply("{").pointer("/error/code"), Some(&json!(-32700)));
        assert_eq!(reply("[1]").pointer("/error/code"), Some(&json!(-32600)));
        assert_eq!(reply("7").pointer("/error/code"), Some(&json!(-32600)));
        assert_eq!(
            reply(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#).pointer("/error/code"),
            Some(&json!(-32600))
        );
        assert_eq!(
            reply(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).pointer("/error/code"),
            Some(&json!(-32600))
        );
        let r = reply(r#"{"jsonrpc":"2.0","id":"a","method":"nope"}"#);
        assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!("a"), json!(-32601)));
        let r = reply(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":[]}"#);
        assert_eq!(r["error"]["code"], -32602);
        let r = reply(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}"#);
        assert_eq!(r["error"]["code"], -32602);
        assert_eq!(
            handle(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &Echo),
            None
        );
        assert_eq!(handle(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#, &Echo), None);
    }

    #[test]
    fn initialize_names_the_revision() {
        let r = reply(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert_eq!(r["result"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(r["result"]["capabilities"]["tools"], json!({"listChanged": false}));
        let r = reply(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01"}}"#,
        );
        assert_eq!(r["result"]["protocolVersion"], PROTOCOL_VERSION);
        let r = reply(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#,
        );
        assert_eq!(r["result"]["protocolVersion"], "2025-03-26");
    }
}
