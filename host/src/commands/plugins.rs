//! `agent-host plugins list`, `install`, `grant` and `revoke`: what each
//! plugin asks for, and what the operator grants it.

use std::io::Write;

use super::write_err;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::grants::{check_read_path, Grants, ReadPathError, Request};
use crate::kernel::loader::{self, Plugin};
use crate::kernel::manifest::ReadPath;
use crate::kernel::sandbox;
use crate::table::{render, Align};

/// A plugin's entry in `plugins list --json`: what it declares, what it asks
/// for, and whether its grant covers it.
fn plugin_json(ctx: &Context, p: &Plugin) -> serde_json::Value {
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
        "granted": p.standing.grant().is_some(),
        "grant": p.standing.grant(),
        "refused": p.standing.refusal(&p.manifest.name),
    })
}

/// What a plugin asks for, one indented line.
fn request_line(p: &Plugin) -> String {
    let parts: Vec<String> = p
        .request()
        .describe()
        .into_iter()
        .filter(|(_, v)| v != "-")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let asks = if parts.is_empty() { "nothing".to_string() } else { parts.join("; ") };
    crate::logging::printable(&format!("  {} asks for: {asks}", p.manifest.name), false)
}

/// Lists loaded plugins, rejected files, and the sandbox the workers get.
pub fn list(ctx: &Context, json: bool) -> Result<u8> {
    let catalog = ctx.catalog()?;
    let protections = sandbox::probe();
    let mut out = std::io::stdout().lock();
    if json {
        let plugins: Vec<_> = catalog.plugins.iter().map(|p| plugin_json(ctx, p)).collect();
        let ungranted: Vec<_> = catalog.ungranted.iter().map(|p| plugin_json(ctx, p)).collect();
        let doc = serde_json::json!({
            "plugins": plugins,
            "ungranted": ungranted,
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
    for p in catalog.plugins.iter().chain(&catalog.ungranted) {
        writeln!(out, "{}", request_line(p)).map_err(write_err)?;
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
/// (through a temporary file renamed into place), and what it asks for is
/// shown and granted for exactly that file. A file that is not a usable
/// plugin, or asks to read what no plugin may, is refused with the reason,
/// and nothing of it is copied or granted.
pub fn install(ctx: &Context, files: &[std::path::PathBuf]) -> Result<u8> {
    let opts = ctx.scan_options()?;
    // A home from before grants keeps what already ran there, whatever
    // is installed now.
    if ctx.plugins_dir.is_dir() {
        ctx.grant_what_ran_before(&opts)?;
    }
    let mut grants = load_grants(ctx)?;
    let dir = &ctx.plugins_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| HostError::output(format!("cannot create {}: {e}", dir.display())))?;
    let mut out = std::io::stdout().lock();
    for path in files {
        // Exit 3, as `plugin check` says of the same file.
        let fail = |why: String| HostError::config(format!("{}: {why}", path.display()));
        if !std::fs::metadata(path).map_err(|e| fail(format!("cannot open: {e}")))?.is_file() {
            return Err(fail("not a regular file".into()));
        }
        let mut file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let (manifest, read_paths) =
            loader::inspect(&file, &opts).map_err(|e| fail(e.to_string()))?;
        check_setting_paths(ctx, &read_paths).map_err(|e| fail(e.to_string()))?;
        let sha256 = sha256_of(&mut file).map_err(|e| fail(format!("cannot read: {e}")))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("so");
        let dest = dir.join(format!("lib{}.{ext}", manifest.name));
        // Exactly the bytes the worker read: the same open file, from its start.
        copy_into_place(&mut file, &dest)?;
        let request = Request::of(&manifest);
        grants.grant(&manifest.name, &sha256, &request, &chrono::Utc::now().to_rfc3339());
        grants.save().map_err(|e| HostError::output(e.to_string()))?;
        writeln!(out, "installed {} {} -> {}", manifest.name, manifest.version, dest.display())
            .map_err(write_err)?;
        show_grant(&mut out, ctx, &manifest.name, &request)?;
    }
    Ok(ExitCode::OK)
}

/// `plugins grant NAME… | --all`: grants each plugin what it asks for, for
/// its current file, after showing it.
pub fn grant(ctx: &Context, names: &[String], all: bool) -> Result<u8> {
    let catalog = ctx.catalog()?;
    let mut grants = load_grants(ctx)?;
    let known: Vec<&Plugin> = catalog.plugins.iter().chain(&catalog.ungranted).collect();
    let chosen: Vec<&Plugin> = if all {
        known.clone()
    } else {
        names
            .iter()
            .map(|n| known.iter().copied().find(|p| p.manifest.name == *n).ok_or(n))
            .collect::<std::result::Result<_, _>>()
            .map_err(|n| {
                let why = catalog
                    .rejected
                    .iter()
                    .find(|r| r.plugin.as_deref() == Some(n.as_str()))
                    .map(|r| format!(": {}", r.reason))
                    .unwrap_or_default();
                HostError::usage(format!("no usable plugin named {n:?} to grant{why}")).with_hint(
                    "install it with `agent-host plugins install FILE`; `agent-host plugins list` \
                     shows what is there",
                )
            })?
    };
    let mut out = std::io::stdout().lock();
    for p in chosen {
        check_setting_paths(ctx, &p.read_paths).map_err(|why| {
            HostError::config(format!("{} is not granted: {why}", p.manifest.name))
        })?;
        grants.grant(&p.manifest.name, &p.sha256, &p.request(), &chrono::Utc::now().to_rfc3339());
        writeln!(
            out,
            "granted {} (file sha256:{})",
            p.manifest.name,
            &p.sha256[..12.min(p.sha256.len())]
        )
        .map_err(write_err)?;
        show_grant(&mut out, ctx, &p.manifest.name, &p.request())?;
    }
    grants.save().map_err(|e| HostError::output(e.to_string()))?;
    Ok(ExitCode::OK)
}

/// `plugins revoke NAME…`: the plugins are not run until granted again.
pub fn revoke(ctx: &Context, names: &[String]) -> Result<u8> {
    let mut grants = load_grants(ctx)?;
    for n in names {
        if !grants.revoke(n) {
            let granted: Vec<&str> = grants.names().collect();
            return Err(HostError::usage(format!("{n:?} has no grant to revoke"))
                .with_hint(format!("granted plugins: {}", granted.join(", "))));
        }
    }
    grants.save().map_err(|e| HostError::output(e.to_string()))?;
    writeln!(std::io::stdout().lock(), "revoked {}", names.join(", ")).map_err(write_err)?;
    Ok(ExitCode::OK)
}

fn load_grants(ctx: &Context) -> Result<Grants> {
    Grants::load(&ctx.home.grants_path()).map_err(|e| {
        HostError::config(e.to_string())
            .with_hint("fix or remove the file, then grant the plugins again")
    })
}

/// What a grant gives, and which settings are withheld whatever is granted.
fn show_grant(out: &mut dyn Write, ctx: &Context, name: &str, request: &Request) -> Result<()> {
    for (kind, value) in request.describe() {
        let line = crate::logging::printable(&format!("  {kind:<11} {value}"), false);
        writeln!(out, "{line}").map_err(write_err)?;
    }
    for s in &request.settings {
        if ctx.settings.is_secret(s, &[]) {
            writeln!(out, "  note: setting {s} names a secret; it is never handed to {name}")
                .map_err(write_err)?;
        }
    }
    Ok(())
}

/// Read paths named by settings, resolved with the settings in force: none
/// may reach the home, the plugins folder, a system folder or `/`.
fn check_setting_paths(
    ctx: &Context,
    read_paths: &[ReadPath],
) -> std::result::Result<(), ReadPathError> {
    let protected = ctx.protected_paths();
    for rp in read_paths {
        if let ReadPath::Setting { .. } = rp {
            for path in rp.resolve(|n| ctx.settings.get(n).map(str::to_string))? {
                check_read_path(&path, &protected)?;
            }
        }
    }
    Ok(())
}

/// The sha256 of a file's content, hex, read from its start.
fn sha256_of(file: &mut std::fs::File) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Seek;
    file.rewind()?;
    let mut hasher = Sha256::new();
    std::io::copy(file, &mut hasher)?;
    Ok(crate::kernel::pluginfile::hex(&hasher.finalize()))
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
