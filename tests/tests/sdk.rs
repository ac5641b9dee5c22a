//! The plugin SDK as a plugin author meets it, outside this workspace:
//! `plugin new` writes a project that builds on its own, passes its own
//! harness test, installs, checks and runs against a local HTTP listener;
//! bad names, taken folders and files that are not plugins are refused in
//! one line.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;

use util::Home;

/// The contract this host speaks (plugin-api's `CONTRACT_VERSION`).
const CONTRACT: &str = "1.4.0";

fn text(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs cargo in `project` with its own target folder, and its stdout.
fn cargo(project: &Path, target: &Path, args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let out = Command::new(cargo)
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {args:?} failed:\n{stderr}");
    eprintln!("cargo {args:?}: {:.1} s", started.elapsed().as_secs_f64());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A listener answering one request with `body` as JSON; the thread returns
/// the request line it got.
fn serve_once(body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        for line in BufReader::new(stream.try_clone().unwrap()).lines() {
            let line = line.unwrap();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).unwrap();
        head.into_iter().next().unwrap_or_default()
    });
    (url, server)
}

#[test]
fn a_new_plugin_builds_tests_installs_checks_and_runs_outside_the_workspace() {
    // Both under the system's temporary folder: outside this workspace.
    let projects = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let mut home = Home::with_plugins(&[]);

    let new = home.run(&["plugin", "new", "hello_sdk", "--dir", text(projects.path())]);
    new.expect_code(0);
    assert!(new.stdout().contains("cargo build --release"), "{}", new.stdout());
    let install_step = "agent-host plugins install target/release/libhello_sdk.so";
    assert!(new.stdout().contains(install_step), "{}", new.stdout());
    let project = projects.path().join("hello_sdk");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "vendor/plugin-api/build.rs",
        "tests/plugin.rs",
        ".gitignore",
        "vendor/plugin-api/Cargo.toml",
        "vendor/plugin-api/README.md",
        "vendor/plugin-api/src/lib.rs",
        "vendor/plugin-api/src/testing.rs",
    ] {
        assert!(project.join(file).is_file(), "{file} was not created");
    }

    // Built on its own: its own lock file and target folder. abi_stable is
    // compiled once, in release; the tests reuse it (`--release`).
    cargo(&project, target.path(), &["build", "--release"]);
    assert!(project.join("Cargo.lock").is_file(), "the project has its own lock file");
    let tests = cargo(&project, target.path(), &["test", "--release"]);
    assert!(tests.contains("test result: ok. 3 passed"), "{tests}");

    let lib = target.path().join("release/libhello_sdk.so");
    home.run(&["plugins", "install", text(&lib)]).expect_code(0);
    let check = home.run(&["plugin", "check", text(&lib)]);
    check.expect_code(0);
    let shown = check.stdout();
    let contract = format!(
        "contract     plugin-api {CONTRACT} (this host: {CONTRACT}); manifest fields of 1.0"
    );
    for line in [
        "plugin       hello_sdk 0.1.0",
        &contract,
        "features     none",
        "settings     HELLO_SDK_BASE_URL",
        "secrets      none",
        "daily        no",
    ] {
        assert!(shown.lines().any(|l| l == line), "no line {line:?} in:\n{shown}");
    }
    let doc = home.run(&["plugin", "check", "--json", text(&lib)]).json();
    assert_eq!(doc["name"], "hello_sdk");
    assert_eq!(doc["contract"]["plugin_api"][0], CONTRACT[..3]);
    assert_eq!(doc["contract"]["version"], CONTRACT);
    assert_eq!(doc["settings"][0], "HELLO_SDK_BASE_URL");

    let (url, server) = serve_once(r#"{"ok":true,"n":7}"#);
    home.env("HELLO_SDK_BASE_URL", &url);
    home.run(&["run", "--plugin", "hello_sdk"]).expect_code(0);
    assert_eq!(server.join().unwrap(), "GET /status HTTP/1.1");
    // Keyed by the host's day, which the test home pins.
    let payload = home.text(
        "SELECT payload FROM records WHERE plugin_name = 'hello_sdk' AND kind = 'example' \
         AND key = '2025-09-01'",
    );
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["answer"]["n"], 7);
    assert_eq!(payload["url"], format!("{url}/status"));
}

/// The stderr lines of a refusal: one `error:` line, perhaps a hint.
fn assert_one_line(r: &util::Run) {
    let err = r.stderr();
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("error: ")), "{err}");
    assert!(lines.iter().skip(1).all(|l| l.starts_with("hint: ")), "{err}");
}

