//! One line of a Gemini CLI session file (`chats/*.jsonl`) → what it says.
//! Gemini CLI appends a JSON record per change: the session's metadata
//! first, then each message, again in full every time it changes (a reply's
//! tokens arrive after its text, tool calls after that), plus `$set`
//! (metadata updates) and `$rewindTo` records. Shapes from
//! `packages/core/src/services/chatRecordingService.ts` and
//! `chatRecordingTypes.ts` of google-gemini/gemini-cli.

use std::borrow::Cow;

use log_kit::Text;
use serde::Deserialize;

/// A reply's token usage, as Gemini's `usageMetadata` counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Tokens {
    /// `promptTokenCount`: the whole prompt, cached part included.
    #[serde(default)]
    pub input: u64,
    /// `candidatesTokenCount`: the reply, thoughts excluded.
    #[serde(default)]
    pub output: u64,
    /// `cachedContentTokenCount`: the prompt's cached part.
    #[serde(default)]
    pub cached: u64,
    /// `thoughtsTokenCount`: thinking, billed as output.
    #[serde(default)]
    pub thoughts: u64,
    /// `toolUsePromptTokenCount`: tool-use prompts, billed as input and
    /// not inside `input`.
    #[serde(default)]
    pub tool: u64,
}

/// What a line holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// The session's metadata (the first line, and the first after a
    /// rewrite).
    Meta {
        /// `sessionId`.
        session: Cow<'a, str>,
        /// `projectHash`: Gemini's identifier of the project folder.
        project: Option<Cow<'a, str>>,
    },
    /// A `gemini` message whose tokens are recorded.
    Reply {
        /// The message's `id`, the same in every copy of it.
        id: Cow<'a, str>,
        /// Its `timestamp`.
        timestamp: Option<Cow<'a, str>>,
        /// Its `model`.
        model: Option<Cow<'a, str>>,
        /// Its `tokens`.
        tokens: Tokens,
    },
    /// Anything else: user, info and error messages, a reply before its
    /// tokens, `$set` and `$rewindTo` records.
    Other,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default, rename = "sessionId")]
    session_id: Option<Text<'a>>,
    #[serde(borrow, default, rename = "projectHash")]
    project_hash: Option<Text<'a>>,
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    model: Option<Text<'a>>,
    #[serde(default)]
    tokens: Option<Tokens>,
}

/// Reads one line; `None` when it is not a JSON object of the known shape
/// (or a reply with tokens but no id, which could not be deduplicated).
pub fn parse_line(line: &[u8]) -> Option<Record<'_>> {
    let l: Line<'_> = serde_json::from_slice(line).ok()?;
    match (l.kind.as_ref().map(Text::as_str), l.session_id) {
        (Some("gemini"), _) => match l.tokens {
            Some(tokens) => Some(Record::Reply {
                id: l.id?.0,
                timestamp: l.timestamp.map(|t| t.0),
                model: l.model.map(|m| m.0).filter(|m| !m.trim().is_empty()),
                tokens,
            }),
            None => Some(Record::Other),
        },
        (None, Some(session)) => {
            Some(Record::Meta { session: session.0, project: l.project_hash.map(|p| p.0) })
        }
        _ => Some(Record::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_replies_and_the_rest() {
        let meta = br#"{"sessionId":"s1","projectHash":"ab12","startTime":"2026-11-01T09:00:00.000Z","lastUpdated":"2026-11-01T09:00:00.000Z","kind":"main"}"#;
        assert_eq!(
            parse_line(meta),
            Some(Record::Meta { session: "s1".into(), project: Some("ab12".into()) })
        );
        let reply = br#"{"id":"m1","timestamp":"2026-11-01T09:00:05.000Z","type":"gemini","content":"hi","thoughts":[],"tokens":{"input":10,"output":2,"cached":4,"thoughts":3,"tool":1,"total":16},"model":"gemini-2.5-pro"}"#;
        let want = Tokens { input: 10, output: 2, cached: 4, thoughts: 3, tool: 1 };
        assert_eq!(
            parse_line(reply),
            Some(Record::Reply {
                id: "m1".into(),
                timestamp: Some("2026-11-01T09:00:05.000Z".into()),
                model: Some("gemini-2.5-pro".into()),
                tokens: want,
            })
        );
        for other in [
            &br#"{"id":"m0","timestamp":"2026-11-01T09:00:00Z","type":"user","content":[{"text":"hi"}]}"#[..],
            br#"{"id":"m1","timestamp":"2026-11-01T09:00:05Z","type":"gemini","content":"hi","tokens":null,"model":"gemini-2.5-pro"}"#,
            br#"{"id":"m1","timestamp":"2026-11-01T09:00:05Z","type":"gemini","content":"hi"}"#,
            br#"{"$set":{"lastUpdated":"2026-11-01T09:00:06.000Z"}}"#,
            br#"{"$rewindTo":"m0"}"#,
        ] {
            assert_eq!(parse_line(other), Some(Record::Other), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn broken_lines_and_replies_without_an_id_do_not_read() {
        for bad in [
            &b"{\"id\":\"m1\",\"type\":\"gem"[..],
            b"[1,2]",
            br#"{"type":"gemini","tokens":{"input":1,"output":1,"cached":0,"total":2}}"#,
            br#"{"id":"m1","type":"gemini","tokens":{"input":"many"}}"#,
        ] {
            assert_eq!(parse_line(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn missing_counts_are_zero_and_a_blank_model_is_none() {
        let line =
            br#"{"id":"m2","type":"gemini","model":" ","tokens":{"input":7,"output":1,"total":8}}"#;
        let Some(Record::Reply { model, tokens, timestamp, .. }) = parse_line(line) else {
            panic!("a reply")
        };
        assert_eq!((model, timestamp), (None, None));
        assert_eq!(tokens, Tokens { input: 7, output: 1, ..Tokens::default() });
    }
}
