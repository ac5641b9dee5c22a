//! The billing application: what collected cost and usage records mean.
//! Exact money, the normalized rows, and the sink that stores them. It reads
//! and writes only through the store, and never loads or runs plugins.

pub mod money;
pub mod records;
pub mod sink;

pub use sink::BillingSink;
