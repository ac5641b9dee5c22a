//! `store migrate`: this home's history copied into another store, under
//! the home's run lock so no run writes the source meanwhile.

use std::io::Write;

use crate::cli::MigrateArgs;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::lock::RunLock;
use crate::store::{Location, Store};

/// Copies, verifies, and says what moved.
pub fn migrate(ctx: &Context, args: &MigrateArgs) -> Result<u8> {
    let from = ctx.store_location()?;
    let to = Location::parse(&args.to)?;
    if to == from {
        return Err(HostError::usage(format!("{to} is this home's store already")));
    }
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    let source = ctx.store()?;
    let mut target = Store::open_at(&to)?;
    target.set_machine(&ctx.machine());
    let copied = source.copy_into(&mut target, args.append)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let json =
            serde_json::json!({ "from": from.to_string(), "to": to.to_string(), "tables": copied });
        writeln!(out, "{json}").map_err(super::write_err)?;
        return Ok(ExitCode::OK);
    }
    writeln!(out, "copied {from} into {to}").map_err(super::write_err)?;
    for c in &copied {
        let sums: Vec<String> = c.sums.iter().map(|(m, s)| format!("{m} sum {s}")).collect();
        let sums = if sums.is_empty() { String::new() } else { format!("  ({})", sums.join(", ")) };
        writeln!(out, "  {:<18}{:>10} rows{sums}", c.table, c.rows).map_err(super::write_err)?;
    }
    writeln!(out, "verified: every table's row count and exact money sums match")
        .map_err(super::write_err)?;
    if args.append {
        return Ok(ExitCode::OK);
    }
    writeln!(
        out,
        "to use it from now on, set AGENT_STORE_URL={} in {} (or [store] url in agent-host.toml)",
        if matches!(to, Location::Postgres(_)) {
            "<the URL you gave>".to_string()
        } else {
            args.to.clone()
        },
        ctx.settings.env_file().display()
    )
    .map_err(super::write_err)?;
    Ok(ExitCode::OK)
}
