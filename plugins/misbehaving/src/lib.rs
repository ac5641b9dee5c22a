//! A plugin that misbehaves on purpose, to prove the kernel contains it.
//! The mode comes from `--param mode=…` or the `MISBEHAVE_MODE` setting:
//! `ok`, `panic`, `segv`, `exit`, `abort`, `hang`, `garbage` (an unknown
//! status), `bad-records` (a `cost` record with a wrong type), `wrong-types`,
//! `invalid-date`, `huge` (a 3 MiB payload), `print` (junk on stdout),
//! `secrets` (asks for an undeclared secret and logs its own).

use plugin_api::{
    Manifest, ParamSpec, PluginCtx, PluginResult, Record, RunMetadata, RunRequest, RunStatus,
};

fn manifest() -> Manifest {
    // The struct-literal style, ending in `..Default::default()`: fields added
    // to the manifest later never break it.
    Manifest {
        name: "misbehaving".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "misbehaves on purpose (kernel tests)".into(),
        secrets: vec!["MISBEHAVE_TOKEN".into()],
        settings: vec!["MISBEHAVE_MODE".into()],
        params: vec![ParamSpec {
            name: "mode".into(),
            description: "how to misbehave".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn note(text: &str) -> Record {
    Record::new("note", "last", serde_json::json!({ "text": text }).to_string())
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let mode = req
        .params
        .get("mode")
        .or(req.settings.get("MISBEHAVE_MODE"))
        .cloned()
        .unwrap_or_else(|| "ok".into());
    ctx.info(&format!("misbehaving in mode {mode}"));
    match mode.as_str() {
        "panic" => panic!("boom: deliberate panic"),
        "segv" => {
            // SAFETY: none; the point is to crash the process.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            PluginResult::failed("unreachable")
        }
        "exit" => std::process::exit(3),
        "abort" => std::process::abort(),
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        "garbage" => {
            let mut r = PluginResult::success(vec![note("garbage")], &RunMetadata::default());
            r.status = RunStatus(77);
            r
        }
        "huge" => PluginResult::success(
            vec![Record::new("note", "big", serde_json::json!({ "text": "x".repeat(3 << 20) }).to_string())],
            &RunMetadata::default(),
        ),
        "wrong-types" => PluginResult::success(
            vec![Record::new(
                "usage",
                "k",
                r#"{"provider":"openai","day":"2025-08-01","source":"completions","metrics":{"input_tokens":"many"}}"#.into(),
            )],
            &RunMetadata::default(),
        ),
        "invalid-date" => PluginResult::success(
            vec![Record::new(
                "cost",
                "k",
                r#"{"provider":"openai","day":"2025-13-01","amount":"1","unit":"major","currency":"usd"}"#.into(),
            )],
            &RunMetadata::default(),
        ),
        "bad-records" => PluginResult::success(
            vec![Record::new(
                "cost",
                "k",
                r#"{"provider":"openai","day":"2025-02-30","amount":1.5}"#.into(),
            )],
            &RunMetadata::default(),
        ),
        "print" => {
            println!("{{\"t\":\"result\",\"status\":0,\"error\":null,\"records\":[],\"metadata\":\"{{}}\"}}");
            println!("not a protocol line");
            PluginResult::success(vec![note("printed")], &RunMetadata::default())
        }
        "secrets" => {
            let undeclared = ctx.secret("OPENAI_ADMIN_KEY");
            let own = ctx.secret("MISBEHAVE_TOKEN").unwrap_or_default();
            ctx.info(&format!("my token is {own}"));
            let text = format!("undeclared secret given: {}", undeclared.is_some());
            PluginResult::success(vec![note(&text)], &RunMetadata::default())
        }
        _ => PluginResult::success(vec![note("ok")], &RunMetadata::default()),
    }
}

plugin_api::export_plugin! { manifest: manifest, run: run }
