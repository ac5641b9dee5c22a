//! The MCP server's tools: their JSON schemas, their arguments checked and
//! turned into the commands' own arguments, and their results, which are
//! the JSON of [`super::views`], exactly what the `--json` commands print.

use serde_json::{json, Map, Value};

use super::mcp::{code, ToolBox};
use super::views::{self, Json};
use crate::cli::{BlocksArgs, By, PeriodArgs, RunsArgs, SummaryArgs};
use crate::context::Context;
use crate::error::{ErrorKind, HostError};

/// The tools, over one home.
pub struct Tools<'a> {
    /// The resolved home, settings and database.
    pub ctx: &'a Context,
}

type Args = Map<String, Value>;
type Refusal = (i64, String);

fn period_schema() -> Map<String, Value> {
    let props = json!({
        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$",
                  "description": "A calendar month, YYYY-MM (not with from/to). Default: the month of yesterday."},
        "from": {"type": "string", "format": "date", "description": "First UTC day, YYYY-MM-DD (with to)."},
        "to": {"type": "string", "format": "date", "description": "Last UTC day, inclusive, YYYY-MM-DD (with from)."},
    });
    props.as_object().cloned().unwrap_or_default()
}

fn schema(mut props: Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(more) = extra {
        props.extend(more);
    }
    json!({"type": "object", "properties": props, "additionalProperties": false})
}

fn tool(name: &str, title: &str, description: &str, input: Value) -> Value {
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": input,
        "annotations": {"readOnlyHint": true, "openWorldHint": false, "idempotentHint": true},
    })
}

fn tool_list() -> Value {
    let tools = [
        tool(
            "summary",
            "Spend summary",
            "Billed spend and tokens by provider over a period (the output of `agent-host summary --json`): \
             totals, days covered and missing, budget and forecast, the estimate from local logs, \
             a per-day list (`daily`), ISO-week rows (`weekly: true`), a breakdown (`by`), or per \
             agent session (`by: session`, estimated from local logs).",
            schema(
                period_schema(),
                json!({
                    "provider": {"type": "string", "description": "Only this provider, as shown (e.g. OpenAI)."},
                    "by": {"type": "string", "enum": ["provider", "model", "project", "account", "session"]},
                    "daily": {"type": "boolean", "description": "Per-day rows (always in `daily`)."},
                    "weekly": {"type": "boolean", "description": "Add ISO-week rows, Monday first."},
                    "monthly": {"type": "boolean", "description": "Per-month rows (from `daily`)."},
                }),
            ),
        ),
        tool(
            "blocks",
            "5-hour blocks",
            "5-hour blocks of local-log calls (the window Claude's plans reset on) with the gaps \
             between them, and the active block's burn rate and projection (`agent-host blocks --json`). Estimated.",
            schema(
                Map::new(),
                json!({
                    "from": {"type": "string", "format": "date", "description": "First UTC day of calls (default: all)."},
                    "to": {"type": "string", "format": "date", "description": "Last UTC day of calls (default: today)."},
                    "active": {"type": "boolean", "description": "Only the block under way."},
                }),
            ),
        ),
        tool(
            "reconcile",
            "Billed against estimated",
            "Per provider and day: billed cost, the admin API's usage at list prices, local logs at \
             list prices, and the drift with its causes (`agent-host reconcile --json`).",
            schema(period_schema(), json!({})),
        ),
        tool(
            "runs",
            "Collection runs",
            "Recent collection runs, newest first, or (`missing: true`) every day a job's history \
             lacks, with why (`agent-host runs --json`). An array, so `structuredContent` holds \
             it under `runs` or `missing`.",
            schema(
                Map::new(),
                json!({
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "Runs to list (default 20)."},
                    "missing": {"type": "boolean"},
                }),
            ),
        ),
        tool(
            "data_health",
            "Data health",
            "Per plugin, complete days and the last run; days not collected with the reason; \
             days a re-pull revised (the dashboard's `/api/coverage`).",
            schema(
                period_schema(),
                json!({"provider": {"type": "string", "description": "Only this provider, as shown."}}),
            ),
        ),
    ];
    json!({ "tools": tools })
}

fn bad(message: impl Into<String>) -> Refusal {
    (code::INVALID_PARAMS, message.into())
}

/// Checks the argument names against the tool's schema.
fn known(tool: &str, args: &Args, schema: &Value) -> Result<(), Refusal> {
    let props = schema.pointer("/inputSchema/properties").and_then(Value::as_object);
    for k in args.keys() {
        if !props.is_some_and(|p| p.contains_key(k)) {
            return Err(bad(format!("{tool}: unknown argument {k:?}")));
        }
    }
    Ok(())
}

fn text(tool: &str, args: &Args, name: &str) -> Result<Option<String>, Refusal> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!("{tool}: {name} must be a string, not {other}"))),
    }
}

