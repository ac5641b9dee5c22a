//! agent-host as a library: the kernel (plugins, isolation, runs), the
//! billing application (exact money, summaries, exports, alerts), the store
//! (the only SQLite code) and the command line that ties them together. The
//! `agent-host` binary is a thin `main` over [`app::run`].
//!
//! # Brief overview
//!
//! - [`kernel::loader`] finds plugins; [`kernel::run`] plans, runs (in a
//!   worker by default) and commits each run through a [`kernel::sink::RecordSink`].
//! - [`billing::BillingSink`] turns cost and usage records into the
//!   normalized rows of [`store::billing`].
//! - [`billing::summary`], [`billing::export`] and [`billing::alerts`] read
//!   them back through [`store::reports`].

pub mod app;
pub mod billing;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod envfile;
pub mod error;
pub mod jobfile;
pub mod kernel;
pub mod logging;
pub mod schedule;
pub mod store;
pub mod table;
pub mod trigger;
