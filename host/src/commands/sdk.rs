//! `agent-host plugin new` and `agent-host plugin check`: the plugin SDK on
//! the command line. `new` writes a standalone cargo project from the
//! templates in `host/templates/plugin/`, with plugin-api's own sources
//! vendored (embedded in this binary, so the project builds against exactly
//! the contract of the host that made it). `check` reads a built file's
//! manifest in a sandboxed worker, as the loader does, and prints it.
//! Neither opens the database.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use plugin_api::Manifest;
use sha2::{Digest, Sha256};

use super::write_err;
use crate::cli::{PluginCheckArgs, PluginNewArgs};
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::loader::{self, Plugin};
use crate::kernel::pluginfile::{CheckedFile, Identity};
use crate::logging::printable;

/// The project's own files: path in the project, template.
const PROJECT: [(&str, &str); 4] = [
    ("Cargo.toml", include_str!("../../templates/plugin/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../../templates/plugin/lib.rs.tmpl")),
    ("tests/plugin.rs", include_str!("../../templates/plugin/plugin_test.rs.tmpl")),
    (".gitignore", include_str!("../../templates/plugin/gitignore.tmpl")),
];

/// plugin-api's sources, written as they are: it is not on crates.io yet.
const VENDORED: [(&str, &str); 5] = [
    ("vendor/plugin-api/Cargo.toml", API_MANIFEST),
    ("vendor/plugin-api/build.rs", include_str!("../../../plugin-api/build.rs")),
    ("vendor/plugin-api/README.md", include_str!("../../../plugin-api/README.md")),
    ("vendor/plugin-api/src/lib.rs", include_str!("../../../plugin-api/src/lib.rs")),
    ("vendor/plugin-api/src/testing.rs", include_str!("../../../plugin-api/src/testing.rs")),
];

const API_MANIFEST: &str = include_str!("../../../plugin-api/Cargo.toml");

/// What abi_stable writes before the version in every type layout of
/// plugin-api (`package;version`), so it is in every plugin file.
const LAYOUT_MARKER: &[u8] = b"plugin-api;";

/// What `export_plugin!` writes before the exact contract version (and a
/// NUL) since contract 1.4.
const CONTRACT_MARKER: &[u8] = plugin_api::CONTRACT_MARKER.as_bytes();

/// Names cargo or rustc refuse for a crate, or that shadow a standard crate.
const RESERVED: &str = "as async await break const continue crate dyn else enum extern false fn \
    for if impl in let loop match mod move mut pub ref return self static struct super trait \
    true type unsafe use where while abstract become box do final gen macro override priv try \
    typeof unsized virtual yield std core alloc proc_macro test build deps incremental \
    plugin_api abi_stable serde serde_json";

/// `plugin new NAME [--dir D]`: writes the project into D/NAME.
pub fn new(args: &PluginNewArgs) -> Result<u8> {
    check_name(&args.name)?;
    let parent = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = parent.join(&args.name);
    ensure_empty(&root)?;
    let upper = args.name.to_ascii_uppercase();
    let render = |t: &str| t.replace("{{name}}", &args.name).replace("{{NAME_UPPER}}", &upper);
    for (rel, template) in PROJECT {
        write_new(&root.join(rel), &render(template))?;
    }
    for (rel, text) in VENDORED {
        write_new(&root.join(rel), text)?;
    }
    print_next_steps(&args.name, &root).map_err(write_err)?;
    warn_if_withheld(&format!("{upper}_BASE_URL"));
    Ok(ExitCode::OK)
}

/// The host never hands a setting named like a secret to a plugin (e.g.
/// `MONKEY_STATS_BASE_URL`: `MONKEY` ends in `KEY`), so the example would
/// never get its base URL.
fn warn_if_withheld(setting: &str) {
    if crate::config::is_secret_name(setting) {
        eprintln!(
            "warning: agent-host takes {setting} for a secret's name and never hands it to a \
             plugin as a setting; rename it in src/lib.rs"
        );
    }
}

/// A crate name in snake_case that cargo accepts and the host can load.
fn check_name(name: &str) -> Result<()> {
    let shaped = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !shaped {
        return Err(HostError::usage(format!(
            "invalid plugin name {name:?}: use a crate name in snake_case (lowercase letters, \
             digits and '_', starting with a letter, at most 64), e.g. acme_usage"
        )));
    }
    if RESERVED.split_whitespace().any(|r| r == name) {
        return Err(HostError::usage(format!(
            "invalid plugin name {name:?}: it is a Rust keyword, a name cargo reserves or one of \
             the project's own dependencies"
        )));
    }
    Ok(())
}

