//! The calls of one run, one per key: the copies of a call (streamed rows,
//! a resumed session's copies, sidechain replays) merged before they leave
//! the plugin, the way the host merges them across runs.

use std::collections::BTreeMap;

use billing_records::CallPayload;

use crate::Call;

/// Calls by key.
#[derive(Debug, Default)]
pub struct Calls {
    by_key: BTreeMap<String, Call>,
}

impl Calls {
    /// Adds one copy. Counts keep the larger value of each field (a streamed
    /// response is written as it grows); the other fields are the first
    /// copy's, unless that was a sidechain's and this one is not: a `/btw`
    /// replay carries the parent's usage under its own session and time,
    /// and ccusage likewise keeps the main-chain copy.
    pub fn add(&mut self, call: Call) -> bool {
        let Some(kept) = self.by_key.get_mut(&call.payload.key) else {
            self.by_key.insert(call.payload.key.clone(), call);
            return true;
        };
        let priced = kept.payload.priced.max(call.payload.priced);
        if kept.sidechain && !call.sidechain {
            *kept = call;
        }
        kept.payload.priced = priced;
        false
    }

    /// How many distinct calls were seen.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The merged calls, by key.
    pub fn into_payloads(self) -> Vec<CallPayload> {
        self.by_key.into_values().map(|c| c.payload).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_records::Priced;

    fn copy(session: &str, sidechain: bool, output: u64, cache_read: u64) -> Call {
        let mut payload = CallPayload::new("anthropic", "claude_code", "msg_1", "2026-11-01", "m");
        payload.session = Some(session.into());
        payload.priced = Priced { output, cache_read, ..Priced::default() };
        Call { payload, sidechain }
    }

    #[test]
    fn keeps_the_largest_counts_and_the_main_chain_copy() {
        let mut calls = Calls::default();
        calls.add(copy("side", true, 5, 100));
        calls.add(copy("main", false, 3, 50));
        calls.add(copy("later", false, 9, 10));
        calls.add(copy("side-again", true, 1, 1));
        assert_eq!(calls.len(), 1);
        let got = calls.into_payloads().remove(0);
        assert_eq!(got.session.as_deref(), Some("main"));
        assert_eq!((got.priced.output, got.priced.cache_read), (9, 100));
    }
}
