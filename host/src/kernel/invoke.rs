//! Calls a loaded plugin's `run` with its capabilities, and turns what comes
//! back into a [`WireResult`]. Used by the worker process and by
//! `--in-process` alike.

use abi_stable::std_types::RStr;
use plugin_api::{Host_TO, PluginCtx, PluginMod_Ref, RunStatus, TD_Opaque};

use super::capabilities::{LogFn, PluginHost};
use super::http::HttpClient;
use super::protocol::{Job, WireRecord, WireResult};

/// Runs `module` for `job`, logging through `log`.
pub fn invoke(module: PluginMod_Ref, job: &Job, log: LogFn) -> WireResult {
    let host = PluginHost::new(
        job.secrets.clone(),
        job.allowed_hosts.clone(),
        HttpClient::new(job.http.clone()),
        log,
    );
    let ctx = PluginCtx {
        host: Host_TO::from_ptr(&host, TD_Opaque),
        run_id: RStr::from(job.run_id.as_str()),
    };
    let result = (module.run())(&ctx, RStr::from(job.request_json.as_str()));
    let status = result.status;
    let mut wire = WireResult {
        status: status.0,
        error: result.error.as_ref().map(|e| host.redact(e.as_str())).into_option(),
        records: result
            .records
            .iter()
            .map(|r| WireRecord {
                kind: r.kind.to_string(),
                key: r.key.to_string(),
                payload: host.redact(r.payload_json.as_str()),
            })
            .collect(),
        metadata: result.metadata_json.to_string(),
    };
    if status.name().is_none() {
        wire.status = RunStatus::FAILED.0;
        wire.error = Some(format!("plugin returned an unknown status value {}", status.0));
        wire.records.clear();
    }
    wire
}
