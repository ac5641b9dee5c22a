//! The state a log plugin hands back to the host between runs: per file, its
//! identity, how far it was read and what its next line needs to know.

use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{Level, Log};

/// The version of the state's shape. A state of another version is dropped
/// and every file read again, which the host's merge by key makes harmless.
pub const STATE_VERSION: u32 = 1;

/// How far one file was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize + Default + PartialEq",
    deserialize = "T: Deserialize<'de> + Default"
))]
pub struct Entry<T> {
    /// The file's device: with `ino`, tells a replaced file from a grown one.
    pub dev: u64,
    /// The file's inode.
    pub ino: u64,
    /// Bytes consumed: the end of the last complete line read.
    pub off: u64,
    /// What the plugin carries from one line to the next (empty for none).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ctx: T,
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

impl<T: Default> Entry<T> {
    /// A file not read yet.
    pub fn new(dev: u64, ino: u64) -> Self {
        Entry { dev, ino, off: 0, ctx: T::default() }
    }
}

/// Every file's [`Entry`], by path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize + Default + PartialEq",
    deserialize = "T: Deserialize<'de> + Default"
))]
pub struct LogState<T> {
    /// [`STATE_VERSION`].
    pub v: u32,
    /// Path → entry.
    pub files: BTreeMap<String, Entry<T>>,
    /// What a run that stopped on its budget left to read: the files of
    /// its list from the one it stopped in, in order. The run the host
    /// chains next reads these ([`LogState::remaining`]) instead of walking
    /// the folders again, and keeps the entries of the files before them as
    /// they are (read in this import a moment ago) without asking the disk
    /// about each again: one pass over the logs, however many runs it
    /// takes. A run that reads to the end of its list leaves it empty, so
    /// the next one walks and looks at every file. Added to version 1
    /// without a bump: a state without it reads as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub todo: Vec<String>,
    /// Bytes the import under way has to read in all, counted at its walk
    /// (what each file holds beyond where it was read), for the progress
    /// bar; 0 when no import is under way.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub import_total: u64,
    /// Bytes its runs have read so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub import_done: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl<T> Default for LogState<T> {
    fn default() -> Self {
        LogState {
            v: STATE_VERSION,
            files: BTreeMap::new(),
            todo: Vec::new(),
            import_total: 0,
            import_done: 0,
        }
    }
}

impl<T: Serialize + DeserializeOwned + Default + PartialEq> LogState<T> {
    /// The state a previous run returned; a missing one is empty, and one
    /// that does not read (another version, a hand-edited text) is logged
    /// and dropped rather than failing the run.
    pub fn load(text: Option<&str>, log: Log<'_>) -> Self {
        let Some(text) = text else { return Self::default() };
        match serde_json::from_str::<Self>(text) {
            Ok(state) if state.v == STATE_VERSION => state,
            Ok(state) => {
                log(
                    Level::Info,
                    &format!("state version {} replaced: reading every log again", state.v),
                );
                Self::default()
            }
            Err(e) => {
                log(
                    Level::Warn,
                    &format!("previous state unreadable ({e}): reading every log again"),
                );
                Self::default()
            }
        }
    }

    /// The files an import stopped on its budget still has to read, in
    /// order: the list to hand to [`crate::scan()`] instead of walking the
    /// folders again; `None` when no import is under way.
    pub fn remaining(&self) -> Option<Vec<std::path::PathBuf>> {
        (!self.todo.is_empty()).then(|| self.todo.iter().map(Into::into).collect())
    }

    /// The state as the text the host keeps.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    struct Ctx {
        model: Option<String>,
    }

    #[test]
    fn round_trips_and_omits_empty_context() {
        let mut state = LogState::<Ctx>::default();
        state.files.insert("/a".into(), Entry { dev: 1, ino: 2, off: 3, ctx: Ctx::default() });
        let ctx = Ctx { model: Some("m".into()) };
        state.files.insert("/b".into(), Entry { dev: 1, ino: 4, off: 5, ctx });
        let text = state.to_json();
        assert_eq!(
            text,
            r#"{"v":1,"files":{"/a":{"dev":1,"ino":2,"off":3},"/b":{"dev":1,"ino":4,"off":5,"ctx":{"model":"m"}}}}"#
        );
        assert_eq!(LogState::<Ctx>::load(Some(&text), &mut |_, _| {}), state);
    }

    #[test]
    fn bad_or_old_state_starts_over() {
        let mut seen = Vec::new();
        let mut log = |level: Level, msg: &str| seen.push((level, msg.to_string()));
        assert_eq!(LogState::<()>::load(Some("not json"), &mut log), LogState::default());
        assert_eq!(
            LogState::<()>::load(Some(r#"{"v":0,"files":{}}"#), &mut log),
            LogState::default()
        );
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, Level::Warn);
    }
}
