//! One session file's running context (its session and project, from its
//! metadata line) and how a reply with tokens becomes a call. This is the
//! state kept per file between runs.

use billing_records::{CallPayload, Priced};
use serde::{Deserialize, Serialize};

use crate::parse::{parse_line, Record, Tokens};

/// Whose prices apply.
pub const PROVIDER: &str = "google";
/// The `source` of every call payload.
pub const SOURCE: &str = "gemini_cli";
/// The model of a reply that names none before any reply of its file
/// named one: not in the price table, so its calls show as unpriced.
pub const UNKNOWN_MODEL: &str = "unknown";

impl Tokens {
    /// As priced buckets. `input` includes the cached part
    /// (`cachedContentTokenCount` is a part of `promptTokenCount`) and
    /// excludes tool-use prompts; `output` excludes thoughts, which Google
    /// bills as output.
    pub fn priced(&self) -> Priced {
        let cached = self.cached.min(self.input);
        Priced {
            input: (self.input - cached).saturating_add(self.tool),
            cache_read: cached,
            output: self.output.saturating_add(self.thoughts),
            reasoning: self.thoughts,
            ..Priced::default()
        }
    }
}

/// What one session file has said so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id (`sessionId` of its first metadata line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Gemini's project identifier (`projectHash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The model of the file's latest reply that named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// What a line did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "returned once per line and consumed at once")]
pub enum Fed {
    /// A reply with tokens: one call (a later copy of the same message
    /// yields the same key).
    Call {
        /// The call.
        call: CallPayload,
        /// The reply named no model (its model is the file's latest, else
        /// [`UNKNOWN_MODEL`]).
        guessed: bool,
    },
    /// Context, or nothing of interest.
    Noted,
    /// A line that does not read, or a reply with tokens but no time.
    Skipped,
}

impl Session {
    /// Takes the file's next line.
    pub fn feed(&mut self, line: &[u8]) -> Fed {
        match parse_line(line) {
            None => Fed::Skipped,
            Some(Record::Other) => Fed::Noted,
            Some(Record::Meta { session, project }) => {
                // A resumed session rewrites its metadata: the file keeps
                // the identity it started with.
                if self.id.is_none() {
                    self.id = Some(session.into_owned());
                    self.project = project.map(|p| p.into_owned());
                }
                Fed::Noted
            }
            Some(Record::Reply { id, timestamp, model, tokens }) => {
                let Some((day, at)) = timestamp.as_deref().and_then(log_kit::utc_time) else {
                    return Fed::Skipped;
                };
                // An empty reply is recorded without its model
                // (`recordSyntheticMessage`); the chat's model is the one
                // its replies named last.
                let guessed = model.is_none();
                if let Some(m) = &model {
                    if self.model.as_deref() != Some(m) {
                        self.model = Some(m.to_string());
                    }
                }
                let model = self.model.as_deref().unwrap_or(UNKNOWN_MODEL);
                // Message ids are random UUIDs Gemini CLI keeps when it
                // re-appends, migrates or resumes a session: the id alone
                // names the call wherever its copies lie.
                let mut call = CallPayload::new(PROVIDER, SOURCE, id.into_owned(), day, model);
                call.at = Some(at);
                call.project = self.project.clone();
                call.session = self.id.clone();
                call.priced = tokens.priced();
                Fed::Call { call, guessed }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: &str, model: &str, t: [u64; 5]) -> String {
        let [i, o, c, th, tool] = t;
        format!(
            r#"{{"id":"{id}","timestamp":"2026-11-01T23:30:00.000-02:00","type":"gemini","content":"","thoughts":[],"tokens":{{"input":{i},"output":{o},"cached":{c},"thoughts":{th},"tool":{tool},"total":{}}},"model":"{model}"}}"#,
            i + o + th + tool
        )
    }

    fn call(fed: Fed) -> CallPayload {
        match fed {
            Fed::Call { call, .. } => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn a_reply_is_priced_with_cache_tool_and_thoughts_in_their_buckets() {
        let mut s = Session::default();
        let meta = br#"{"sessionId":"s1","projectHash":"p1","startTime":"x","lastUpdated":"x"}"#;
        assert_eq!(s.feed(meta), Fed::Noted);
        let c = call(s.feed(reply("m1", "gemini-2.5-pro", [1000, 50, 600, 30, 20]).as_bytes()));
        assert_eq!((c.key.as_str(), c.model.as_str()), ("m1", "gemini-2.5-pro"));
        assert_eq!((c.day.as_str(), c.at.as_deref()), ("2026-11-02", Some("2026-11-02T01:30:00Z")));
        assert_eq!((c.session.as_deref(), c.project.as_deref()), (Some("s1"), Some("p1")));
        let want =
            Priced { input: 420, cache_read: 600, output: 80, reasoning: 30, ..Priced::default() };
        assert_eq!(c.priced, want);
        assert_eq!((c.provider.as_str(), c.source.as_str()), ("google", "gemini_cli"));
    }

    #[test]
    fn more_cached_than_input_never_underflows() {
        let t = Tokens { input: 5, cached: 9, ..Tokens::default() };
        assert_eq!(t.priced(), Priced { cache_read: 5, ..Priced::default() });
    }

    #[test]
    fn the_first_metadata_is_the_files_own() {
        let mut s = Session::default();
        s.feed(br#"{"sessionId":"first","projectHash":"p1"}"#);
        s.feed(br#"{"sessionId":"resumed","projectHash":"p2"}"#);
        assert_eq!((s.id.as_deref(), s.project.as_deref()), (Some("first"), Some("p1")));
    }

    #[test]
    fn no_model_is_the_last_named_else_unknown_and_no_time_is_skipped() {
        let mut s = Session::default();
        let line = br#"{"id":"m3","timestamp":"2026-11-01T10:00:00Z","type":"gemini","tokens":{"input":3,"output":1,"cached":0,"total":4}}"#;
        assert!(
            matches!(s.feed(line), Fed::Call { call, guessed: true } if call.model == UNKNOWN_MODEL)
        );
        call(s.feed(reply("m5", "gemini-2.5-flash", [1, 1, 0, 0, 0]).as_bytes()));
        let again = String::from_utf8_lossy(line).replace("m3", "m6");
        assert!(
            matches!(s.feed(again.as_bytes()), Fed::Call { call, guessed: true } if call.model == "gemini-2.5-flash")
        );
        assert_eq!(s.model.as_deref(), Some("gemini-2.5-flash"), "kept in the state");
        let line = br#"{"id":"m4","timestamp":"soon","type":"gemini","model":"gemini-2.5-pro","tokens":{"input":3,"output":1,"cached":0,"total":4}}"#;
        assert_eq!(s.feed(line), Fed::Skipped);
        assert_eq!(s.feed(b"not json"), Fed::Skipped);
    }

    #[test]
    fn state_is_compact() {
        assert_eq!(serde_json::to_string(&Session::default()).unwrap(), "{}");
    }
}
