//! `agent-host plugins list`.

use std::io::Write;

use super::write_err;
use crate::app::Context;
use crate::error::{ExitCode, Result};
use crate::kernel::sandbox;

/// Lists loaded plugins, rejected files, and the sandbox the workers get.
pub fn list(ctx: &Context, json: bool) -> Result<u8> {
    let catalog = ctx.catalog()?;
    let protections = sandbox::probe();
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
                    "sha256": p.sha256,
                    "secrets": p.manifest.secrets,
                    "settings": p.manifest.settings,
                    "hosts": p.manifest.hosts,
                    "read_paths": p.read_paths,
                    "providers": p.manifest.providers,
                    "params": p.manifest.params,
                    "daily": p.manifest.daily,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "plugins": plugins,
            "rejected": catalog.rejected,
            "sandbox": protections,
        });
        writeln!(out, "{doc:#}").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "no plugins loaded from {}", ctx.plugins_dir.display()).map_err(write_err)?;
    }
    for p in &catalog.plugins {
        writeln!(
            out,
            "{:<24} {:<10} sha256:{}  {}",
            p.manifest.name,
            p.manifest.version,
            p.sha256.get(..12).unwrap_or(&p.sha256),
            p.path.display()
        )
        .map_err(write_err)?;
    }
    for r in &catalog.rejected {
        writeln!(out, "rejected {}: {}", r.path.display(), r.reason).map_err(write_err)?;
    }
    let label = if protections.complete { "sandbox" } else { "sandbox (incomplete)" };
    writeln!(out, "{label}: {}", protections.describe()).map_err(write_err)?;
    Ok(ExitCode::OK)
}