/// The project folder may exist only if it is an empty folder.
fn ensure_empty(root: &Path) -> Result<()> {
    let refuse = |why: &str| {
        HostError::usage(format!("{} {why}", root.display()))
            .with_hint("choose another NAME or --dir, or remove what is there")
    };
    match std::fs::read_dir(root).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(refuse("already exists and is not empty")),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if root.is_dir() => Err(refuse(&format!("cannot be read: {e}"))),
        Err(_) => Err(refuse("already exists and is not a folder")),
    }
}

/// Writes a file that must not exist yet, creating its folders.
fn write_new(path: &Path, text: &str) -> Result<()> {
    let fail =
        |e: std::io::Error| HostError::output(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

fn print_next_steps(name: &str, root: &Path) -> std::io::Result<()> {
    let lib = format!("{}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let mut out = std::io::stdout().lock();
    writeln!(out, "created plugin project {name} in {}:", root.display())?;
    for (rel, _) in PROJECT {
        writeln!(out, "  {rel}")?;
    }
    writeln!(
        out,
        "  vendor/plugin-api/  (plugin-api {}'s sources: it is not on crates.io yet)",
        api_version(API_MANIFEST).unwrap_or("?")
    )?;
    writeln!(out, "\nnext steps:")?;
    writeln!(out, "  cd {}", root.display())?;
    writeln!(out, "  cargo test")?;
    writeln!(out, "  cargo build --release")?;
    writeln!(out, "  agent-host plugin check target/release/{lib}")?;
    writeln!(out, "  agent-host plugins install target/release/{lib}")?;
    let setting = format!("{}_BASE_URL", name.to_ascii_uppercase());
    writeln!(out, "  {setting}=https://api.example.com agent-host run --plugin {name}")
}

/// The `version` of a Cargo.toml's `[package]` (its first `version =` line).
fn api_version(cargo_toml: &str) -> Option<&str> {
    cargo_toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("version"))
        .and_then(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"'))
}

/// `plugin check FILE [--json]`: exit 3 when the file is not a usable plugin.
pub fn check(ctx: &Context, args: &PluginCheckArgs) -> Result<u8> {
    let opts = ctx.scan_options()?;
    let path = &args.file;
    let refuse = |why: String| HostError::config(format!("{}: {why}", path.display()));
    let (file, built_with) = open_plugin_file(path).map_err(refuse)?;
    let plugin = loader::check_file(path, file, &opts).map_err(|e| refuse(e.to_string()))?;
    let contract = Contract::of(&plugin.manifest, built_with);
    if !contract.missing_features().is_empty() {
        tracing::warn!("{}: {}", path.display(), contract.describe_features());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = check_json(&plugin, &contract);
        writeln!(out, "{doc:#}").map_err(write_err)?;
    } else {
        for (label, value) in check_lines(&plugin, &contract) {
            writeln!(out, "{label:<12} {value}").map_err(write_err)?;
        }
    }
    Ok(ExitCode::OK)
}

/// Opens the file as it is (unlike the plugins folder, where it lives is
/// not checked: `plugins install` copies it), hashes it, and reads the
/// plugin-api versions its type layouts name.
fn open_plugin_file(path: &Path) -> std::result::Result<(CheckedFile, Built), String> {
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).map_err(|e| format!("cannot open: {e}"))?.is_file() {
        return Err("not a regular file".into());
    }
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let (sha256, built) = digest(&mut file).map_err(|e| format!("cannot read: {e}"))?;
    Ok((CheckedFile { file, identity: Identity::of(&meta, sha256) }, built))
}

/// What a file says it was built against.
#[derive(Debug, Default)]
struct Built {
    /// The `MAJOR.MINOR` its type layouts name (one, normally).
    layouts: BTreeSet<String>,
    /// The exact contract version `export_plugin!` wrote (since 1.4).
    exact: Option<String>,
}

/// The file's sha256, and what it was built against, read in one pass.
fn digest(file: &mut File) -> std::io::Result<(String, Built)> {
    let mut hasher = Sha256::new();
    let mut versions = Built::default();
    let mut window: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        window.extend_from_slice(&buf[..n]);
        layout_versions(&window, &mut versions.layouts);
        if versions.exact.is_none() {
            versions.exact = exact_contract(&window);
        }
        // Keep enough of the end for a marker cut in two by the read.
        let keep = window.len().min(64);
        window.drain(..window.len() - keep);
    }
    Ok((crate::kernel::pluginfile::hex(&hasher.finalize()), versions))
}

/// Adds the `MAJOR.MINOR` after each [`LAYOUT_MARKER`] in `bytes`. The
/// patch is left out: nothing in the file marks where the version ends, so
/// the digits of whatever text follows it could pass for the patch.
fn layout_versions(bytes: &[u8], found: &mut BTreeSet<String>) {
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], LAYOUT_MARKER) {
        let start = at + i + LAYOUT_MARKER.len();
        found.extend(major_minor(&bytes[start..]));
        at = start;
    }
}

