//! `agent-host plugins list` and `agent-host plugins install`.

use std::io::Write;

use super::write_err;
use crate::app::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::{loader, sandbox};
use crate::table::{render, Align};

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
                    // Each declared path and what it grants with these settings.
                    "read_paths": p.read_paths.iter().map(|r| {
                        let get = |n: &str| ctx.settings.get(n).map(str::to_string);
                        let granted = r.resolve(get).unwrap_or_default();
                        (r.declared().to_string(), granted)
                    }).collect::<std::collections::BTreeMap<_, _>>(),
                    "providers": p.manifest.providers,
                    "observes": p.manifest.observes,
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
    } else {
        let rows: Vec<Vec<String>> = catalog
            .plugins
            .iter()
            .map(|p| {
                vec![
                    p.manifest.name.clone(),
                    p.manifest.version.clone(),
                    format!("sha256:{}", p.sha256.get(..12).unwrap_or(&p.sha256)),
                    p.path.display().to_string(),
                ]
            })
            .collect();
        let header = [
            ("Plugin", Align::Left),
            ("Version", Align::Left),
            ("File hash", Align::Left),
            ("File", Align::Left),
        ];
        write!(out, "{}", render(0, &header, &rows)).map_err(write_err)?;
    }
    for r in &catalog.rejected {
        writeln!(out, "rejected {}: {}", r.path.display(), r.reason).map_err(write_err)?;
    }
    let label = if protections.complete { "sandbox" } else { "sandbox (incomplete)" };
    writeln!(out, "{label}: {}", protections.describe()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// Installs plugin files: each is read by a sandboxed worker first, then
/// copied into the plugins folder as `lib<name>.<ext>` with mode 0755
/// (through a temporary file renamed into place). A file that is not a
/// usable plugin is refused with the reason, and nothing of it is copied.
pub fn install(ctx: &Context, files: &[std::path::PathBuf]) -> Result<u8> {
    let opts = ctx.scan_options()?;
    let dir = &ctx.plugins_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| HostError::output(format!("cannot create {}: {e}", dir.display())))?;
    let mut out = std::io::stdout().lock();
    for path in files {
        let fail = |why: String| HostError::usage(format!("{}: {why}", path.display()));
        let mut file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let manifest = loader::inspect(&file, &opts).map_err(fail)?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("so");
        let dest = dir.join(format!("lib{}.{ext}", manifest.name));
        // Exactly the bytes the worker read: the same open file, from its start.
        copy_into_place(&mut file, &dest)?;
        writeln!(out, "installed {} {} -> {}", manifest.name, manifest.version, dest.display())
            .map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

/// Copies `from` to `to` with mode 0755, through a temporary file in the
/// same folder renamed into place, so no half-copied plugin is ever seen.
fn copy_into_place(from: &mut std::fs::File, to: &std::path::Path) -> Result<()> {
    use std::io::Seek;
    let dir = to.parent().unwrap_or(std::path::Path::new("."));
    let fail = |e: std::io::Error| HostError::output(format!("cannot write {}: {e}", to.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    from.rewind().map_err(fail)?;
    std::io::copy(from, tmp.as_file_mut()).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(fail)?;
    }
    tmp.persist(to).map_err(|e| fail(e.error))?;
    Ok(())
}
