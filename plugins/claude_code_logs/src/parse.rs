//! One Claude Code transcript line → the API call it records, if any. Only
//! the few fields a call needs are read; `content` and every other field
//! are skipped by serde without being built.

use log_kit::Text;

use billing_records::{CallPayload, Priced};
use serde::{Deserialize, Deserializer};

/// Whose prices apply.
pub const PROVIDER: &str = "anthropic";
/// The `source` of every call payload: keys are unique within it.
pub const SOURCE: &str = "claude_code";
/// The model of lines Claude Code writes itself (errors, notices): no call.
const SYNTHETIC: &str = "<synthetic>";

/// What a line holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "returned once per line and consumed at once")]
pub enum Parsed {
    /// An API call.
    Call(Call),
    /// Nothing to count: another line type, or a `<synthetic>` message.
    Ignored,
    /// Not valid JSON, or an assistant message with usage that lacks (or has
    /// a null) id, model, request id or timestamp.
    Skipped,
}

/// One copy of an API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call as the host stores it.
    pub payload: CallPayload,
    /// Written by a sidechain (`/btw`, a subagent): a replayed message is
    /// better attributed by its main-chain copy.
    pub sidechain: bool,
}

/// A field that may be absent, `null` or set: ccusage skips a line whose
/// id, model or request id is `null`, while an absent message id falls back
/// to the request id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Nullable<T> {
    #[default]
    Missing,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Nullable::Null, Nullable::Value))
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    cwd: Option<Text<'a>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Text<'a>>,
    #[serde(rename = "requestId", default)]
    request_id: Nullable<String>,
    #[serde(rename = "isSidechain", default)]
    sidechain: Option<bool>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    /// A `progress` line's payload: a subagent's own line, nested. Kept
    /// raw (a span of the line) and read only for `progress` lines, since
    /// other line types may hold anything here.
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

/// What a `progress` line carries: Claude Code writes a subagent's
/// assistant lines inside `agent_progress` lines of its parent's transcript
/// (`data.message` is the subagent's line, with its own `message.usage`).
/// When the subagent's own file is gone, nothing else records those calls.
#[derive(Deserialize)]
struct Progress<'a> {
    #[serde(borrow, default)]
    message: Option<Line<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default)]
    id: Nullable<String>,
    #[serde(default)]
    model: Nullable<String>,
    #[serde(borrow, default)]
    usage: Option<Usage<'a>>,
}

#[derive(Deserialize)]
struct Usage<'a> {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
    server_tool_use: Option<ServerToolUse>,
    #[serde(borrow, default)]
    service_tier: Option<Text<'a>>,
    #[serde(borrow, default)]
    speed: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ServerToolUse {
    web_search_requests: Option<u64>,
}

/// Reads one line (without its line ending).
pub fn parse_line(bytes: &[u8]) -> Parsed {
    match serde_json::from_slice::<Line<'_>>(bytes) {
        Ok(line) => line.call(),
        Err(_) => Parsed::Skipped,
    }
}

impl Line<'_> {
    fn call(mut self) -> Parsed {
        if self.kind.as_ref().map(Text::as_str) == Some("progress") {
            return self.nested_call();
        }
        let is_assistant = self.kind.as_ref().map(Text::as_str) == Some("assistant");
        let Some(Message { id, model, usage: Some(usage) }) = self.message.filter(|_| is_assistant)
        else {
            return Parsed::Ignored;
        };
        let model = match model {
            Nullable::Value(m) if m == SYNTHETIC => return Parsed::Ignored,
            Nullable::Value(m) => m,
            _ => return Parsed::Skipped,
        };
        let Some(key) = key(id, self.request_id) else { return Parsed::Skipped };
        let Some((day, at)) = self.timestamp.as_ref().and_then(|t| log_kit::utc_time(t.as_str()))
        else {
            return Parsed::Skipped;
        };
        let mut payload = CallPayload::new(PROVIDER, SOURCE, key, day, model);
        payload.at = Some(at);
        payload.project = self.cwd.map(Text::into_owned);
        payload.session = self.session_id.map(Text::into_owned);
        payload.priced = usage.priced();
        payload.service_tier = usage.service_tier.map(Text::into_owned);
        payload.speed = usage.speed.map(Text::into_owned);
        Parsed::Call(Call { payload, sidechain: self.sidechain.unwrap_or(false) })
    }
}

