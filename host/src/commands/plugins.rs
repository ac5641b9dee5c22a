//! `agent-host plugins list`.

use std::io::Write;

use super::write_err;
use crate::app::Context;
use crate::error::{ExitCode, Result};
use crate::kernel::loader;

/// Lists loaded plugins and rejected files.
pub fn list(ctx: &Context, json: bool) -> Result<u8> {
    let catalog = loader::scan(&ctx.plugins_dir)?;
    let mut out = std::io::stdout().lock();
    if json {
        let plugins: Vec<_> = catalog
            .plugins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.manifest.name,
                    "version": p.manifest.version,
                    "description": p.manifest.description,
                    "file": p.path,
                    "secrets": p.manifest.secrets,
                    "settings": p.manifest.settings,
                    "hosts": p.manifest.hosts,
                    "params": p.manifest.params,
                    "daily": p.manifest.daily,
                })
            })
            .collect();
        let doc = serde_json::json!({ "plugins": plugins, "rejected": catalog.rejected });
        writeln!(out, "{doc:#}").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "no plugins loaded from {}", ctx.plugins_dir.display()).map_err(write_err)?;
    }
    for p in &catalog.plugins {
        writeln!(out, "{:<24} {:<10} {}", p.manifest.name, p.manifest.version, p.path.display())
            .map_err(write_err)?;
    }
    for r in &catalog.rejected {
        writeln!(out, "rejected {}: {}", r.path.display(), r.reason).map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}
