//! agent-host as a library: the kernel (plugins, isolation, runs), the
//! billing application (exact money, summaries, exports, alerts), the store
//! (the only code that names SQLite or PostgreSQL) and the command line that
//! ties them together. The `agent-host` binary is a thin `main` over
//! [`app::run`].
//!
//! # Brief overview
//!
//! - [`kernel::loader`] finds plugins; [`kernel::run`] plans, runs (in a
//!   worker by default) and commits each run through a
//!   [`kernel::sink::RecordSink`], into any store that keeps the kernel's
//!   [`kernel::ledger::Ledger`].
//! - [`billing::BillingSink`] turns cost and usage records into normalized
//!   rows through [`billing::storage::BillingWrites`].
//! - [`billing::summary`], [`billing::export`] and [`billing::alerts`] read
//!   them back through [`billing::storage::BillingReads`].
//! - [`store::Store`] implements those traits on SQLite and PostgreSQL; the
//!   commands open it ([`context`]) and hand it down.

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
