//! TypeScript declarations for the model: one `.d.ts` text declaring `interface Env` with every
//! binding's methods (`GET /v1/workers/{id}/types`, `POST /v1/types`, the MCP server's tools).
//!
//! - `kv` and `workspace` bindings: the runtime's `KVNamespace` and `Workspace` interfaces;
//! - an `http` capability: its declared text, in a namespace of its own (`Capability_<name>`),
//!   the binding typed `Capability_<name>.Methods`;
//! - an `mcp` capability: generated from its tools' input and output JSON Schemas;
//! - a plain value: its JSON type.
//!
//! Guarantees: the text is built from strings only; a comment taken from elsewhere (a tool's
//! description) cannot end its comment (`*/` is broken up); property names that are not
//! identifiers are quoted as JSON strings; schemas are followed at most [`MAX_DEPTH`] deep.
//! Trusts: nothing; the output is text for a model, never evaluated by the daemon.

use serde_json::Value;

/// How deep schemas and plain values are followed.
const MAX_DEPTH: usize = 8;

/// A service binding (another worker of the tenant): its `fetch` and its RPC methods, whose
/// arguments and results are structured-clone data (JSON values, Uint8Array, Date, Map, Set).
pub const SERVICE: &str = "interface Service {
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
  [method: string]: (...args: any[]) => Promise<any>;
}
";

/// A Worker Loader binding (`env.LOADER`), as on Cloudflare.
pub const LOADER: &str = "interface WorkerCode {
  mainModule: string;
  modules: Record<string, string | { js?: string; cjs?: string; ts?: string; text?: string; json?: unknown; data?: string; wasm?: string }>;
  env?: Record<string, unknown>;
  compatibilityDate?: string;
  compatibilityFlags?: string[];
  limits?: { cpuMs?: number; wallMs?: number; memoryMb?: number; subRequests?: number };
  globalOutbound?: null | { worker: string };
}
interface WorkerStub {
  getEntrypoint(name?: string): Service;
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
}
interface WorkerLoader {
  /** The child cached under `id` for this worker, or one made from what `getCode` resolves to. */
  get(id: string, getCode: () => Promise<WorkerCode>): WorkerStub;
  /** A child made from `code`, each call. */
  load(code: WorkerCode): WorkerStub;
}
";