fn flag(tool: &str, args: &Args, name: &str) -> Result<bool, Refusal> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("{tool}: {name} must be true or false, not {other}"))),
    }
}

fn day(tool: &str, args: &Args, name: &str) -> Result<Option<chrono::NaiveDate>, Refusal> {
    text(tool, args, name)?
        .map(|s| crate::cli::parse_day(&s).map_err(|e| bad(format!("{tool}: {name}: {e}"))))
        .transpose()
}

fn period(tool: &str, args: &Args) -> Result<PeriodArgs, Refusal> {
    let p = PeriodArgs {
        month: text(tool, args, "month")?,
        from: day(tool, args, "from")?,
        to: day(tool, args, "to")?,
    };
    match (&p.month, p.from, p.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(bad(format!("{tool}: month cannot be given with from/to")))
        }
        (None, Some(_), None) => Err(bad(format!("{tool}: from needs to"))),
        (None, None, Some(_)) => Err(bad(format!("{tool}: to needs from"))),
        _ => Ok(p),
    }
}

fn summary_args(args: &Args) -> Result<SummaryArgs, Refusal> {
    let by = match text("summary", args, "by")? {
        None => By::Provider,
        Some(name) => name.parse::<By>().map_err(|_| {
            bad(format!(
                "summary: by must be provider, model, project, account or session, not {name:?}"
            ))
        })?,
    };
    let (daily, weekly, monthly) = (
        flag("summary", args, "daily")?,
        flag("summary", args, "weekly")?,
        flag("summary", args, "monthly")?,
    );
    if [daily, weekly, monthly].iter().filter(|b| **b).count() > 1 {
        return Err(bad("summary: choose one of daily, weekly and monthly"));
    }
    Ok(SummaryArgs {
        period: period("summary", args)?,
        by,
        provider: text("summary", args, "provider")?,
        daily,
        monthly,
        weekly,
        breakdown: false,
        json: true,
    })
}

fn runs_args(args: &Args) -> Result<RunsArgs, Refusal> {
    let limit = match args.get("limit") {
        None | Some(Value::Null) => 20,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100_000) => n,
            _ => {
                return Err(bad(format!(
                    "runs: limit must be a whole number from 1 to 100000, not {v}"
                )))
            }
        },
    };
    Ok(RunsArgs { limit, missing: flag("runs", args, "missing")?, json: true })
}

/// The result of a call that ran: its JSON as the text the CLI prints, and
/// as structured content (an array wrapped under `wrap`).
fn success(json: &Json, wrap: &str) -> Value {
    let structured: Value = serde_json::from_str(json.get()).unwrap_or(Value::Null);
    let structured = if structured.is_object() { structured } else { json!({ wrap: structured }) };
    json!({
        "content": [{"type": "text", "text": views::pretty(json)}],
        "structuredContent": structured,
        "isError": false,
    })
}

/// A call that ran and failed (the database cannot be read…): the model
/// sees why; a bad argument is a protocol error instead.
fn failure(e: &HostError) -> std::result::Result<Value, Refusal> {
    if e.kind() == ErrorKind::Usage {
        return Err(bad(e.to_string()));
    }
    Ok(json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true}))
}

impl ToolBox for Tools<'_> {
    fn list(&self) -> Value {
        tool_list()
    }

    fn call(&self, name: &str, arguments: &Value) -> std::result::Result<Value, Refusal> {
        let list = tool_list();
        let Some(schema) =
            list["tools"].as_array().and_then(|t| t.iter().find(|t| t["name"] == name))
        else {
            return Err(bad(format!("unknown tool {name:?}")));
        };
        let empty = Map::new();
        let args = match arguments {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => return Err(bad(format!("{name}: arguments must be an object, not {other}"))),
        };
        known(name, args, schema)?;
        let ctx = self.ctx;
        let (outcome, wrap) = match name {
            "summary" => (views::summary_value(ctx, &summary_args(args)?), "summary"),
            "blocks" => {
                let b = BlocksArgs {
                    from: day(name, args, "from")?,
                    to: day(name, args, "to")?,
                    active: flag(name, args, "active")?,
                    json: true,
                };
                (views::blocks_value(ctx, &b), "blocks")
            }
            "reconcile" => (views::reconcile_value(ctx, &period(name, args)?), "reconcile"),
            "runs" => {
                let r = runs_args(args)?;
                let wrap = if r.missing { "missing" } else { "runs" };
                (ctx.store().and_then(|s| views::runs_value(ctx, &s, &r)), wrap)
            }
            _ => {
                let p = period(name, args)?;
                (views::data_health_value(ctx, &p, text(name, args, "provider")?), "data_health")
            }
        };
        match outcome {
            Ok(json) => Ok(success(&json, wrap)),
            Err(e) => failure(&e),
        }
    }
}
