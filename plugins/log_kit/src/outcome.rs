//! What a log plugin's run produced, and how it becomes the plugin's answer
//! to the host.

use std::collections::BTreeMap;

use billing_records::{CallPayload, ProviderPayload, CALL, PROVIDER};
use plugin_api::{PluginCtx, PluginResult, Record, RunMetadata, RunRequest};
use serde_json::Value;

use crate::{Counts, Level, Log};

/// The result of one run of a log plugin, before it crosses the ABI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// One payload per call key, copies within the run already merged.
    pub calls: Vec<CallPayload>,
    /// The state for the next run.
    pub state: String,
    /// Whether the plugin stopped on its byte budget with more to read.
    pub more: bool,
    /// What was read.
    pub counts: Counts,
    /// Plugin-specific counters for the run metadata.
    pub extra: BTreeMap<String, u64>,
}

impl Outcome {
    /// The calls as records of kind `call`, keyed by their payload's key.
    pub fn records(&self) -> Vec<Record> {
        self.calls
            .iter()
            .map(|c| Record::new(CALL, &c.key, serde_json::to_string(c).unwrap_or_default()))
            .collect()
    }

    /// The run metadata: the state, `more`, and the counts.
    pub fn metadata(&self) -> RunMetadata {
        let mut extra = self.counts.extra();
        extra.insert("calls".into(), Value::from(self.calls.len()));
        extra.extend(self.extra.iter().map(|(k, v)| (k.clone(), Value::from(*v))));
        RunMetadata {
            state: Some(self.state.clone()),
            more: self.more,
            extra,
            ..Default::default()
        }
    }

    /// One line for the run's log.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let more = if self.more { "; more to read" } else { "" };
        format!(
            "{} calls from {} files ({} bytes), {} lines skipped{more}",
            self.calls.len(),
            c.files_read,
            c.bytes_read,
            c.lines_skipped
        )
    }
}

/// The body of a log plugin's `run`: calls its pure `collect` with the
/// host's log, and answers success with the records and metadata, or failed.
pub fn run_with(
    ctx: &PluginCtx<'_>,
    req: &RunRequest,
    provider: &ProviderPayload,
    collect: impl FnOnce(&RunRequest, Log<'_>) -> Result<Outcome, String>,
) -> PluginResult {
    let mut log = |level: Level, message: &str| match level {
        Level::Info => ctx.info(message),
        Level::Warn => ctx.warn(message),
        Level::Progress { done, total } => ctx.progress(done, total),
    };
    match collect(req, &mut log) {
        Ok(mut out) => {
            // The job's account label, when the operator gave one.
            if let Some(account) = &req.account {
                out.calls.iter_mut().for_each(|c| c.account = account.clone());
            }
            ctx.info(&out.summary());
            // How the observed provider is named when no collector says so.
            let mut records = out.records();
            let described = serde_json::to_string(provider).unwrap_or_default();
            records.push(Record::new(PROVIDER, &provider.provider, described));
            PluginResult::success(records, &out.metadata())
        }
        Err(e) => PluginResult::failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_carries_state_more_and_counts() {
        let out = Outcome {
            calls: vec![CallPayload::new("openai", "codex", "k", "2026-11-01", "gpt-5")],
            state: "{}".into(),
            more: true,
            counts: Counts { files_read: 2, bytes_read: 10, lines_skipped: 1 },
            extra: BTreeMap::from([("model_guessed".to_string(), 1)]),
        };
        let json: Value = serde_json::from_str(&out.metadata().to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"requests":0,"state":"{}","more":true,"files_read":2,"bytes_read":10,
                "lines_skipped":1,"calls":1,"model_guessed":1})
        );
        let records = out.records();
        assert_eq!((records[0].kind.as_str(), records[0].key.as_str()), ("call", "k"));
    }
}