/// The methods of a `kv` binding.
pub const KV_NAMESPACE: &str = "interface KVNamespace {
  get(key: string, options?: \"text\" | { type?: \"text\" }): Promise<string | null>;
  get(key: string, options: \"json\" | { type: \"json\" }): Promise<unknown | null>;
  get(key: string, options: \"arrayBuffer\" | { type: \"arrayBuffer\" }): Promise<ArrayBuffer | null>;
  get(key: string, options: \"bytes\" | { type: \"bytes\" }): Promise<Uint8Array | null>;
  getWithMetadata(key: string, options?: string | { type?: string }): Promise<{ value: unknown | null; metadata: unknown | null }>;
  put(key: string, value: string | ArrayBuffer | ArrayBufferView | ReadableStream, options?: { expiration?: number; expirationTtl?: number; metadata?: unknown }): Promise<void>;
  delete(key: string): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{ keys: { name: string; expiration?: number; metadata?: unknown }[]; list_complete: boolean; cursor?: string }>;
}
";

/// The methods of a `workspace` binding.
pub const WORKSPACE: &str = "interface Workspace {
  readFile(path: string, options?: \"text\" | { type?: \"text\" }): Promise<string>;
  readFile(path: string, options: \"bytes\" | { type: \"bytes\" }): Promise<Uint8Array>;
  readFile(path: string, options: \"json\" | { type: \"json\" }): Promise<unknown>;
  writeFile(path: string, data: string | ArrayBuffer | ArrayBufferView | ReadableStream): Promise<void>;
  list(path?: string): Promise<{ name: string; path: string; type: \"file\" | \"directory\"; size: number; mtime: number }[]>;
  glob(pattern: string): Promise<string[]>;
  search(pattern: string | RegExp, options?: { glob?: string; maxResults?: number; ignoreCase?: boolean }): Promise<{ matches: { path: string; line: number; text: string }[]; truncated: boolean }>;
  diff(from: string, to: string | { text: string }): Promise<string>;
  replace(path: string, search: string | RegExp, replacement: string, options?: { regex?: boolean; limit?: number }): Promise<number>;
  delete(path: string, options?: { recursive?: boolean }): Promise<boolean>;
  mkdir(path: string): Promise<void>;
  stat(path: string): Promise<{ type: \"file\" | \"directory\"; size: number; mtime: number } | null>;
  move(from: string, to: string): Promise<void>;
}
";

/// Whether a `.d.ts` text declares `interface Methods`.
pub fn declares_methods(text: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w == ["interface", "Methods"])
}

/// An `http` capability's declarations (any method, untyped, when it declared none).
pub fn http_declarations(types: Option<&str>) -> String {
    match types {
        Some(t) => t.replace("*/", "* /").trim_end().to_owned() + "\n",
        None => {
            "interface Methods {\n  [method: string]: (...args: any[]) => Promise<unknown>;\n}\n"
                .to_owned()
        }
    }
}

/// A name as a TypeScript identifier, else as a quoted property name.
pub fn property(name: &str) -> String {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        name.to_owned()
    } else {
        Value::String(name.to_owned()).to_string()
    }
}

/// A namespace name for capability `name`.
pub fn namespace(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("Capability_{safe}")
}

fn comment(text: &str, indent: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let body = text.replace("*/", "* /");
    let lines: Vec<String> = body.lines().map(|l| format!("{indent} * {l}")).collect();
    format!("{indent}/**\n{}\n{indent} */\n", lines.join("\n"))
}

/// A JSON Schema as a TypeScript type.
pub fn schema_type(schema: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "unknown".into();
    }
    let Some(o) = schema.as_object() else {
        return if schema == &Value::Bool(false) {
            "never"
        } else {
            "unknown"
        }
        .into();
    };
    if let Some(c) = o.get("const") {
        return literal(c);
    }
    if let Some(Value::Array(options)) = o.get("enum") {
        let parts: Vec<String> = options.iter().map(literal).collect();
        return union(parts);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = o.get(key) {
            return union(options.iter().map(|s| schema_type(s, depth + 1)).collect());
        }
    }
    if let Some(Value::Array(all)) = o.get("allOf") {
        let parts: Vec<String> = all.iter().map(|s| schema_type(s, depth + 1)).collect();
        return if parts.is_empty() {
            "unknown".into()
        } else {
            parts.join(" & ")
        };
    }
    match o.get("type") {
        Some(Value::String(t)) => typed(t, o, depth),
        Some(Value::Array(ts)) => union(
            ts.iter()
                .filter_map(Value::as_str)
                .map(|t| typed(t, o, depth))
                .collect(),
        ),
        _ if o.contains_key("properties") => typed("object", o, depth),
        _ => "unknown".into(),
    }
}

fn union(mut parts: Vec<String>) -> String {
    parts.dedup();
    match parts.len() {
        0 => "never".into(),
        1 => parts.remove(0),
        _ => parts
            .into_iter()
            .map(|p| if p.contains(' ') { format!("({p})") } else { p })
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn literal(v: &Value) -> String {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
        other => value_type(other, 0),
    }
}

fn typed(t: &str, o: &serde_json::Map<String, Value>, depth: usize) -> String {
    match t {
        "string" => "string".into(),
        "number" | "integer" => "number".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => match o.get("items") {
            Some(items) => {
                let inner = schema_type(items, depth + 1);
                if inner.contains(' ') {
                    format!("({inner})[]")
                } else {
                    format!("{inner}[]")
                }
            }
            None => "unknown[]".into(),
        },
        "object" => {
            let required: Vec<&str> = o
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut members = Vec::new();
            if let Some(Value::Object(props)) = o.get("properties") {
                for (name, s) in props {
                    let optional = if required.contains(&name.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    let doc = s
                        .get("description")
                        .and_then(Value::as_str)
                        .map(|d| format!("/** {} */ ", d.replace("*/", "* /").replace('\n', " ")))
                        .unwrap_or_default();
                    members.push(format!(
                        "{doc}{}{optional}: {}",
                        property(name),
                        schema_type(s, depth + 1)
                    ));
                }
            }
            match o.get("additionalProperties") {
                Some(Value::Object(_)) | Some(Value::Bool(true)) => {
                    let extra = o
                        .get("additionalProperties")
                        .map(|s| schema_type(s, depth + 1))
                        .unwrap_or_else(|| "unknown".into());
                    members.push(format!("[key: string]: {extra}"));
                }
                _ if members.is_empty() => return "Record<string, unknown>".into(),
                _ => {}
            }
            format!("{{ {} }}", members.join("; "))
        }
        _ => "unknown".into(),
    }
}

/// A plain JSON value's type.
pub fn value_type(v: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "unknown".into();
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let mut parts: Vec<String> = items.iter().map(|i| value_type(i, depth + 1)).collect();
            parts.sort();
            let inner = union(parts);
            if items.is_empty() {
                "unknown[]".into()
            } else if inner.contains(' ') {
                format!("({inner})[]")
            } else {
                format!("{inner}[]")
            }
        }
        Value::Object(o) => {
            let members: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", property(k), value_type(v, depth + 1)))
                .collect();
            format!("{{ {} }}", members.join("; "))
        }
    }
}

/// An `mcp` capability's declarations, from its tools (`tools/list`).
pub fn mcp_declarations(tools: &[Value]) -> String {
    let mut out = String::from("interface Methods {\n");
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !super::valid_method(name) {
            continue;
        }
        let description = tool
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        out.push_str(&comment(description, "  "));
        let input = tool
            .get("inputSchema")
            .map(|s| schema_type(s, 0))
            .unwrap_or_else(|| "Record<string, unknown>".into());
        let output = tool
            .get("outputSchema")
            .map(|s| schema_type(s, 0))
            .unwrap_or_else(|| "unknown".into());
        out.push_str(&format!(
            "  {}(args: {input}): Promise<{output}>;\n",
            property(name)
        ));
    }
    out.push_str("}\n");
    out
}

/// One `env` member: its key and its type's text.
pub enum Member {
    Kv,
    Workspace,
    /// A D1 database (`crate::storage::d1`).
    D1,
    /// An R2 bucket (`crate::storage::r2`).
    R2,
    /// A queue's producer (`crate::queues`).
    Queue,
    /// A service binding: `fetch` and RPC methods (the target's own types are not known here).
    Service,
    /// A Worker Loader binding (`env.LOADER`).
    Loader,
    /// A Durable Object namespace (`crate::objects`).
    ObjectNamespace,
    /// A capability: its name and its declarations (declaring `interface Methods`).
    Capability(String, String),
    /// A capability whose types could not be had: why.
    Unavailable(String, String),
    Plain(Value),
}

/// The whole `.d.ts`: the interfaces the members use, then `interface Env`.
pub fn env_declarations(members: &[(String, Member)]) -> String {
    let mut out = String::from("// The env object a snippet's default export gets: `export default async (arg, env) => ...`.\n");
    if members.iter().any(|(_, m)| matches!(m, Member::Kv)) {
        out.push_str(KV_NAMESPACE);
    }
    if members.iter().any(|(_, m)| matches!(m, Member::Workspace)) {
        out.push_str(WORKSPACE);
    }
    if members.iter().any(|(_, m)| matches!(m, Member::D1)) {
        out.push_str(crate::storage::d1::DECLARATIONS);
    }
    if members.iter().any(|(_, m)| matches!(m, Member::Queue)) {
        out.push_str(QUEUE_DECLARATIONS);
    }
    if members.iter().any(|(_, m)| matches!(m, Member::R2)) {
        out.push_str(crate::storage::r2::DECLARATIONS);
    }
    if members
        .iter()
        .any(|(_, m)| matches!(m, Member::Service | Member::Loader))
    {
        out.push_str(SERVICE);
    }
    if members.iter().any(|(_, m)| matches!(m, Member::Loader)) {
        out.push_str(LOADER);
    }
    if members
        .iter()
        .any(|(_, m)| matches!(m, Member::ObjectNamespace))
    {
        out.push_str(crate::objects::DECLARATIONS);
    }
    let mut declared = std::collections::BTreeSet::new();
    for (_, m) in members {
        if let Member::Capability(name, text) = m {
            if declared.insert(name.clone()) {
                out.push_str(&format!("declare namespace {} {{\n", namespace(name)));
                for line in text.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
                out.push_str("}\n");
            }
        }
    }
    out.push_str("interface Env {\n");
    for (key, m) in members {
        let t = match m {
            Member::Kv => "KVNamespace".to_owned(),
            Member::Workspace => "Workspace".to_owned(),
            Member::D1 => "D1Database".to_owned(),
            Member::R2 => "R2Bucket".to_owned(),
            Member::Queue => "Queue".to_owned(),
            Member::Service => "Service".to_owned(),
            Member::Loader => "WorkerLoader".to_owned(),
            Member::ObjectNamespace => "DurableObjectNamespace".to_owned(),
            Member::Capability(name, _) => format!("{}.Methods", namespace(name)),
            Member::Unavailable(name, why) => {
                out.push_str(&comment(
                    &format!("capability {name}: types unavailable ({why})"),
                    "  ",
                ));
                "{ [method: string]: (...args: any[]) => Promise<unknown> }".to_owned()
            }
            Member::Plain(v) => value_type(v, 0),
        };
        out.push_str(&format!("  {}: {t};\n", property(key)));
    }
    out.push_str("}\ndeclare const env: Env;\n");
    out
}

/// The producer side of a queue binding (`js/queue.js`), as Cloudflare's types declare it.
const QUEUE_DECLARATIONS: &str = "type QueueContentType = \"text\" | \"bytes\" | \"json\" | \"v8\";
interface QueueSendOptions { contentType?: QueueContentType; delaySeconds?: number; }
interface MessageSendRequest<Body = unknown> { body: Body; contentType?: QueueContentType; delaySeconds?: number; }
interface QueueSendBatchOptions { delaySeconds?: number; }
interface Queue<Body = unknown> {
  send(message: Body, options?: QueueSendOptions): Promise<void>;
  sendBatch(messages: Iterable<MessageSendRequest<Body>>, options?: QueueSendBatchOptions): Promise<void>;
}
";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_and_loader_bindings_are_declared_once() {
        let members = [
            ("SVC".to_owned(), Member::Service),
            ("OTHER".to_owned(), Member::Service),
            ("LOADER".to_owned(), Member::Loader),
        ];
        let dts = env_declarations(&members);
        for want in [
            "  SVC: Service;\n",
            "  OTHER: Service;\n",
            "  LOADER: WorkerLoader;\n",
            "getEntrypoint(name?: string): Service;",
        ] {
            assert!(dts.contains(want), "missing {want:?}:\n{dts}");
        }
        assert_eq!(dts.matches("interface Service {").count(), 1, "{dts}");
        let plain = env_declarations(&[("N".to_owned(), Member::Plain(json!(1)))]);
        assert!(!plain.contains("interface Service") && !plain.contains("WorkerLoader"));
    }

    #[test]
    fn schemas_become_types() {
        let s = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "a city */ evil"},
                "days": {"type": "integer"},
                "units": {"enum": ["c", "f"]},
                "tags": {"type": "array", "items": {"type": ["string", "null"]}},
                "odd-name": {"type": "boolean"}
            },
            "required": ["city"]
        });
        let t = schema_type(&s, 0);
        assert!(t.contains("/** a city * / evil */ city: string"), "{t}");
        assert!(t.contains("days?: number"), "{t}");
        assert!(t.contains("units?: \"c\" | \"f\""), "{t}");
        assert!(t.contains("tags?: (string | null)[]"), "{t}");
        assert!(t.contains("\"odd-name\"?: boolean"), "{t}");
        assert_eq!(
            schema_type(&json!({"type": "object"}), 0),
            "Record<string, unknown>"
        );
        assert_eq!(schema_type(&json!({}), 0), "unknown");
        let mut deep = json!({"type": "string"});
        for _ in 0..50 {
            deep = json!({"type": "array", "items": deep});
        }
        assert!(
            schema_type(&deep, 0).contains("unknown"),
            "depth is bounded"
        );
    }

    #[test]
    fn env_declares_every_member() {
        let tools = vec![json!({
            "name": "forecast",
            "description": "The weather.",
            "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "outputSchema": {"type": "object", "properties": {"tempC": {"type": "number"}}, "required": ["tempC"]}
        })];
        let members = vec![
            ("KV".to_owned(), Member::Kv),
            (
                "WEATHER".to_owned(),
                Member::Capability("weather".into(), mcp_declarations(&tools)),
            ),
            ("GREETING".to_owned(), Member::Plain(json!("hi"))),
            (
                "LIMITS".to_owned(),
                Member::Plain(json!({"max": 3, "on": true})),
            ),
        ];
        let d = env_declarations(&members);
        assert!(d.contains("interface KVNamespace"), "{d}");
        assert!(!d.contains("interface Workspace"), "{d}");
        assert!(d.contains("declare namespace Capability_weather {"), "{d}");
        assert!(
            d.contains("forecast(args: { city: string }): Promise<{ tempC: number }>;"),
            "{d}"
        );
        assert!(d.contains("  WEATHER: Capability_weather.Methods;"), "{d}");
        assert!(d.contains("  GREETING: string;"), "{d}");
        assert!(d.contains("  LIMITS: { max: number; on: boolean };"), "{d}");
        assert!(declares_methods("interface Methods { a(): Promise<1> }"));
        assert!(!declares_methods("interface MethodsX {}"));
    }
}
