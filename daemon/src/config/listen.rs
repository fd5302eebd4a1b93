//! Where the API listens: `ip:port` (TCP), or `unix:/absolute/path` (a Unix stream socket, for a
//! reverse proxy on the same host), in the configuration's `listen` and in `serve --listen`.
//!
//! Guarantees: a Unix path is absolute and at most 107 bytes (what `sockaddr_un` holds); anything
//! else is refused with the reason when the configuration is read.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The longest path `sockaddr_un.sun_path` holds, its terminating NUL aside.
const MAX_UNIX_PATH: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddr, String> {
        match s.strip_prefix("unix:") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(format!(
                        "listen = {s:?}: a Unix socket's path must be absolute"
                    ));
                }
                if path.as_os_str().len() > MAX_UNIX_PATH {
                    return Err(format!(
                        "listen = {s:?}: a Unix socket's path may be {MAX_UNIX_PATH} bytes at most"
                    ));
                }
                Ok(ListenAddr::Unix(path))
            }
            None => s
                .parse()
                .map(ListenAddr::Tcp)
                .map_err(|_| format!("listen = {s:?}: neither ip:port nor unix:/absolute/path")),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ListenAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_absolute_unix_addresses_parse_and_print_back() {
        for text in ["127.0.0.1:8787", "[::1]:80", "unix:/run/stockade/api.sock"] {
            let addr: ListenAddr = text.parse().expect(text);
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!(
            "unix:/a".parse::<ListenAddr>(),
            Ok(ListenAddr::Unix(PathBuf::from("/a")))
        );
    }

    #[test]
    fn a_relative_or_too_long_path_or_a_bad_address_is_refused_with_the_reason() {
        let relative = "unix:run/api.sock"
            .parse::<ListenAddr>()
            .expect_err("relative");
        assert!(relative.contains("must be absolute"), "{relative}");
        let long = format!("unix:/{}", "a".repeat(MAX_UNIX_PATH));
        let long = long.parse::<ListenAddr>().expect_err("too long");
        assert!(long.contains("107 bytes at most"), "{long}");
        let longest = format!("unix:/{}", "a".repeat(MAX_UNIX_PATH - 1));
        assert!(longest.parse::<ListenAddr>().is_ok());
        for bad in ["localhost:80", "8787", "unix:", ""] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}
