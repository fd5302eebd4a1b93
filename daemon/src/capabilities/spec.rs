//! What a capability declaration is, and its checks: the `kind`, `url` and `types` of one
//! capability (the API's JSON and the config's `[[tenants.capabilities]]`), and which method
//! names a call may carry.
//!
//! Guarantees: a declaration that passes [`Capability::check`] names an `http`/`https` URL without
//! credentials, and its `types` (for `http` only) is bounded and declares `interface Methods`;
//! unknown fields and kinds are refused when parsed. Trusts: nothing.

use serde::{Deserialize, Serialize};

use crate::supervisor::bindings::valid_name;

/// The largest `types` text, bytes.
pub const MAX_TYPES_LEN: usize = 64 << 10;

/// The largest URL, bytes.
const MAX_URL_LEN: usize = 2048;

/// Method names: 1-128 bytes without control characters.
const MAX_METHOD_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Http,
    Mcp,
}

/// One capability, as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    pub kind: Kind,
    pub url: String,
    /// `http` only: a `.d.ts` text declaring `interface Methods` (and any types it uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
}

/// One `[[tenants.capabilities]]` of the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    #[serde(default)]
    pub types: Option<String>,
}

impl Declared {
    pub fn capability(&self) -> Capability {
        Capability {
            kind: self.kind,
            url: self.url.clone(),
            types: self.types.clone(),
        }
    }
}

impl Capability {
    /// Whether this declaration can be used; the reason otherwise.
    pub fn check(&self) -> Result<(), String> {
        if self.url.len() > MAX_URL_LEN {
            return Err(format!("url is longer than {MAX_URL_LEN} bytes"));
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("url must be http or https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("url must not carry credentials (inject them with an egress rule)".into());
        }
        match (self.kind, &self.types) {
            (Kind::Mcp, Some(_)) => Err("an mcp capability's types come from its tools".into()),
            (Kind::Http, Some(t)) if t.len() > MAX_TYPES_LEN => {
                Err(format!("types is longer than {MAX_TYPES_LEN} bytes"))
            }
            (Kind::Http, Some(t)) if !super::types::declares_methods(t) => {
                Err("types must declare `interface Methods { ... }`".into())
            }
            _ => Ok(()),
        }
    }
}

/// Checks a tenant's configured capabilities: valid, unique names and usable declarations.
pub fn check_declared(list: &[Declared]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for d in list {
        if !valid_name(&d.name) {
            return Err(format!(
                "capability {:?}: names are 1-64 of [A-Za-z0-9_.-]",
                d.name
            ));
        }
        if !seen.insert(d.name.as_str()) {
            return Err(format!("capability {:?} is declared twice", d.name));
        }
        d.capability()
            .check()
            .map_err(|e| format!("capability {:?}: {e}", d.name))?;
    }
    Ok(())
}

/// Whether `m` may name a method: 1-128 bytes, no control characters.
pub fn valid_method(m: &str) -> bool {
    !m.is_empty() && m.len() <= MAX_METHOD_LEN && !m.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cap(kind: Kind, url: &str, types: Option<&str>) -> Capability {
        Capability {
            kind,
            url: url.into(),
            types: types.map(str::to_owned),
        }
    }

    #[test]
    fn declarations_are_checked() {
        let methods = Some("interface Methods { add(a: number, b: number): Promise<number>; }");
        assert!(cap(Kind::Http, "http://127.0.0.1:9/rpc", methods)
            .check()
            .is_ok());
        assert!(cap(Kind::Http, "https://api.example/rpc", None)
            .check()
            .is_ok());
        assert!(cap(Kind::Mcp, "http://127.0.0.1:9/mcp", None)
            .check()
            .is_ok());
        for bad in [
            cap(Kind::Http, "ftp://a/", None),
            cap(Kind::Http, "not a url", None),
            cap(Kind::Http, "http://user:pw@a/", None),
            cap(Kind::Http, "http://a/", Some("type X = 1;")),
            cap(Kind::Mcp, "http://a/", methods),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let parsed: Result<Capability, _> =
            serde_json::from_value(json!({"kind": "mcp", "url": "http://a/", "extra": 1}));
        assert!(parsed.is_err(), "unknown fields are refused");
        let parsed: Result<Capability, _> =
            serde_json::from_value(json!({"kind": "smtp", "url": "http://a/"}));
        assert!(parsed.is_err(), "unknown kinds are refused");
    }

    #[test]
    fn configured_names_are_valid_and_unique() {
        let d = |name: &str| Declared {
            name: name.into(),
            kind: Kind::Mcp,
            url: "http://a/".into(),
            types: None,
        };
        assert!(check_declared(&[d("a"), d("b")]).is_ok());
        assert!(check_declared(&[d("a"), d("a")]).is_err());
        assert!(check_declared(&[d("a b")]).is_err());
    }

    #[test]
    fn method_names_are_bounded() {
        assert!(valid_method("forecast"));
        assert!(valid_method("get-weather.v2"));
        assert!(!valid_method(""));
        assert!(!valid_method("a\nb"));
        assert!(!valid_method(&"m".repeat(129)));
    }
}
