//! The gateway's DNS: names resolved by the system resolver (`tokio::net::lookup_host`), every
//! address checked against the [`AddressPolicy`] before the HTTP client may connect to any.
//!
//! Guarantees: the client connects only to addresses this resolver returned, and it returns
//! addresses only when **all** of a name's addresses are allowed (a name that resolves to one
//! public and one private address is refused whole), so DNS rebinding between a check and the
//! connection is impossible: there is no second resolution. A refusal is a [`Refused`] error the
//! gateway finds in the client's error chain. Trusts: the system resolver to answer (its answers
//! are checked, not trusted).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::addr::{AddressPolicy, Refused};

/// A name that resolves to nothing usable.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {0}")]
pub struct Unresolvable(pub String);

pub struct CheckedResolver {
    pub policy: Arc<AddressPolicy>,
}

/// Resolves `host` and checks every address.
pub async fn resolve_checked(
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| Unresolvable(host.to_owned()))?
        .collect();
    if addrs.is_empty() {
        return Err(Box::new(Unresolvable(host.to_owned())));
    }
    for addr in &addrs {
        policy.check(addr.ip())?;
    }
    Ok(addrs)
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let addrs = resolve_checked(&policy, name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The first error of type `T` in `error`'s chain of sources, looking inside `io::Error`s too
/// (whose `source` skips the error they wrap).
fn find<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        next = e.source();
    }
    None
}

/// The [`Refused`] somewhere in `error`'s chain, if any.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    find::<Refused>(error).cloned()
}

/// Whether `error`'s chain says the name did not resolve.
pub fn unresolvable_in(error: &(dyn std::error::Error + 'static)) -> bool {
    find::<Unresolvable>(error).is_some()
}
