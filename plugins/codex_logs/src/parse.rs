//! One Codex rollout line → the event it holds, reading only what a call
//! needs. A payload is first kept as raw JSON, so the large `response_item`
//! lines are scanned once and never built.

use std::borrow::Cow;

use log_kit::Text;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Totals;

/// The events that matter for counting calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// `session_meta`: the thread's id and folder.
    Meta {
        /// `payload.id`.
        id: Option<String>,
        /// `payload.cwd`.
        cwd: Option<String>,
    },
    /// `turn_context`: the model of the events that follow.
    TurnContext {
        /// `payload.model`.
        model: Option<String>,
    },
    /// `event_msg` of type `token_count`.
    TokenCount {
        /// The line's `timestamp`.
        timestamp: Option<Cow<'a, str>>,
        /// `info.total_token_usage`; `None` when `info` is null (an update
        /// of rate limits only).
        totals: Option<Totals>,
    },
    /// Anything else, `token_usage_record` items included: they repeat what
    /// `token_count` already says.
    Other,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
}

#[derive(Deserialize)]
struct TurnContext {
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct EventMsg<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    info: Option<&'a RawValue>,
}

/// `info` of a `token_count` event; `last_token_usage` is the last call's
/// usage, which re-emitted events repeat: only the running totals are read.
#[derive(Deserialize)]
struct Info {
    total_token_usage: TokenUsage,
}

/// OpenAI's meaning: `input_tokens` includes the cached ones, and
/// `output_tokens` the reasoning ones.
#[derive(Deserialize)]
struct TokenUsage {
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
    total_tokens: u64,
}

/// Reads one line (without its line ending); `None` for a line that is not
/// JSON or lacks what its event type needs.
pub fn parse_line(bytes: &[u8]) -> Option<Event<'_>> {
    let line: Line<'_> = serde_json::from_slice(bytes).ok()?;
    let (Some(kind), Some(payload)) = (line.kind.as_ref().map(Text::as_str), line.payload) else {
        return Some(Event::Other);
    };
    let payload = payload.get();
    match kind {
        "session_meta" => {
            let meta: Meta = serde_json::from_str(payload).ok()?;
            Some(Event::Meta { id: meta.id, cwd: meta.cwd })
        }
        "turn_context" => {
            let context: TurnContext = serde_json::from_str(payload).ok()?;
            Some(Event::TurnContext { model: context.model })
        }
        "event_msg" => event_msg(payload, line.timestamp.map(|t| t.0)),
        _ => Some(Event::Other),
    }
}

fn event_msg<'a>(payload: &str, timestamp: Option<Cow<'a, str>>) -> Option<Event<'a>> {
    let event: EventMsg<'_> = serde_json::from_str(payload).ok()?;
    if event.kind != "token_count" {
        return Some(Event::Other);
    }
    let totals = match event.info {
        None => None,
        Some(info) => {
            let info: Info = serde_json::from_str(info.get()).ok()?;
            Some(info.total_token_usage.into())
        }
    };
    Some(Event::TokenCount { timestamp, totals })
}

impl From<TokenUsage> for Totals {
    fn from(u: TokenUsage) -> Self {
        Totals {
            input: u.input_tokens,
            cached: u.cached_input_tokens,
            output: u.output_tokens,
            reasoning: u.reasoning_output_tokens,
            total: u.total_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_events_that_matter() {
        let meta = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"th1","cwd":"/w","source":{"subagent":{"thread_spawn":{"parent_thread_id":"p"}}},"git":{}}}"#;
        assert_eq!(
            parse_line(meta.as_bytes()),
            Some(Event::Meta { id: Some("th1".into()), cwd: Some("/w".into()) })
        );
        let turn = r#"{"type":"turn_context","payload":{"cwd":"/w","model":"gpt-5.1-codex","effort":"high"}}"#;
        assert_eq!(
            parse_line(turn.as_bytes()),
            Some(Event::TurnContext { model: Some("gpt-5.1-codex".into()) })
        );
        let count = r#"{"timestamp":"2026-11-01T00:00:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3,"reasoning_output_tokens":1,"total_tokens":13},"last_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3,"reasoning_output_tokens":1,"total_tokens":13}},"rate_limits":null}}"#;
        let totals = Totals { input: 10, cached: 4, output: 3, reasoning: 1, total: 13 };
        assert_eq!(
            parse_line(count.as_bytes()),
            Some(Event::TokenCount {
                timestamp: Some("2026-11-01T00:00:00Z".into()),
                totals: Some(totals)
            })
        );
    }

    #[test]
    fn null_info_and_other_lines_are_not_errors() {
        let null_info = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"used_percent":5.0}}}}"#;
        assert_eq!(
            parse_line(null_info.as_bytes()),
            Some(Event::TokenCount { timestamp: Some("t".into()), totals: None })
        );
        for other in [
            r#"{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"{\"info\":1}"}]}}"#,
            r#"{"type":"event_msg","payload":{"type":"agent_message","message":"hi","info":"text"}}"#,
            r#"{"type":"event_msg","payload":{"type":"token_usage_record","info":{"total_token_usage":{}}}}"#,
            r#"{"type":"compacted","payload":{"message":""}}"#,
        ] {
            assert_eq!(parse_line(other.as_bytes()), Some(Event::Other), "{other}");
        }
    }

    #[test]
    fn broken_lines_are_errors() {
        for bad in [
            "{\"type\":\"event_msg\",\"payload\":{\"type\":\"token_co",
            r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1}}}}"#,
            r#"{"type":"turn_context","payload":{"model":7}}"#,
            "[1,2]",
        ] {
            assert_eq!(parse_line(bad.as_bytes()), None, "{bad}");
        }
    }
}
