//! The MCP server's tools (`tools/list`, `tools/call`): `execute` and `types`, run as the
//! request's tenant (see the parent module's docs).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::super::error::ApiError;
use super::super::run::{checked_env, execute, LimitsIn};
use super::super::types::env_types;
use super::super::AppState;
use super::jsonrpc::INVALID_PARAMS;
use crate::supervisor::bindings;

/// Every capability of `tenant`, bound under its own name.
async fn default_env(state: &AppState, tenant: &str) -> Vec<(String, Value)> {
    match state.capabilities.list(tenant).await {
        Ok(all) => all
            .into_keys()
            .map(|name| {
                let binding = json!({"binding": "capability", "name": name});
                (name, binding)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The `.d.ts` of `env` (the tenant's capabilities when `None`).
async fn declarations(
    state: &AppState,
    tenant: &str,
    env: Vec<(String, Value)>,
) -> Result<String, String> {
    let bindings = bindings::parse(&env)?;
    state.capabilities.check_bindings(tenant, &bindings).await?;
    Ok(env_types(state, tenant, &env, &bindings).await)
}

pub async fn tools_list(state: &AppState, tenant: &str) -> Value {
    let env = default_env(state, tenant).await;
    let dts = declarations(state, tenant, env)
        .await
        .unwrap_or_else(|e| format!("// {e}\n"));
    let env_schema = json!({
        "type": "object",
        "description": "Bindings as in the Loader API (plain values, and objects such as \
                        {\"binding\": \"capability\", \"name\": \"...\"}); default: every \
                        capability of the tenant under its own name",
        "additionalProperties": true,
    });
    json!({"tools": [
        {
            "name": "execute",
            "description": format!(
                "Run a TypeScript module in a fresh sandboxed isolate. Its default export is \
                 called as `export default async (arg, env) => result` and the result must be \
                 JSON. Without an `env` argument, env holds every capability of this tenant:\n\
                 ```ts\n{dts}```"
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The TypeScript module"},
                    "arg": {"description": "The default export's first argument (JSON)"},
                    "env": env_schema,
                },
                "required": ["code"],
            },
        },
        {
            "name": "types",
            "description": "The TypeScript declarations (`interface Env`) of an env, by default \
                            of every capability of this tenant.",
            "inputSchema": {
                "type": "object",
                "properties": {"env": env_schema},
            },
        },
    ]})
}

fn text_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

async fn call_env(
    state: &AppState,
    tenant: &str,
    args: &Value,
) -> Result<Vec<(String, Value)>, (i64, String)> {
    match args.get("env") {
        None | Some(Value::Null) => Ok(default_env(state, tenant).await),
        Some(env) => {
            let map: BTreeMap<String, Value> = serde_json::from_value(env.clone())
                .map_err(|_| (INVALID_PARAMS, "env must be an object".to_owned()))?;
            checked_env(state, map).map_err(|e| (INVALID_PARAMS, e.to_string()))
        }
    }
}

pub async fn tools_call(
    state: &Arc<AppState>,
    tenant: &str,
    params: &Value,
) -> Result<Value, (i64, String)> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    match name {
        "types" => {
            let env = call_env(state, tenant, &args).await?;
            Ok(match declarations(state, tenant, env).await {
                Ok(dts) => text_result(dts, false),
                Err(e) => text_result(e, true),
            })
        }
        "execute" => {
            let Some(code) = args.get("code").and_then(Value::as_str) else {
                return Err((INVALID_PARAMS, "execute needs a string `code`".into()));
            };
            let env = call_env(state, tenant, &args).await?;
            let arg = args.get("arg").cloned().unwrap_or(Value::Null);
            let run = execute(
                state,
                tenant,
                code.to_owned(),
                &arg,
                env,
                &LimitsIn::default(),
            )
            .await;
            Ok(match run {
                Ok(answer) => {
                    let out = json!({"result": answer["result"], "logs": answer["logs"]});
                    text_result(out.to_string(), false)
                }
                Err(e) => {
                    let logs = match &e {
                        ApiError::Script(_, logs) => json!(logs),
                        _ => json!([]),
                    };
                    let out = json!({"error": {"code": e.code(), "message": e.to_string()}, "logs": logs});
                    text_result(out.to_string(), true)
                }
            })
        }
        other => Err((INVALID_PARAMS, format!("no tool {other:?}"))),
    }
}
