//! The queue store's behaviour, run on both backends by the store suite (`tests::suite`):
//! one consumer per queue of a tenant, tenants apart, claims with leases, acks, retries,
//! dead-letter moves, and the release of the leases one daemon held (only its own); pull leases
//! (`pull`).

mod pull;

use super::queues::{self as q, NewMessage};
use super::{Store, StoreError};
use crate::queues::Consumer;

/// The daemon claiming, and another sharing the store.
const ME: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";

fn consumer(queue: &str) -> Consumer {
    Consumer {
        queue: queue.into(),
        max_batch_size: 2,
        max_batch_timeout: 0,
        max_retries: 1,
        dead_letter_queue: Some("dead".into()),
        retry_delay: 0,
        max_concurrency: None,
    }
}

fn msg(id: &str, visible_ms: i64) -> NewMessage {
    NewMessage {
        id: id.into(),
        content_type: "text".into(),
        body: id.as_bytes().to_vec(),
        visible_ms,
    }
}

pub(super) async fn queues_behave(s: &Store) {
    // One consumer per queue of a tenant; another tenant's queue of that name is its own.
    s.tx(|tx| q::put_consumers(tx, "qa", "w1", &[consumer("jobs")]))
        .await
        .expect("first consumer");
    s.tx(|tx| q::put_consumers(tx, "qa", "w1", &[consumer("jobs")]))
        .await
        .expect("the same worker again");
    let second = s
        .tx(|tx| q::put_consumers(tx, "qa", "w2", &[consumer("other"), consumer("jobs")]))
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert_eq!(
        s.tx(|tx| q::consumer_of(tx, "qa", "other"))
            .await
            .expect("read"),
        None,
        "a refused definition's transaction stored none of its consumers"
    );
    s.tx(|tx| q::put_consumers(tx, "qb", "w9", &[consumer("jobs")]))
        .await
        .expect("another tenant");
    let listed = s.tx(q::list_consumers).await.expect("list");
    let mine: Vec<_> = listed
        .iter()
        .filter(|c| c.tenant == "qa" || c.tenant == "qb")
        .map(|c| (c.tenant.as_str(), c.worker.as_str(), c.consumer.clone()))
        .collect();
    assert_eq!(
        mine,
        [
            ("qa", "w1", consumer("jobs")),
            ("qb", "w9", consumer("jobs"))
        ]
    );

    // Messages: visible by their time, claimed oldest first with a lease, per tenant.
    s.tx(|tx| {
        q::insert(
            tx,
            "qa",
            "jobs",
            &[msg("a", 1_000), msg("b", 1_000), msg("c", 9_000)],
            500,
        )
    })
    .await
    .expect("insert");
    s.tx(|tx| q::insert(tx, "qb", "jobs", &[msg("x", 0)], 0))
        .await
        .expect("insert b");
    assert_eq!(
        s.tx(|tx| q::backlog(tx, "qa", "jobs", 2_000))
            .await
            .expect("backlog"),
        (3, 2, Some(1_000))
    );
    let claimed = s
        .tx(|tx| q::claim(tx, ME, "qa", "jobs", 2_000, 10, 60_000))
        .await
        .expect("claim");
    let ids: Vec<_> = claimed
        .iter()
        .map(|m| (m.id.as_str(), m.attempts))
        .collect();
    assert_eq!(ids, [("a", 1), ("b", 1)], "not c (delayed), not qb's x");
    assert_eq!(claimed[0].body, b"a");
    assert_eq!(claimed[0].created_ms, 500);
    assert!(
        s.tx(|tx| q::claim(tx, ME, "qa", "jobs", 2_000, 10, 60_000))
            .await
            .expect("claim")
            .is_empty(),
        "leased messages are not claimed twice"
    );
    // The lease over, a message not settled is claimed again, one attempt more.
    let again = s
        .tx(|tx| q::claim(tx, ME, "qa", "jobs", 60_000, 3, 120_000))
        .await
        .expect("claim");
    let ids: Vec<_> = again.iter().map(|m| (m.id.as_str(), m.attempts)).collect();
    assert_eq!(
        ids,
        [("c", 1), ("a", 2), ("b", 2)],
        "by when each became deliverable"
    );
    assert!(s.tx(|tx| q::ack(tx, "qa", "jobs", "a")).await.expect("ack"));
    assert!(
        !s.tx(|tx| q::ack(tx, "qb", "jobs", "b")).await.expect("ack"),
        "not qb's"
    );
    assert!(s
        .tx(|tx| q::retry(tx, "qa", "jobs", "b", 70_000))
        .await
        .expect("retry"));
    assert!(s
        .tx(|tx| q::move_to(tx, "qa", "jobs", "c", "dead", 80_000))
        .await
        .expect("move"));
    assert_eq!(
        s.tx(|tx| q::backlog(tx, "qa", "jobs", 80_000))
            .await
            .expect("backlog"),
        (1, 1, Some(70_000))
    );
    let dead = s
        .tx(|tx| q::claim(tx, ME, "qa", "dead", 80_000, 10, 90_000))
        .await
        .expect("claim dead");
    assert_eq!(
        (
            dead[0].id.as_str(),
            dead[0].attempts,
            dead[0].body.as_slice()
        ),
        ("c", 1, &b"c"[..])
    );
    assert!(s
        .tx(|tx| q::remove(tx, "qa", "jobs", "b"))
        .await
        .expect("drop"));
    assert_eq!(
        s.tx(|tx| q::backlog(tx, "qb", "jobs", 0))
            .await
            .expect("backlog"),
        (1, 1, Some(0)),
        "qb's message untouched"
    );
    s.tx(|tx| q::delete_consumers(tx, "qa", "w1"))
        .await
        .expect("delete");
    assert_eq!(
        s.tx(|tx| q::consumer_of(tx, "qa", "jobs"))
            .await
            .expect("read"),
        None
    );
    // Leave nothing for the other suites (the PostgreSQL schema is shared by a run).
    for (t, queue, id) in [("qa", "dead", "c"), ("qb", "jobs", "x")] {
        s.tx(move |tx| q::remove(tx, t, queue, id))
            .await
            .expect("clean");
    }
    s.tx(|tx| q::delete_consumers(tx, "qb", "w9"))
        .await
        .expect("clean");
    leases_are_released_by_holder(s).await;
    pull::pull_leases_behave(s).await;
    pull::pull_consumers_behave(s).await;
}