impl<'a> Line<'a> {
    /// The call a `progress` line nests, keyed like any other (its message
    /// id), so a copy in the subagent's own file counts once. It is a
    /// subagent's, so a sidechain; its project and session are its
    /// parent's where it does not name them.
    fn nested_call(&mut self) -> Parsed {
        let Some(raw) = self.data.take() else { return Parsed::Ignored };
        let mut inner = match serde_json::from_str::<Progress<'a>>(raw.get()) {
            Ok(Progress { message: Some(inner) }) => inner,
            Ok(Progress { message: None }) => return Parsed::Ignored,
            // Progress of a shape we do not know: not a call we can read.
            Err(_) => return Parsed::Ignored,
        };
        // A progress line nested in a progress line has no call of its own.
        inner.data = None;
        inner.cwd = inner.cwd.or_else(|| self.cwd.take());
        inner.session_id = inner.session_id.or_else(|| self.session_id.take());
        inner.timestamp = inner.timestamp.or_else(|| self.timestamp.take());
        inner.sidechain = Some(true);
        match inner.call() {
            Parsed::Call(c) => Parsed::Call(c),
            // Progress of another kind (a tool's, a hook's): nothing to count.
            Parsed::Ignored => Parsed::Ignored,
            Parsed::Skipped => Parsed::Skipped,
        }
    }
}

/// A call's key is its `message.id` alone. Message ids are unique per API
/// response, so a copy of a message under another `requestId` is a replay
/// (a resumed session's copy, a `/btw` sidechain replaying its parent) and
/// must count once: keying on the `(message.id, requestId)` pair, as
/// ccusage first does, would count a sidechain replay twice. A line without
/// a message id falls back to `req:<requestId>`; a null in either, or
/// neither, leaves no identity.
fn key(id: Nullable<String>, request_id: Nullable<String>) -> Option<String> {
    match (id, request_id) {
        (Nullable::Null, _) | (_, Nullable::Null) => None,
        (Nullable::Value(id), _) => Some(id),
        (Nullable::Missing, Nullable::Value(request)) => Some(format!("req:{request}")),
        (Nullable::Missing, Nullable::Missing) => None,
    }
}

