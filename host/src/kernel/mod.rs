//! The kernel: finds and loads plugins, runs each one isolated in a worker
//! process, hands it its capabilities (HTTP, log, declared secrets), and
//! persists runs, logs and coverage. It knows nothing about money: what the
//! records mean is the business of the [`sink::RecordSink`] it is given.

pub mod capabilities;
pub mod http;
pub mod invoke;
pub mod isolate;
pub mod loader;
pub mod lock;
pub mod plan;
pub mod protocol;
pub mod runner;
pub mod sink;
pub mod worker;
