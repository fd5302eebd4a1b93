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
//! - `{"binding": "capability", "name": "c"}`: the tenant's declared capability `c` (an `http`
//!   or `mcp` service, see `crate::capabilities`); that the tenant has it is checked where a
//!   definition is created (`api::loader`, `api::run`), and again at every call.
//! - `{"binding": "service", "worker": "<id>", "entrypoint"?: "Name"}`: another Loader worker of
//!   the same tenant (checked by the Loader API at creation and by `api/services.rs` at every
//!   call): `fetch` and RPC to its default export or to the named export `entrypoint`;
//! - `{"binding": "loader"}`: `env.LOADER`, Loader workers made at run time by this one, each
//!   never granted more than its parent ([`subset`]).
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
    Service {
        worker: String,
        entrypoint: Option<String>,
    },
    Loader,
    Capability {
        name: String,
    },
}

/// A worker's bindings by `env` name.
pub type Bindings = BTreeMap<String, Binding>;

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
                expect_keys(&["binding", "worker", "entrypoint"])?;
                let entrypoint = match object.get("entrypoint") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(_) => Some(field("entrypoint")?),
                };
                Binding::Service {
                    worker: field("worker")?,
                    entrypoint,
                }
            }
            Some("loader") => {
                expect_keys(&["binding"])?;
                Binding::Loader
            }
            _ => return Err(format!("env.{key}: unknown binding {kind}")),
        };
        out.insert(key.clone(), binding);
    }
    Ok(out)
}

/// Whether a child may hold `child`: each of its bindings is one the parent holds (under any
/// name); an error names the first that is not.
pub fn subset(child: &Bindings, parent: &Bindings) -> Result<(), String> {
    match child
        .iter()
        .find(|(_, b)| !parent.values().any(|p| p == *b))
    {
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
        ]))
        .expect("valid");
        assert_eq!(parsed.len(), 5);
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
                entrypoint: Some("Api".into())
            })
        );
        assert_eq!(more.get("L"), Some(&Binding::Loader));
        let parent = more.clone();
        let renamed = parse(&env(&[("MINE", json!({"binding": "loader"}))])).expect("valid");
        assert!(
            subset(&renamed, &parent).is_ok(),
            "the same grant under another name"
        );
        assert!(subset(&parsed, &parent).is_err(), "kv is not the parent's");
        assert!(subset(&Bindings::new(), &Bindings::new()).is_ok());
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
        ] {
            assert!(parse(&env(&[("X", bad.clone())])).is_err(), "{bad}");
        }
    }
}
