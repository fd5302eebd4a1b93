//! What a Loader child may have, given its parent (`env.LOADER`, see `api/services.rs`): never
//! more limits and never a wider outbound than its parent's (its bindings are narrowed by
//! `supervisor::bindings::subset`).
//!
//! Guarantees: [`narrowed_limits`] is at most the parent's in every field the parent sets, and
//! [`narrowed_outbound`] never reaches the network or a worker the parent could not. Trusts:
//! nothing; the parent's definition is the supervisor's own.

use super::error::ApiError;
use crate::supervisor::bindings::{Binding, Bindings};
use crate::supervisor::{Outbound, OutboundTarget};

/// A child's limits: what it asked for, but never more than its parent's (0 is "the default").
pub(super) fn narrowed_limits(
    child: stockade_ipc::Limits,
    parent: &stockade_ipc::Limits,
) -> stockade_ipc::Limits {
    let meet = |c: u32, p: u32| match (c, p) {
        (0, p) => p,
        (c, 0) => c,
        (c, p) => c.min(p),
    };
    stockade_ipc::Limits {
        cpu_ms: meet(child.cpu_ms, parent.cpu_ms),
        wall_ms: meet(child.wall_ms, parent.wall_ms),
        memory_mb: meet(child.memory_mb, parent.memory_mb),
        stack_kb: meet(child.stack_kb, parent.stack_kb),
        sub_requests: meet(child.sub_requests, parent.sub_requests),
        result_bytes: meet(child.result_bytes, parent.result_bytes),
        log_bytes: meet(child.log_bytes, parent.log_bytes),
    }
}

/// A child's outbound, never reaching further than its parent's: a parent without network has
/// children without network; a parent whose fetches go to a worker has children whose fetches
/// go there or nowhere (one that names anything else is refused); a parent under the tenant's
/// policy lets its children choose a worker's default export. A child's fetches may always go to
/// the parent itself (`parent_id`; its `ctx.exports.Name({props})`): what the parent's code then
/// does goes through the parent's own outbound. An entrypoint or props for another worker only
/// as the parent holds them (its outbound, or one of its service bindings, `parent_bindings`):
/// props are what the tenant or that worker chose, never a child.
pub(super) fn narrowed_outbound(
    child: Outbound,
    parent: &Outbound,
    parent_id: &str,
    parent_bindings: &Bindings,
) -> Result<Outbound, ApiError> {
    let held = |c: &OutboundTarget| {
        *parent == Outbound::Worker(c.clone())
            || parent_bindings.values().any(|b| {
                *b == Binding::Service {
                    worker: c.worker.clone(),
                    entrypoint: c.entrypoint.clone(),
                    props: c.props.clone(),
                }
            })
    };
    match (parent, child) {
        (_, Outbound::Worker(c)) if c.worker == parent_id => Ok(Outbound::Worker(c)),
        (Outbound::Policy, Outbound::Worker(c))
            if (c.entrypoint.is_some() || c.props.is_some()) && !held(&c) =>
        {
            Err(ApiError::Exceeds(
                "globalOutbound: an entrypoint or props for another worker only as the parent \
                 holds them (its own globalOutbound, or a service binding)"
                    .into(),
            ))
        }
        (Outbound::Policy, child) => Ok(child),
        (Outbound::Blocked, _) => Ok(Outbound::Blocked),
        (Outbound::Worker(_), Outbound::Blocked) => Ok(Outbound::Blocked),
        (Outbound::Worker(p), Outbound::Policy) => Ok(Outbound::Worker(p.clone())),
        (Outbound::Worker(p), Outbound::Worker(c)) if *p == c => Ok(Outbound::Worker(c)),
        (Outbound::Worker(_), Outbound::Worker(_)) => Err(ApiError::Exceeds(
            "globalOutbound: the parent's fetches go to another worker; its child's cannot go elsewhere"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_ipc::Limits;

    fn limits(cpu_ms: u32, wall_ms: u32, memory_mb: u32) -> Limits {
        Limits {
            cpu_ms,
            wall_ms,
            memory_mb,
            stack_kb: 0,
            sub_requests: 50,
            result_bytes: 0,
            log_bytes: 0,
        }
    }

    #[test]
    fn a_child_never_has_more_than_its_parent() {
        let got = narrowed_limits(limits(60_000, 100, 512), &limits(200, 30_000, 128));
        assert_eq!(got, limits(200, 100, 128));
        let w = |id: &str| Outbound::Worker(crate::supervisor::OutboundTarget::to(id));
        let with_props = |id: &str| {
            Outbound::Worker(crate::supervisor::OutboundTarget {
                worker: id.into(),
                entrypoint: Some("Gate".into()),
                props: Some(r#"{"k":1}"#.into()),
            })
        };
        let own = || with_props("p");
        let held: Bindings = [(
            "B".to_owned(),
            Binding::Service {
                worker: "b".into(),
                entrypoint: Some("Gate".into()),
                props: Some(r#"{"k":1}"#.into()),
            },
        )]
        .into_iter()
        .collect();
        for (parent, child, expected) in [
            (Outbound::Policy, Outbound::Policy, Some(Outbound::Policy)),
            (Outbound::Policy, w("a"), Some(w("a"))),
            (Outbound::Blocked, Outbound::Policy, Some(Outbound::Blocked)),
            (Outbound::Blocked, w("a"), Some(Outbound::Blocked)),
            (w("a"), Outbound::Policy, Some(w("a"))),
            (w("a"), Outbound::Blocked, Some(Outbound::Blocked)),
            (w("a"), w("a"), Some(w("a"))),
            (w("a"), w("b"), None),
            // The parent itself ("p"), with an entrypoint and props: whatever the parent's.
            (Outbound::Blocked, own(), Some(own())),
            (w("a"), own(), Some(own())),
            // The same worker as the parent's, with other props: no.
            (w("a"), with_props("a"), None),
            // Under the policy, props for another worker only as a binding of the parent's.
            (Outbound::Policy, with_props("a"), None),
            (Outbound::Policy, with_props("b"), Some(with_props("b"))),
            (with_props("a"), with_props("a"), Some(with_props("a"))),
        ] {
            let got = narrowed_outbound(child.clone(), &parent, "p", &held).ok();
            assert_eq!(got, expected, "{parent:?} / {child:?}");
        }
    }
}