/// `MAJOR.MINOR` of a `MAJOR.MINOR.PATCH` at the start of `bytes`.
fn major_minor(bytes: &[u8]) -> Option<String> {
    let number = |p: &[u8]| (1..=5).contains(&p.len()) && p.iter().all(u8::is_ascii_digit);
    let mut parts = bytes.splitn(3, |b| *b == b'.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let patch_follows = parts.next()?.first().is_some_and(u8::is_ascii_digit);
    (number(major) && number(minor) && patch_follows)
        .then(|| format!("{}.{}", String::from_utf8_lossy(major), String::from_utf8_lossy(minor)))
}

/// The version after [`CONTRACT_MARKER`], up to its NUL: digits and dots
/// only, at most 32 of them.
fn exact_contract(bytes: &[u8]) -> Option<String> {
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], CONTRACT_MARKER) {
        at += i + CONTRACT_MARKER.len();
        let rest = &bytes[at..];
        let Some(end) = rest.iter().position(|b| *b == 0) else { continue };
        let version = &rest[..end];
        let shaped = (1..=32).contains(&version.len())
            && version.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        if shaped {
            return Some(String::from_utf8_lossy(version).into_owned());
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which contract a plugin file uses.
struct Contract {
    /// The plugin-api versions its type layouts name (one, normally).
    built_with: BTreeSet<String>,
    /// The exact contract version, when the file records it (since 1.4).
    exact: Option<String>,
    /// The host features its manifest relies on.
    features: Vec<String>,
    /// The manifest's JSON fields added after 1.0, with the version that
    /// added each.
    fields: Vec<(&'static str, &'static str)>,
}

impl Contract {
    fn of(m: &Manifest, built: Built) -> Contract {
        let mut fields = Vec::new();
        let mut add = |used: bool, since: &'static str, field: &'static str| {
            if used {
                fields.push((since, field));
            }
        };
        add(!m.read_paths.is_empty(), "1.1", "read_paths");
        add(m.setup.is_some(), "1.1", "setup");
        add(!m.providers.is_empty(), "1.1", "providers");
        add(m.read_paths.iter().any(|p| p.starts_with('$')), "1.3", "read_paths $SETTING");
        add(!m.observes.is_empty(), "1.3", "observes");
        add(!m.features.is_empty(), "1.4", "features");
        Contract {
            built_with: built.layouts,
            exact: built.exact,
            features: m.features.clone(),
            fields,
        }
    }

    /// The features this host does not offer.
    fn missing_features(&self) -> Vec<&str> {
        let offered = plugin_api::FEATURES;
        self.features.iter().map(String::as_str).filter(|f| !offered.contains(f)).collect()
    }

    /// The features line: each one used, and whether this host offers it.
    fn describe_features(&self) -> String {
        if self.features.is_empty() {
            return "none".into();
        }
        let missing = self.missing_features();
        let list = printable(&self.features.join(", "), false);
        if missing.is_empty() {
            format!("{list} (this host offers each)")
        } else {
            let missing = printable(&missing.join(", "), false);
            format!("{list} (this host lacks {missing}: calls to it get an error)")
        }
    }

    /// The newest JSON version the manifest relies on.
    fn json_version(&self) -> &'static str {
        self.fields.iter().map(|(since, _)| *since).max().unwrap_or("1.0")
    }

    fn describe(&self) -> String {
        let host = plugin_api::CONTRACT_VERSION;
        let built = match (&self.exact, self.built_with.is_empty()) {
            (Some(exact), _) => format!("plugin-api {exact} (this host: {host})"),
            (None, true) => {
                format!("plugin-api (version not found in the file; this host: {host})")
            }
            (None, false) => {
                let versions: Vec<&str> = self.built_with.iter().map(String::as_str).collect();
                format!(
                    "plugin-api {} (built before 1.4, which records the patch; this host: {host})",
                    versions.join(", ")
                )
            }
        };
        let fields: Vec<&str> = self.fields.iter().map(|(_, f)| *f).collect();
        let json = if fields.is_empty() {
            "manifest fields of 1.0".to_string()
        } else {
            format!("manifest fields of {} ({})", self.json_version(), fields.join(", "))
        };
        format!("{built}; {json}")
    }
}

fn none_or(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        printable(&items.join(", "), false)
    }
}

