//! Where a run's records go. The kernel does not know what they mean: an
//! application provides a [`RecordSink`] that checks them (pure) and writes
//! them inside the run's transaction. [`generic`] checks a record the
//! application does not claim, for the kernel's generic `records` table.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::ledger::{self, GenericRecord};
use super::protocol::WireRecord;

/// What a sink knows about the run it stores.
#[derive(Debug, Clone)]
pub struct SinkInput<'a> {
    /// The plugin's name.
    pub plugin: &'a str,
    /// The run id.
    pub run_id: &'a str,
    /// The days asked for, for daily plugins.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// The days the data is complete for (rows of other days are not replaced).
    pub complete_days: &'a [NaiveDate],
    /// The plugin's metadata JSON.
    pub metadata: &'a str,
    /// When the data was collected (RFC 3339, UTC).
    pub collected_at: &'a str,
    /// The data the plugin's manifest claims (its `providers`): an
    /// application refuses records for anything else.
    pub claims: &'a [String],
    /// The data it observes without owning (its manifest's `observes`),
    /// shared with other plugins: an application may accept a narrower
    /// kind of record for it.
    pub observes: &'a [String],
    /// The account label the job gives its records, when it sets one: an
    /// application refuses records labelled otherwise, so two jobs of one
    /// plugin can never write each other's rows.
    pub account: Option<&'a str>,
}

impl SinkInput<'_> {
    /// Whether a stored row of `provider` and `account` is this run's to
    /// replace: a provider its plugin claims, and its job's account when set.
    pub fn owns(&self, provider: &str, account: &str) -> bool {
        self.claims.iter().any(|c| c == provider) && self.account.is_none_or(|a| a == account)
    }
}

/// Counts of what a sink wrote, and what the application wants said about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows inserted or updated.
    pub written: usize,
    /// Stored rows whose value changed (revisions).
    pub changed: usize,
    /// One line each, shown with the run's result.
    pub notes: Vec<String>,
}

/// A sink's checked records, and the days it will not store.
#[derive(Debug)]
pub struct Checked<B> {
    /// The checked records, ready to write.
    pub batch: B,
    /// Days whose records hold a value that cannot be stored, with the
    /// first reason: they are left out and asked for again next run.
    pub rejected: BTreeMap<NaiveDate, String>,
}

/// Checks records, without a store: pure, so a run's records are judged
/// before its transaction opens.
pub trait RecordCheck {
    /// The checked records, ready to write.
    type Batch;

    /// Checks every record. A bad value costs its day (listed in
    /// [`Checked::rejected`]); a record that breaks the contract rejects the
    /// run with a reason.
    fn prepare(
        &self,
        input: &SinkInput<'_>,
        records: Vec<WireRecord>,
    ) -> Result<Checked<Self::Batch>, String>;
}

/// Stores checked records in a store `L`: a sink states what it needs of
/// the store as bounds on `L` (the billing application's writes), the
/// kernel only that `L` keeps its [`ledger::Ledger`].
pub trait RecordSink<L: ?Sized>: RecordCheck {
    /// Writes the batch inside the run's transaction, open on `store`.
    fn write(
        &self,
        store: &L,
        input: &SinkInput<'_>,
        batch: Self::Batch,
    ) -> ledger::Result<WriteStats>;
}

/// Checks one record for the generic table: a kind and a JSON object payload.
pub fn generic(index: usize, r: WireRecord) -> Result<GenericRecord, String> {
    if r.kind.trim().is_empty() {
        return Err(format!("record {index}: empty kind"));
    }
    match serde_json::from_str::<serde_json::Value>(&r.payload) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => return Err(format!("record {index} ({}): payload is not a JSON object", r.kind)),
        Err(e) => return Err(format!("record {index} ({}): payload is not JSON: {e}", r.kind)),
    }
    Ok(GenericRecord {
        kind: r.kind,
        key: (!r.key.is_empty()).then_some(r.key),
        payload: r.payload,
    })
}
