//! The billing application: what collected cost and usage records mean.
//! Exact money, the normalized rows, and the sink that stores them. It reads
//! and writes only through the store, and never loads or runs plugins.

pub mod alerts;
pub mod blocks;
pub mod breakdown;
pub mod dashboard;
pub mod email;
pub mod error;
pub mod estimate;
pub mod export;
pub mod machines;
pub mod money;
pub mod notify;
pub mod page;
pub mod period;
pub mod prices;
pub mod reconcile;
pub mod records;
pub mod report;
pub mod sessions;
pub mod sink;
pub mod storage;
pub mod summary;

pub use sink::BillingSink;