#[test]
fn bad_names_and_taken_folders_are_refused() {
    let home = Home::with_plugins(&[]);
    let dir = tempfile::tempdir().unwrap();
    for name in ["HelloSdk", "hello-sdk", "2fast", "fn", "test", "hello sdk", ""] {
        let r = home.run(&["plugin", "new", name, "--dir", text(dir.path())]);
        r.expect_code(2);
        assert_one_line(&r);
        assert!(r.stderr().contains("invalid plugin name"), "{}", r.stderr());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was written");

    std::fs::create_dir(dir.path().join("taken")).unwrap();
    std::fs::write(dir.path().join("taken/notes.txt"), "mine").unwrap();
    let taken = home.run(&["plugin", "new", "taken", "--dir", text(dir.path())]);
    taken.expect_code(2);
    assert_one_line(&taken);
    assert!(taken.stderr().contains("already exists and is not empty"), "{}", taken.stderr());
    assert_eq!(std::fs::read_dir(dir.path().join("taken")).unwrap().count(), 1);

    // An empty folder is used as it is.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    home.run(&["plugin", "new", "empty", "--dir", text(dir.path())]).expect_code(0);
    assert!(dir.path().join("empty/src/lib.rs").is_file());

    // A name whose setting the host would withhold is written, with a warning.
    let warned = home.run(&["plugin", "new", "monkey_stats", "--dir", text(dir.path())]);
    warned.expect_code(0);
    assert!(
        warned.stderr().contains("MONKEY_STATS_BASE_URL for a secret's name"),
        "{}",
        warned.stderr()
    );

    let slip = home.run(&["plugin", "list"]);
    slip.expect_code(2);
    assert!(slip.stderr().contains("a similar subcommand exists: 'plugins'"), "{}", slip.stderr());
}

#[test]
fn plugin_check_refuses_what_is_not_a_plugin() {
    let home = Home::with_plugins(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("libjunk.so");
    std::fs::write(&junk, "not a library").unwrap();
    let missing = dir.path().join("libmissing.so");
    let incompatible = util::plugin_lib("incompatible");
    for (file, why) in [
        (&junk, "file too short"),
        (&missing, "cannot open"),
        (&incompatible, "incompatible plugin-api"),
    ] {
        let r = home.run(&["plugin", "check", text(file)]);
        r.expect_code(3);
        assert_one_line(&r);
        let err = r.stderr();
        assert!(err.starts_with(&format!("error: {}: ", file.display())), "{err}");
        assert!(err.contains(why), "{err}");
    }

    // A workspace plugin, for the fields the generated one leaves empty.
    let misbehaving = util::plugin_lib("misbehaving");
    let r = home.run(&["plugin", "check", text(&misbehaving)]);
    r.expect_code(0);
    assert!(r.stdout().contains("secrets      MISBEHAVE_TOKEN"), "{}", r.stdout());
    assert!(r.stdout().contains("params       mode: how to misbehave"), "{}", r.stdout());
}

/// A plugin project of its own (outside this workspace) named `name`, whose
/// `Cargo.toml` has `deps` and whose `src/lib.rs` is `lib`.
fn project(root: &Path, name: &str, deps: &str, lib: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n{deps}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    dir
}

/// The manifest with the builder; asks the host what it supports.
const BUILDER_STYLE: &str = r#"
use plugin_api::{export_plugin, Manifest, ParamSpec, PluginCtx, PluginResult, Record, RunMetadata, RunRequest};

fn manifest() -> Manifest {
    Manifest::new("builder_style", "0.1.0")
        .description("built with the builder")
        .params([ParamSpec::new("mode", "what to do").with_default("ask")])
        .features(["host.features"])
}

fn run(ctx: &PluginCtx<'_>, _req: RunRequest) -> PluginResult {
    let answer = match ctx.host_features() {
        Some(f) => serde_json::json!({ "contract": f.contract, "features": f.features }),
        None => serde_json::Value::Null,
    };
    let mut meta = RunMetadata::default();
    meta.requests = 0;
    PluginResult::success(vec![Record::new("features", "host", answer.to_string())], &meta)
}

export_plugin! { manifest: manifest, run: run }
"#;

/// Struct literals ending in `..Default::default()`; plugin-api alone.
const LITERAL_STYLE: &str = r##"
use plugin_api::{Manifest, ParamSpec, PluginCtx, PluginResult, Record, RunMetadata, RunRequest};

fn manifest() -> Manifest {
    Manifest {
        name: "literal_style".into(),
        version: "0.1.0".into(),
        params: vec![ParamSpec { name: "mode".into(), description: "what to do".into(), ..Default::default() }],
        ..Default::default()
    }
}

fn run(_ctx: &PluginCtx<'_>, _req: RunRequest) -> PluginResult {
    let meta = RunMetadata { requests: 0, ..Default::default() };
    PluginResult::success(vec![Record::new("example", "k", r#"{"style":"literal"}"#.to_string())], &meta)
}

plugin_api::export_plugin! { manifest: manifest, run: run }
"##;

/// A plugin as written against plugin-api 1.0.0: every manifest field
/// named, abi_stable a dependency of its own. It asks the host through
/// the generic `call`, which 1.0 already had.
const OLD_RELEASE: &str = r#"
use plugin_api::{Manifest, PluginCtx, PluginResult, Record, RunMetadata, RunRequest};

fn manifest() -> Manifest {
    Manifest {
        name: "old_release".into(),
        version: "0.1.0".into(),
        description: "built against plugin-api 1.0.0".into(),
        secrets: vec![],
        settings: vec![],
        requires_one_of: vec![],
        hosts: vec![],
        params: vec![],
        daily: false,
        read_paths: vec![],
        setup: None,
        providers: vec![],
        observes: vec![],
    }
}

fn run(ctx: &PluginCtx<'_>, _req: RunRequest) -> PluginResult {
    let answer = ctx.host.call("host.features".into(), "{}".into()).into_result();
    let payload = match answer {
        Ok(json) => json.to_string(),
        Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
    };
    PluginResult::success(vec![Record::new("features", "host", payload)], &RunMetadata::default())
}

plugin_api::export_plugin! { manifest: manifest, run: run }
"#;

#[test]
fn plugins_of_every_style_and_of_the_previous_release_build_load_and_run() {
    let root = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let api = workspace.join("plugin-api");
    let api_dep = format!("plugin-api = {{ path = {:?} }}\n", text(&api));
    let old_api = workspace.join("tests/fixtures/plugin-api-1.0.0");
    let old_dep = format!(
        "plugin-api = {{ path = {:?} }}\nabi_stable = \"0.11\"\nserde_json = \"1\"\n",
        text(&old_api)
    );
    let builder = project(
        root.path(),
        "builder_style",
        &format!("{api_dep}serde_json = \"1\"\n"),
        BUILDER_STYLE,
    );
    // plugin-api and nothing else: export_plugin! needs no abi_stable here.
    let literal = project(root.path(), "literal_style", &api_dep, LITERAL_STYLE);
    let old = project(root.path(), "old_release", &old_dep, OLD_RELEASE);
    for dir in [&builder, &literal, &old] {
        cargo(dir, target.path(), &["build"]);
    }
    let literal_toml = std::fs::read_to_string(literal.join("Cargo.toml")).unwrap();
    assert!(!literal_toml.contains("abi_stable") && !literal_toml.contains("serde"));

    let lib = |name: &str| target.path().join(format!("debug/lib{name}.so"));
    let home = Home::with_plugins(&[]);
    for name in ["builder_style", "literal_style", "old_release"] {
        home.run(&["plugins", "install", text(&lib(name))]).expect_code(0);
    }

    let check = home.run(&["plugin", "check", text(&lib("builder_style"))]).expect_code(0).stdout();
    let line = format!("contract     plugin-api {CONTRACT} (this host: {CONTRACT}); manifest fields of 1.4 (features)");
    assert!(check.lines().any(|l| l == line), "no {line:?} in:\n{check}");
    assert!(
        check.lines().any(|l| l == "features     host.features (this host offers each)"),
        "{check}"
    );
    assert!(check.contains("params       mode (default ask): what to do"), "{check}");

    // The previous release's binary: its contract named, and it loads.
    let check = home.run(&["plugin", "check", text(&lib("old_release"))]).expect_code(0).stdout();
    let line = format!(
        "contract     plugin-api 1.0 (built before 1.4, which records the patch; this host: {CONTRACT}); \
         manifest fields of 1.0"
    );
    assert!(check.lines().any(|l| l == line), "no {line:?} in:\n{check}");
    let listed = home.run(&["plugins", "list", "--json"]).expect_code(0).stdout();
    assert!(!listed.contains("incompatible"), "{listed}");

    for name in ["builder_style", "literal_style", "old_release"] {
        home.run(&["run", "--plugin", name]).expect_code(0);
    }
    let answer = |plugin: &str| -> serde_json::Value {
        let sql = format!(
            "SELECT payload FROM records WHERE plugin_name = '{plugin}' AND kind = 'features'"
        );
        serde_json::from_str(&home.text(&sql)).unwrap()
    };
    // Both ask the host what it supports, and get the same answer.
    for plugin in ["builder_style", "old_release"] {
        let doc = answer(plugin);
        assert_eq!(doc["contract"], CONTRACT, "{plugin}: {doc}");
        assert_eq!(doc["features"][0], "host.features", "{plugin}: {doc}");
        assert_eq!(doc["features"][1], "host.progress", "{plugin}: {doc}");
    }
    let literal_record = home.text(
        "SELECT payload FROM records WHERE plugin_name = 'literal_style' AND kind = 'example'",
    );
    assert_eq!(literal_record, r#"{"style":"literal"}"#);
}
