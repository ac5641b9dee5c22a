//! `agent-host records`: what a plugin stored outside the billing
//! application (any kind it does not know), e.g. `status_watch`'s incidents.

use std::io::Write;

use super::write_err;
use crate::cli::RecordsArgs;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};

/// `records prune`: deletes a plugin's records beyond the newest `keep`,
/// or last updated before `before`, and says how many went.
pub fn prune(
    ctx: &Context,
    plugin: &str,
    kind: Option<&str>,
    keep: Option<usize>,
    before: Option<chrono::NaiveDate>,
) -> Result<u8> {
    let mut store = ctx.store()?;
    known(ctx, &store, plugin)?;
    let tx = store.transaction()?;
    let before = before.map(|d| d.to_string());
    let gone = tx.prune_records(plugin, kind, keep, before.as_deref())?;
    let (left, bytes) = tx.records_held(plugin)?;
    tx.commit()?;
    let name = crate::logging::printable(plugin, false);
    writeln!(
        std::io::stdout().lock(),
        "deleted {gone} records of {name}; {left} left ({bytes} bytes of payload)"
    )
    .map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// A name no installed plugin, job or stored run has is a usage error
/// listing the names there are.
fn known(ctx: &Context, store: &crate::store::Store, name: &str) -> Result<()> {
    let mut names = store.run_names()?;
    // A folder that cannot be read still leaves the names runs stored.
    if let Ok(catalog) = ctx.catalog() {
        let loaded = catalog.plugins.iter().chain(&catalog.ungranted);
        names.extend(loaded.map(|p| p.manifest.name.clone()));
    }
    if names.iter().any(|n| n == name) {
        return Ok(());
    }
    names.sort();
    names.dedup();
    let shown = crate::logging::printable(name, false);
    let hint = if names.is_empty() {
        "no plugin is installed or has run in this home".to_string()
    } else {
        format!("plugins and jobs: {}", names.join(", "))
    };
    Err(HostError::usage(format!("unknown plugin {shown}")).with_hint(hint))
}

/// Lists a plugin's (or job's) generic records, newest first.
pub fn list(ctx: &Context, args: &RecordsArgs) -> Result<u8> {
    let plugin = args.plugin.as_deref().unwrap_or_default();
    if args.limit == 0 || args.limit > 100_000 {
        return Err(HostError::usage(format!("--limit {} is not 1 to 100000", args.limit)));
    }
    let store = ctx.store()?;
    known(ctx, &store, plugin)?;
    let rows = store.generic_records(plugin, args.kind.as_deref(), args.limit)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                // The payload is the plugin's JSON object; shown as such.
                let payload: serde_json::Value =
                    serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null);
                serde_json::json!({
                    "plugin": r.plugin, "kind": r.kind, "key": r.key,
                    "updated_at": r.updated_at, "run_id": r.run_id, "payload": payload,
                })
            })
            .collect();
        writeln!(out, "{:#}", serde_json::Value::Array(list)).map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if rows.is_empty() {
        let name = crate::logging::printable(plugin, false);
        writeln!(out, "no records of {name} (has it run? see `agent-host runs`)")
            .map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let text = crate::logging::printable(&r.payload, false);
            let short: String = text.chars().take(100).collect();
            // Kind and key are the plugin's text: shown without escapes.
            vec![
                r.updated_at.chars().take(19).collect(),
                crate::logging::printable(&r.kind, false),
                crate::logging::printable(r.key.as_deref().unwrap_or_default(), false),
                if text.chars().count() > 100 { format!("{short}…") } else { short },
            ]
        })
        .collect();
    use crate::table::{render, Align};
    let header = [
        ("Updated", Align::Left),
        ("Kind", Align::Left),
        ("Key", Align::Left),
        ("Payload (--json for all of it)", Align::Left),
    ];
    write!(out, "{}", render(2, &header, &table)).map_err(write_err)?;
    Ok(ExitCode::OK)
}
