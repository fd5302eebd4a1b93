//! Bindings: the capabilities a worker's `env` grants (Cloudflare's shape: a plain value stays a
//! plain value; an object with a `binding` key is a capability).
//!
//! - `{"binding": "kv", "namespace": "n"}`: the tenant's key-value namespace `n`;
//! - `{"binding": "workspace", "name": "w"}`: the tenant's workspace `w`;
//! - `{"binding": "d1", "database": "db"}`: the tenant's D1 (SQL) database `db`, a SQLite file
//!   of its own (`crate::storage::d1`); its name is 1-64 of `[A-Za-z0-9_-]` (no dot: it names a
//!   file);
//! - `{"binding": "r2", "bucket": "b"}`: the tenant's R2 bucket `b` (`crate::storage::r2`),
//!   named as a D1 database is;
//! - `{"binding": "queue", "queue": "q"}`: a producer of the tenant's queue `q`
//!   (`crate::queues`), named as a D1 database is;
//! - `{"binding": "capability", "name": "c"}`: the tenant's declared capability `c` (an `http`
//!   or `mcp` service, see `crate::capabilities`); that the tenant has it is checked where a
//!   definition is created (`api::loader`, `api::run`), and again at every call.
//! - `{"binding": "service", "worker": "<id>", "entrypoint"?: "Name", "props"?: {...}}`: another
//!   Loader worker of the same tenant (checked by the Loader API at creation and by
//!   `api/services.rs` at every call): `fetch` and RPC to its default export or to the named
//!   export `entrypoint`, whose `ctx.props` are `props` (a JSON object of at most
//!   [`MAX_PROPS_BYTES`]). A Loader worker's child may hold one to its parent itself whatever its
//!   entrypoint and props (the parent's `ctx.exports.Name({props})`, sent as `"self": true` and
//!   made the parent's id by `api::loader`): that grants nothing the parent's own code lacks;
//! - `{"binding": "loader"}`: `env.LOADER`, Loader workers made at run time by this one, each
//!   never granted more than its parent ([`subset`]);
//! - `{"binding": "durable_object_namespace", "class_name": "Counter"}`: the Durable Objects of
//!   the class this worker exports under that name (`crate::objects`); the class name is a
//!   JavaScript identifier of 1-64 of `[A-Za-z0-9_$]` (it names a folder). That the module
//!   exports it can only be seen when it is loaded: an object of a class it lacks fails its
//!   first call with a `TypeError`.
//!
//! Guarantees: a binding is parsed once, when the definition is created (or read back from the
//! store), and the supervisor resolves a host call's binding name against the parsed map of the
//! definition *it* stored, never against anything the isolate says; a shape this module does not
//! know is refused at creation. Names are 1-64 of `[A-Za-z0-9_.-]`. Trusts: nothing in `env`.

use std::collections::BTreeMap;

/// One granted capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    Kv {
        namespace: String,
    },
    Workspace {
        name: String,
    },
    D1 {
        database: String,
    },
    R2 {
        bucket: String,
    },
    Queue {
        queue: String,
    },
    Service {
        worker: String,
        entrypoint: Option<String>,
        /// `ctx.props` of the calls it makes: canonical JSON text of an object.
        props: Option<String>,
    },
    Loader,
    Capability {
        name: String,
    },
    DurableObjectNamespace {
        class_name: String,
    },
}

/// A worker's bindings by `env` name.
pub type Bindings = BTreeMap<String, Binding>;

/// The longest `props` a service binding carries, bytes of JSON text.
pub const MAX_PROPS_BYTES: usize = 16 * 1024;

/// `props` as a service binding keeps them: `None` for none (absent or null), else the object's
/// canonical JSON text, at most [`MAX_PROPS_BYTES`].
pub fn props_of(value: Option<&serde_json::Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(props @ serde_json::Value::Object(_)) => {
            let text = props.to_string();
            if text.len() > MAX_PROPS_BYTES {
                return Err(format!("props are at most {MAX_PROPS_BYTES} bytes of JSON"));
            }
            Ok(Some(text))
        }
        Some(_) => Err("props must be a JSON object".to_owned()),
    }
}

/// Whether `name` is a valid namespace or workspace name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Whether `name` is a valid D1 database name: a [`valid_name`] without dots (it becomes a
/// file name, so `.` and `..` are never one).
pub fn valid_database_name(name: &str) -> bool {
    valid_name(name) && !name.contains('.')
}