impl Usage<'_> {
    /// Anthropic's `input_tokens` already excludes cache reads and writes.
    fn priced(&self) -> Priced {
        let total = self.cache_creation_input_tokens.unwrap_or(0);
        let (write_5m, write_1h) = match &self.cache_creation {
            // Writes the split does not account for are the default lifetime
            // (5 minutes): none of the sum is ever dropped.
            Some(c) => {
                let hour = c.ephemeral_1h_input_tokens.unwrap_or(0);
                (c.ephemeral_5m_input_tokens.unwrap_or(0).max(total.saturating_sub(hour)), hour)
            }
            // Older lines only have the sum; 5 minutes was the only lifetime then.
            None => (total, 0),
        };
        Priced {
            input: self.input_tokens.unwrap_or(0),
            output: self.output_tokens.unwrap_or(0),
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_5m: write_5m,
            cache_write_1h: write_1h,
            reasoning: 0,
            web_searches: self
                .server_tool_use
                .as_ref()
                .and_then(|s| s.web_search_requests)
                .unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"parentUuid":"p","isSidechain":false,"cwd":"/w","sessionId":"s1","type":"assistant","requestId":"req_1","timestamp":"2026-11-01T08:52:10.933Z","message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"hi \"there\""}],"usage":{"input_tokens":4,"cache_creation_input_tokens":306,"cache_read_input_tokens":147449,"cache_creation":{"ephemeral_5m_input_tokens":6,"ephemeral_1h_input_tokens":300},"output_tokens":8,"server_tool_use":{"web_search_requests":1},"service_tier":"standard","speed":"fast"}}}"#;

    fn call(line: &str) -> Call {
        match parse_line(line.as_bytes()) {
            Parsed::Call(c) => c,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn reads_an_assistant_line() {
        let c = call(LINE);
        let p = &c.payload;
        assert_eq!(
            (p.key.as_str(), p.day.as_str(), p.model.as_str()),
            ("msg_1", "2026-11-01", "claude-opus-4-6")
        );
        assert_eq!(p.at.as_deref(), Some("2026-11-01T08:52:10.933Z"));
        assert_eq!((p.project.as_deref(), p.session.as_deref()), (Some("/w"), Some("s1")));
        assert_eq!(
            (p.service_tier.as_deref(), p.speed.as_deref()),
            (Some("standard"), Some("fast"))
        );
        let want = Priced {
            input: 4,
            output: 8,
            cache_read: 147449,
            cache_write_5m: 6,
            cache_write_1h: 300,
            reasoning: 0,
            web_searches: 1,
        };
        assert_eq!(p.priced, want);
        assert!(!c.sidechain);
    }

    #[test]
    fn keys_fall_back_to_the_request_id_only_when_the_id_is_absent() {
        assert_eq!(call(&LINE.replace(r#""id":"msg_1","#, "")).payload.key, "req:req_1");
        for (from, to) in [
            (r#""id":"msg_1""#, r#""id":null"#),
            (r#""requestId":"req_1""#, r#""requestId":null"#),
            (r#""model":"claude-opus-4-6""#, r#""model":null"#),
            (r#""timestamp":"2026-11-01T08:52:10.933Z""#, r#""timestamp":"soon""#),
        ] {
            assert_eq!(parse_line(LINE.replace(from, to).as_bytes()), Parsed::Skipped, "{to}");
        }
        let neither = LINE.replace(r#""id":"msg_1","#, "").replace(r#""requestId":"req_1","#, "");
        assert_eq!(parse_line(neither.as_bytes()), Parsed::Skipped);
    }

    #[test]
    fn ignores_other_lines_and_synthetic_messages() {
        let synthetic = LINE.replace("claude-opus-4-6", "<synthetic>");
        let user = LINE.replace(r#""type":"assistant""#, r#""type":"user""#);
        for line in [synthetic.as_str(), user.as_str(), r#"{"type":"summary","summary":"x"}"#] {
            assert_eq!(parse_line(line.as_bytes()), Parsed::Ignored);
        }
        assert_eq!(
            parse_line(b"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_trunc"),
            Parsed::Skipped
        );
    }

    /// ccusage's shape of an `agent_progress` line (its nested-progress
    /// tests), with the subagent's call inside.
    const PROGRESS: &str = r#"{"parentUuid":"p","isSidechain":false,"cwd":"/w","sessionId":"s1","version":"2.1.38","type":"progress","data":{"type":"agent_progress","message":{"type":"assistant","timestamp":"2026-03-10T06:00:01.000Z","message":{"model":"claude-haiku-4-5-20251001","id":"msg_haiku","type":"message","role":"assistant","content":[],"usage":{"input_tokens":20,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},"requestId":"req_haiku","uuid":"nested"}},"timestamp":"2026-03-10T06:00:01.001Z"}"#;

    #[test]
    fn reads_the_call_a_progress_line_nests() {
        let c = call(PROGRESS);
        let p = &c.payload;
        assert_eq!(
            (p.key.as_str(), p.model.as_str(), p.day.as_str()),
            ("msg_haiku", "claude-haiku-4-5-20251001", "2026-03-10")
        );
        // The nested line's own time, its parent's project and session.
        assert_eq!(p.at.as_deref(), Some("2026-03-10T06:00:01.000Z"));
        assert_eq!((p.project.as_deref(), p.session.as_deref()), (Some("/w"), Some("s1")));
        assert_eq!((p.priced.input, p.priced.output), (20, 2));
        assert!(c.sidechain);
        // Progress of other kinds, or without a call, counts nothing.
        let tool = r#"{"type":"progress","data":{"type":"bash_progress","output":"..."},"timestamp":"2026-03-10T06:00:01.001Z"}"#;
        assert_eq!(parse_line(tool.as_bytes()), Parsed::Ignored);
        let user =
            PROGRESS.replace(r#"{"type":"assistant","timestamp""#, r#"{"type":"user","timestamp""#);
        assert_eq!(parse_line(user.as_bytes()), Parsed::Ignored);
        // A nested assistant line without an identity is skipped (and counted).
        let broken =
            PROGRESS.replace(r#""id":"msg_haiku","#, "").replace(r#""requestId":"req_haiku","#, "");
        assert_eq!(parse_line(broken.as_bytes()), Parsed::Skipped);
    }

    #[test]
    fn a_data_field_of_another_shape_leaves_a_line_as_it_was() {
        let with_data = LINE.replacen(r#""cwd":"/w","#, r#""cwd":"/w","data":"text","#, 1);
        assert_eq!(call(&with_data).payload.key, "msg_1");
    }

    #[test]
    fn an_old_line_writes_its_whole_cache_creation_at_5m() {
        let old = LINE.replace(
            r#""cache_creation":{"ephemeral_5m_input_tokens":6,"ephemeral_1h_input_tokens":300},"#,
            "",
        );
        let p = call(&old).payload.priced;
        assert_eq!((p.cache_write_5m, p.cache_write_1h), (306, 0));
    }
}