/// A daemon's release frees the messages its id holds (deliverable now, attempts kept), and
/// none another daemon holds, nor a retried or dead-lettered one (held by nobody).
async fn leases_are_released_by_holder(s: &Store) {
    let ids = |claimed: Vec<q::Claimed>| -> Vec<(String, i64)> {
        claimed.into_iter().map(|m| (m.id, m.attempts)).collect()
    };
    s.tx(|tx| {
        q::insert(
            tx,
            "ql",
            "jobs",
            &[msg("m1", 0), msg("m2", 0), msg("o1", 0), msg("r1", 0)],
            0,
        )?;
        q::insert(tx, "ql2", "jobs", &[msg("m3", 0)], 0)
    })
    .await
    .expect("insert");
    // This daemon holds m1, m2 (one tenant) and m3 (another); the other daemon o1; r1 was
    // claimed by this daemon and then retried with a delay, d1 dead-lettered.
    let mine = s
        .tx(|tx| q::claim(tx, ME, "ql", "jobs", 1_000, 2, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(ids(mine), [("m1".into(), 1), ("m2".into(), 1)]);
    let theirs = s
        .tx(|tx| q::claim(tx, OTHER, "ql", "jobs", 1_000, 1, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(ids(theirs), [("o1".into(), 1)]);
    let retried = s
        .tx(|tx| q::claim(tx, ME, "ql", "jobs", 1_000, 1, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(ids(retried), [("r1".into(), 1)]);
    assert!(s
        .tx(|tx| q::retry(tx, "ql", "jobs", "r1", 500_000))
        .await
        .expect("retry"));
    let other_tenant = s
        .tx(|tx| q::claim(tx, ME, "ql2", "jobs", 1_000, 5, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(ids(other_tenant), [("m3".into(), 1)]);
    s.tx(|tx| q::insert(tx, "ql", "jobs", &[msg("d1", 0)], 0))
        .await
        .expect("insert");
    s.tx(|tx| q::claim(tx, ME, "ql", "jobs", 1_000, 1, 1_000_000))
        .await
        .expect("claim d1");
    assert!(s
        .tx(|tx| q::move_to(tx, "ql", "jobs", "d1", "dead", 600_000))
        .await
        .expect("move"));
    assert!(
        s.tx(|tx| q::claim(tx, ME, "ql", "jobs", 2_000, 10, 1_000_000))
            .await
            .expect("claim")
            .is_empty(),
        "all leased or delayed"
    );

    // This daemon's successor releases its id's leases: three, of both tenants.
    let released = s
        .tx(|tx| q::release_held(tx, ME, 2_000))
        .await
        .expect("release");
    assert_eq!(released, 3);
    let again = s
        .tx(|tx| q::claim(tx, OTHER, "ql", "jobs", 2_000, 10, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(
        ids(again),
        [("m1".into(), 2), ("m2".into(), 2)],
        "deliverable at once, the interrupted delivery counted; not o1 (the other daemon's \
         lease), not r1 (its retry delay)"
    );
    let again = s
        .tx(|tx| q::claim(tx, OTHER, "ql2", "jobs", 2_000, 10, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(ids(again), [("m3".into(), 2)]);
    assert!(
        s.tx(|tx| q::claim(tx, ME, "ql", "dead", 2_000, 10, 1_000_000))
            .await
            .expect("claim")
            .is_empty(),
        "the dead-lettered message waits for its time, held by no one"
    );
    // Nothing of this daemon's is held now; a second release changes nothing.
    assert_eq!(
        s.tx(|tx| q::release_held(tx, ME, 3_000))
            .await
            .expect("release"),
        0
    );
    // The other daemon's leases (o1, and m1, m2, m3 it claimed since) are its own still.
    assert!(
        s.tx(|tx| q::claim(tx, ME, "ql", "jobs", 3_000, 10, 1_000_000))
            .await
            .expect("claim")
            .is_empty(),
        "the other daemon's leases stand"
    );
    // Released by the other daemon's successor: its four, o1 one attempt in, m1 and m2 two.
    assert_eq!(
        s.tx(|tx| q::release_held(tx, OTHER, 3_000))
            .await
            .expect("release"),
        4
    );
    let last = s
        .tx(|tx| q::claim(tx, ME, "ql", "jobs", 3_000, 10, 1_000_000))
        .await
        .expect("claim");
    assert_eq!(
        ids(last),
        [("m1".into(), 3), ("m2".into(), 3), ("o1".into(), 2)]
    );
    // Leave nothing for the other suites.
    for (t, queue, id) in [
        ("ql", "jobs", "m1"),
        ("ql", "jobs", "m2"),
        ("ql", "jobs", "o1"),
        ("ql", "jobs", "r1"),
        ("ql", "dead", "d1"),
        ("ql2", "jobs", "m3"),
    ] {
        assert!(
            s.tx(move |tx| q::remove(tx, t, queue, id))
                .await
                .expect("clean"),
            "{t}/{queue}/{id}"
        );
    }
}