/// Whether `name` is a Durable Object class name: a JavaScript identifier of 1-64 of
/// `[A-Za-z0-9_$]`, not starting with a digit.
pub fn valid_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// The bindings among `env`'s values; an error names the first malformed one.
pub fn parse(env: &[(String, serde_json::Value)]) -> Result<Bindings, String> {
    let mut out = Bindings::new();
    for (key, value) in env {
        let Some(object) = value.as_object() else {
            continue;
        };
        let Some(kind) = object.get("binding") else {
            continue;
        };
        let field = |name: &str| -> Result<String, String> {
            let v = object
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("env.{key}: a {kind} binding needs a string {name:?}"))?;
            if !valid_name(v) {
                return Err(format!("env.{key}: {name} must be 1-64 of [A-Za-z0-9_.-]"));
            }
            Ok(v.to_owned())
        };
        let expect_keys = |keys: &[&str]| -> Result<(), String> {
            match object.keys().find(|k| !keys.contains(&k.as_str())) {
                Some(extra) => Err(format!("env.{key}: unknown field {extra:?} in a binding")),
                None => Ok(()),
            }
        };
        let binding = match kind.as_str() {
            Some("kv") => {
                expect_keys(&["binding", "namespace"])?;
                Binding::Kv {
                    namespace: field("namespace")?,
                }
            }
            Some("workspace") => {
                expect_keys(&["binding", "name"])?;
                Binding::Workspace {
                    name: field("name")?,
                }
            }
            Some("queue") => {
                expect_keys(&["binding", "queue"])?;
                let queue = field("queue")?;
                if !valid_database_name(&queue) {
                    return Err(format!("env.{key}: queue must be 1-64 of [A-Za-z0-9_-]"));
                }
                Binding::Queue { queue }
            }
            Some("d1") => {
                expect_keys(&["binding", "database"])?;
                let database = field("database")?;
                if !valid_database_name(&database) {
                    return Err(format!("env.{key}: database must be 1-64 of [A-Za-z0-9_-]"));
                }
                Binding::D1 { database }
            }
            Some("r2") => {
                expect_keys(&["binding", "bucket"])?;
                let bucket = field("bucket")?;
                if !valid_database_name(&bucket) {
                    return Err(format!("env.{key}: bucket must be 1-64 of [A-Za-z0-9_-]"));
                }
                Binding::R2 { bucket }
            }
            Some("capability") => {
                expect_keys(&["binding", "name"])?;
                Binding::Capability {
                    name: field("name")?,
                }
            }
            Some("service") => {
                expect_keys(&["binding", "worker", "entrypoint", "props"])?;
                let entrypoint = match object.get("entrypoint") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(_) => Some(field("entrypoint")?),
                };
                Binding::Service {
                    worker: field("worker")?,
                    entrypoint,
                    props: props_of(object.get("props")).map_err(|e| format!("env.{key}: {e}"))?,
                }
            }
            Some("loader") => {
                expect_keys(&["binding"])?;
                Binding::Loader
            }
            Some("durable_object_namespace") => {
                expect_keys(&["binding", "class_name"])?;
                let class_name = object
                    .get("class_name")
                    .and_then(|v| v.as_str())
                    .filter(|c| valid_class_name(c))
                    .ok_or_else(|| {
                        format!(
                            "env.{key}: class_name must be a class name, 1-64 of [A-Za-z0-9_$] not starting with a digit"
                        )
                    })?;
                Binding::DurableObjectNamespace {
                    class_name: class_name.to_owned(),
                }
            }
            _ => return Err(format!("env.{key}: unknown binding {kind}")),
        };
        out.insert(key.clone(), binding);
    }
    Ok(out)
}