/// The human-readable manifest, one labelled line each.
fn check_lines(p: &Plugin, contract: &Contract) -> Vec<(&'static str, String)> {
    let m = &p.manifest;
    let mut lines = vec![
        ("plugin", printable(&format!("{} {}", m.name, m.version), false)),
        ("description", m.description.clone()),
        ("file", p.path.display().to_string()),
        ("sha256", p.sha256.clone()),
        ("contract", contract.describe()),
        ("features", contract.describe_features()),
        ("secrets", none_or(&m.secrets)),
        ("settings", none_or(&m.settings)),
        ("hosts", none_or(&m.hosts)),
        ("read paths", none_or(&m.read_paths)),
        ("providers", none_or(&m.providers)),
        ("observes", none_or(&m.observes)),
    ];
    if !m.requires_one_of.is_empty() {
        lines.push(("needs one of", none_or(&m.requires_one_of)));
    }
    if let Some(setup) = &m.setup {
        lines.push(("setup", printable(setup, false)));
    }
    let grant = match p.standing.refusal(&m.name) {
        None => "granted (its request is covered by this home's grant)".to_string(),
        Some(why) => why,
    };
    lines.push(("grant", grant));
    let mut params = m.params.iter().map(|s| match &s.default {
        Some(d) => printable(&format!("{} (default {d}): {}", s.name, s.description), false),
        None => printable(&format!("{}: {}", s.name, s.description), false),
    });
    // One parameter a line, the first beside the label.
    lines.push(("params", params.next().unwrap_or_else(|| "none".into())));
    lines.extend(params.map(|p| ("", p)));
    lines.push(("daily", if m.daily { "yes" } else { "no" }.into()));
    lines
}

fn check_json(p: &Plugin, contract: &Contract) -> serde_json::Value {
    let m = &p.manifest;
    serde_json::json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "file": p.path,
        "sha256": p.sha256,
        "contract": {
            "plugin_api": contract.built_with,
            "version": contract.exact,
            "host": plugin_api::CONTRACT_VERSION,
            "host_plugin_api": api_version(API_MANIFEST),
            "features": contract.features,
            "host_features": plugin_api::FEATURES,
            "missing_features": contract.missing_features(),
            "manifest_json": contract.json_version(),
            "manifest_json_fields": contract.fields.iter().map(|(_, f)| *f).collect::<Vec<_>>(),
        },
        "secrets": m.secrets,
        "requires_one_of": m.requires_one_of,
        "setup": m.setup,
        "settings": m.settings,
        "hosts": m.hosts,
        "read_paths": m.read_paths,
        "providers": m.providers,
        "observes": m.observes,
        "params": m.params,
        "daily": m.daily,
        "granted": p.standing.grant().is_some(),
        "refused": p.standing.refusal(&m.name),
    })
}

