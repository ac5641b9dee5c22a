//! The kernel: finds plugins, runs each one in a sandboxed worker process
//! (plugin code never runs in the host), performs its HTTP under the host's
//! policy, hands it only its declared secrets, and persists runs, logs and
//! coverage. It knows nothing about money: what the
//! records mean is the business of the [`sink::RecordSink`] it is given.

pub mod capabilities;
pub mod destination;
pub mod error;
pub mod grants;
pub mod http;
pub mod isolate;
pub mod job;
pub mod ledger;
pub mod loader;
pub mod lock;
pub mod manifest;
pub mod pacer;
pub mod plan;
pub mod pluginfile;
pub mod protocol;
pub mod run;
pub mod sandbox;
pub mod sink;
pub mod status;
pub mod worker;