/// Whether a child may hold `child`: each of its bindings is one the parent holds (under any
/// name), or a service binding to the parent itself (`parent_id`, any entrypoint and props: its
/// own code); an error names the first that is not.
pub fn subset(child: &Bindings, parent: &Bindings, parent_id: &str) -> Result<(), String> {
    let granted = |b: &Binding| {
        parent.values().any(|p| p == b)
            || matches!(b, Binding::Service { worker, .. } if worker == parent_id)
    };
    match child.iter().find(|(_, b)| !granted(b)) {
        Some((key, _)) => Err(format!(
            "env.{key}: the parent worker holds no such binding, so its child cannot either"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, serde_json::Value)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn bindings_are_parsed_and_plain_values_left_alone() {
        let parsed = parse(&env(&[
            ("A", json!("text")),
            ("N", json!(3)),
            ("O", json!({"nested": {"binding": "kv"}})),
            ("KV", json!({"binding": "kv", "namespace": "ns-1"})),
            ("WS", json!({"binding": "workspace", "name": "w1"})),
            ("CAP", json!({"binding": "capability", "name": "weather"})),
            ("DB", json!({"binding": "d1", "database": "main_db-1"})),
            ("B", json!({"binding": "r2", "bucket": "files_1"})),
            ("Q", json!({"binding": "queue", "queue": "jobs-1"})),
        ]))
        .expect("valid");
        assert_eq!(parsed.len(), 6);
        assert_eq!(
            parsed.get("Q"),
            Some(&Binding::Queue {
                queue: "jobs-1".into()
            })
        );
        assert_eq!(
            parsed.get("B"),
            Some(&Binding::R2 {
                bucket: "files_1".into()
            })
        );
        assert_eq!(
            parsed.get("DB"),
            Some(&Binding::D1 {
                database: "main_db-1".into()
            })
        );
        assert_eq!(
            parsed.get("CAP"),
            Some(&Binding::Capability {
                name: "weather".into()
            })
        );
        let more = parse(&env(&[
            ("S", json!({"binding": "service", "worker": "ab12"})),
            (
                "E",
                json!({"binding": "service", "worker": "ab12", "entrypoint": "Api"}),
            ),
            ("L", json!({"binding": "loader"})),
        ]))
        .expect("valid");
        assert_eq!(
            more.get("E"),
            Some(&Binding::Service {
                worker: "ab12".into(),
                entrypoint: Some("Api".into()),
                props: None
            })
        );
        assert_eq!(more.get("L"), Some(&Binding::Loader));
        let objects = parse(&env(&[(
            "NS",
            json!({"binding": "durable_object_namespace", "class_name": "Counter_$1"}),
        )]))
        .expect("valid");
        assert_eq!(
            objects.get("NS"),
            Some(&Binding::DurableObjectNamespace {
                class_name: "Counter_$1".into()
            })
        );
        let parent = more.clone();
        let renamed = parse(&env(&[("MINE", json!({"binding": "loader"}))])).expect("valid");
        assert!(
            subset(&renamed, &parent, "p1").is_ok(),
            "the same grant under another name"
        );
        assert!(
            subset(&parsed, &parent, "p1").is_err(),
            "kv is not the parent's"
        );
        assert!(subset(&Bindings::new(), &Bindings::new(), "p1").is_ok());
        // Props: canonical, an object, capped; to the parent itself any, to another worker only
        // as the parent holds them.
        let with_props = parse(&env(&[
            (
                "SELF",
                json!({"binding": "service", "worker": "p1", "entrypoint": "Api", "props": {"b": 2, "a": [1]}}),
            ),
            (
                "OTHER",
                json!({"binding": "service", "worker": "ab12", "props": {"u": 1}}),
            ),
        ]))
        .expect("valid");
        assert_eq!(
            with_props.get("SELF"),
            Some(&Binding::Service {
                worker: "p1".into(),
                entrypoint: Some("Api".into()),
                props: Some(r#"{"a":[1],"b":2}"#.into())
            })
        );
        let only_self: Bindings = with_props
            .iter()
            .filter(|(k, _)| *k == "SELF")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(subset(&only_self, &Bindings::new(), "p1").is_ok());
        assert!(
            subset(&only_self, &Bindings::new(), "p2").is_err(),
            "another worker's"
        );
        assert!(
            subset(&with_props, &parent, "p1").is_err(),
            "props the parent's binding to ab12 lacks"
        );
        assert_eq!(
            parsed.get("KV"),
            Some(&Binding::Kv {
                namespace: "ns-1".into()
            })
        );
        assert_eq!(
            parsed.get("WS"),
            Some(&Binding::Workspace { name: "w1".into() })
        );
        for bad in [
            json!({"binding": "kv"}),
            json!({"binding": "kv", "namespace": "../x"}),
            json!({"binding": "kv", "namespace": "n", "extra": 1}),
            json!({"binding": "disk", "path": "/"}),
            json!({"binding": 7}),
            json!({"binding": "workspace", "name": ""}),
            json!({"binding": "capability"}),
            json!({"binding": "capability", "name": "a/b"}),
            json!({"binding": "capability", "name": "c", "url": "http://x/"}),
            json!({"binding": "service"}),
            json!({"binding": "service", "worker": "a/b"}),
            json!({"binding": "service", "worker": "w", "entrypoint": 3}),
            json!({"binding": "service", "worker": "w", "props": [1]}),
            json!({"binding": "service", "worker": "w", "props": "x"}),
            json!({"binding": "service", "worker": "w", "props": {"x": "y".repeat(MAX_PROPS_BYTES)}}),
            json!({"binding": "service", "worker": "w", "self": true}),
            json!({"binding": "loader", "extra": 1}),
            json!({"binding": "d1"}),
            json!({"binding": "d1", "database": ".."}),
            json!({"binding": "d1", "database": "a.db"}),
            json!({"binding": "d1", "database": "../x"}),
            json!({"binding": "d1", "database": "a/b"}),
            json!({"binding": "d1", "database": ""}),
            json!({"binding": "d1", "database": "x".repeat(65)}),
            json!({"binding": "d1", "database": "d", "path": "/tmp/x"}),
            json!({"binding": "r2"}),
            json!({"binding": "r2", "bucket": ".."}),
            json!({"binding": "r2", "bucket": "a.b"}),
            json!({"binding": "r2", "bucket": "../x"}),
            json!({"binding": "r2", "bucket": ""}),
            json!({"binding": "r2", "bucket": "b", "database": "d"}),
            json!({"binding": "queue"}),
            json!({"binding": "queue", "queue": "a.b"}),
            json!({"binding": "queue", "queue": ""}),
            json!({"binding": "queue", "queue": "q", "bucket": "b"}),
            json!({"binding": "durable_object_namespace"}),
            json!({"binding": "durable_object_namespace", "class_name": "../x"}),
            json!({"binding": "durable_object_namespace", "class_name": "1Counter"}),
            json!({"binding": "durable_object_namespace", "class_name": "A.B"}),
            json!({"binding": "durable_object_namespace", "class_name": "C", "script_name": "w"}),
        ] {
            assert!(parse(&env(&[("X", bad.clone())])).is_err(), "{bad}");
        }
    }
}