/// `plugin WORD` for any other WORD: the valid subcommands, and `plugins`
/// for the commands that live there.
pub fn unknown(words: &[String]) -> HostError {
    let word = words.first().map(String::as_str).unwrap_or_default();
    let word = printable(word, false);
    let err = if matches!(word.as_str(), "list" | "install") {
        HostError::usage(format!(
            "unrecognized subcommand '{word}' for `agent-host plugin`; a similar subcommand \
             exists: 'plugins' (`agent-host plugins {word}`)"
        ))
    } else {
        HostError::usage(format!(
            "unrecognized subcommand '{word}' for `agent-host plugin` (it has `new` and `check`)"
        ))
    };
    err.with_hint("see `agent-host plugin --help`, or `agent-host plugins --help`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_crate_names() {
        for ok in ["acme_usage", "a", "x2", "my_plugin_2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "acme-usage", "2x", "_x", "a b", "fn", "test", "std", "é"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::USAGE, "{bad}");
            assert!(!e.to_string().contains('\n'));
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn templates_name_the_plugin_and_vendor_a_standalone_api() {
        assert!(PROJECT.iter().any(|(_, t)| t.contains("{{name}}")));
        assert!(PROJECT.iter().any(|(_, t)| t.contains("{{NAME_UPPER}}")));
        assert!(!API_MANIFEST.contains(".workspace"), "the vendored crate inherits nothing");
        assert!(!API_MANIFEST.contains("workspace = true"));
        // The crate's source API is 2.x; its contract (the ABI) stays 1.x.
        assert!(api_version(API_MANIFEST).is_some_and(|v| v.starts_with("2.")));
        assert!(plugin_api::CONTRACT_VERSION.starts_with("1."));
        assert!(VENDORED.iter().any(|(p, _)| p.ends_with("build.rs")));
    }

    #[test]
    fn layout_versions_are_major_minor_only() {
        let mut found = BTreeSet::new();
        let text = b"xx plugin-api;1.0.00123456789 plugin-api;1.12.3src plugin-api;junk";
        layout_versions(text, &mut found);
        layout_versions(b"plugin-api-old;9.9.9 plugin-api;2.0 plugin-api;3.x.1", &mut found);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["1.0", "1.12"]);
    }

    #[test]
    fn digest_finds_a_marker_cut_by_a_read() {
        let mut tmp = tempfile::tempfile().unwrap();
        let mut bytes = vec![0u8; (1 << 20) - 5];
        bytes.extend_from_slice(b"plugin-api;1.4.2x");
        tmp.write_all(&bytes).unwrap();
        std::io::Seek::rewind(&mut tmp).unwrap();
        let (sha, built) = digest(&mut tmp).unwrap();
        let versions = built.layouts;
        assert_eq!(sha.len(), 64);
        assert_eq!(versions.into_iter().collect::<Vec<_>>(), ["1.4"]);
    }

    #[test]
    fn contract_lists_fields_newer_than_1_0() {
        let mut m = Manifest::from_json(r#"{"name":"x","version":"1"}"#).unwrap();
        assert_eq!(Contract::of(&m, Built::default()).json_version(), "1.0");
        m.read_paths = vec!["$LOGS".into()];
        m.settings = vec!["LOGS".into()];
        let built = Built { layouts: BTreeSet::from(["1.0".to_string()]), exact: None };
        let c = Contract::of(&m, built);
        assert_eq!(c.json_version(), "1.3");
        let text = c.describe();
        let host = plugin_api::CONTRACT_VERSION;
        let want = format!(
            "plugin-api 1.0 (built before 1.4, which records the patch; this host: {host}); \
             manifest fields of 1.3"
        );
        assert!(text.starts_with(&want), "{text}");
        assert_eq!(c.describe_features(), "none");

        m.features = vec!["host.features".into(), "host.teleport".into()];
        let exact = Built { layouts: BTreeSet::new(), exact: Some("1.4.0".into()) };
        let c = Contract::of(&m, exact);
        assert!(c
            .describe()
            .starts_with(&format!("plugin-api 1.4.0 (this host: {host}); manifest fields of 1.4")));
        assert_eq!(c.missing_features(), ["host.teleport"]);
        assert!(c.describe_features().contains("this host lacks host.teleport"));
    }

    #[test]
    fn the_exact_contract_is_read_up_to_its_nul() {
        let stamp = plugin_api::CONTRACT_STAMP.as_bytes();
        assert_eq!(exact_contract(stamp).as_deref(), Some(plugin_api::CONTRACT_VERSION));
        assert_eq!(exact_contract(b"xxagent-plugin-contract=1.4.0\0yy").as_deref(), Some("1.4.0"));
        assert_eq!(exact_contract(b"agent-plugin-contract=1.4.0"), None, "no NUL: cut by a read");
        assert_eq!(exact_contract(b"agent-plugin-contract=1.x\0"), None);
    }

    #[test]
    fn plugin_list_points_at_plugins() {
        let e = unknown(&["list".to_string()]);
        assert!(e.to_string().contains("a similar subcommand exists: 'plugins'"));
        assert_eq!(e.exit_code(), ExitCode::USAGE);
    }
}
