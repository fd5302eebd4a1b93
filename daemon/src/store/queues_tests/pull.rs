//! Pull leases at rest, on both backends (`tests::suite` through `queues_behave`): a pull leases
//! like a claim, under a lease hash and no holder; [`q::leased`] finds a message only by tenant,
//! queue, id and its current lease while it lasts; a later claim, a retry or a dead-letter move
//! forgets the lease; a daemon's release never frees a pulled message; a message out of
//! deliveries is dropped by the pull that finds it, or moved to the dead-letter queue when the
//! pull names one; a queue's pull consumer settings are kept, replaced and forgotten, and a queue
//! has one consumer, a worker's or the pull's (refused both ways).

use super::super::queues::{self as q};
use super::super::Store;
use super::{msg, ME};

fn h(s: &str) -> String {
    s.to_owned()
}

pub(in crate::store) async fn pull_leases_behave(s: &Store) {
    s.tx(|tx| {
        q::insert(
            tx,
            "qp",
            "jobs",
            &[msg("p1", 0), msg("p2", 0), msg("p3", 0)],
            0,
        )?;
        q::insert(tx, "qp2", "jobs", &[msg("x1", 0)], 0)
    })
    .await
    .expect("insert");

    // Two leased, oldest first, the i-th under the i-th hash; the next pull sees the third only.
    let first = s
        .tx(|tx| {
            q::pull(
                tx,
                "qp",
                "jobs",
                1_000,
                31_000,
                4,
                None,
                &[h("h1"), h("h2")],
            )
        })
        .await
        .expect("pull");
    let got: Vec<_> = first
        .leased
        .iter()
        .map(|m| (m.id.as_str(), m.attempts))
        .collect();
    assert_eq!((got, first.dropped), (vec![("p1", 1), ("p2", 1)], 0));
    let second = s
        .tx(|tx| {
            q::pull(
                tx,
                "qp",
                "jobs",
                1_000,
                31_000,
                4,
                None,
                &[h("h3"), h("h4")],
            )
        })
        .await
        .expect("pull");
    let got: Vec<_> = second.leased.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        got,
        ["p3"],
        "leased ones are not pulled again; qp2's x1 never"
    );
    assert!(
        s.tx(|tx| q::claim(tx, ME, "qp", "jobs", 2_000, 10, 9_000_000))
            .await
            .expect("claim")
            .is_empty(),
        "nor claimed by a push delivery"
    );

    // Found by tenant, queue, id and the lease, while it lasts.
    let leased = |t: &'static str, queue: &'static str, id: &'static str, l: &'static str, now| {
        s.tx(move |tx| q::leased(tx, t, queue, id, l, now))
    };
    assert_eq!(
        leased("qp", "jobs", "p1", "h1", 2_000).await.expect("read"),
        Some(1)
    );
    assert_eq!(
        leased("qp", "jobs", "p1", "h2", 2_000).await.expect("read"),
        None,
        "p2's lease"
    );
    assert_eq!(
        leased("qp2", "jobs", "p1", "h1", 2_000)
            .await
            .expect("read"),
        None,
        "tenant"
    );
    assert_eq!(
        leased("qp", "other", "p1", "h1", 2_000)
            .await
            .expect("read"),
        None,
        "queue"
    );
    assert_eq!(
        leased("qp", "jobs", "p1", "h1", 31_000)
            .await
            .expect("read"),
        None,
        "ended"
    );

    // No daemon holds a pulled message: a release frees none of them, even one a daemon held
    // before (p1 once claimed by ME, its lease ended, then pulled).
    assert_eq!(
        s.tx(|tx| q::release_held(tx, ME, 3_000))
            .await
            .expect("release"),
        0
    );
    assert!(
        s.tx(|tx| q::pull(tx, "qp", "jobs", 3_000, 31_000, 4, None, &[h("h9")]))
            .await
            .expect("pull")
            .leased
            .is_empty(),
        "still leased after a release"
    );

    // A retry forgets the lease; an ack (delete) of p2 by its lease.
    assert!(s
        .tx(|tx| q::retry(tx, "qp", "jobs", "p3", 35_000))
        .await
        .expect("retry"));
    assert_eq!(
        leased("qp", "jobs", "p3", "h3", 4_000).await.expect("read"),
        None,
        "retried"
    );
    assert!(s
        .tx(|tx| q::ack(tx, "qp", "jobs", "p2"))
        .await
        .expect("ack"));

    // p1's lease ends; a push claim takes it (and forgets the pull's lease), then a release
    // frees that claim, and pulls deliver it (and p3, its retry due) until it has had 4
    // deliveries: the pull that would make a 5th drops it.
    let claimed = s
        .tx(|tx| q::claim(tx, ME, "qp", "jobs", 31_000, 1, 9_000_000))
        .await
        .expect("claim");
    assert_eq!((claimed[0].id.as_str(), claimed[0].attempts), ("p1", 2));
    assert_eq!(
        leased("qp", "jobs", "p1", "h1", 2_000).await.expect("read"),
        None,
        "claimed"
    );
    assert_eq!(
        s.tx(|tx| q::release_held(tx, ME, 32_000))
            .await
            .expect("release"),
        1
    );
    let mut seen = Vec::new();
    for (now, lease) in [(40_000, "a"), (50_000, "b")] {
        let p = s
            .tx(move |tx| {
                q::pull(
                    tx,
                    "qp",
                    "jobs",
                    now,
                    now + 5_000,
                    4,
                    None,
                    &[h(lease), h("z")],
                )
            })
            .await
            .expect("pull");
        seen.extend(p.leased.iter().map(|m| (m.id.clone(), m.attempts)));
        assert_eq!(p.dropped, 0);
    }
    assert_eq!(
        seen,
        [
            ("p1".into(), 3),
            ("p3".into(), 2),
            ("p1".into(), 4),
            ("p3".into(), 3)
        ],
        "each lease ended unsettled: one delivery more each"
    );
    let last = s
        .tx(|tx| q::pull(tx, "qp", "jobs", 60_000, 65_000, 4, None, &[h("c"), h("d")]))
        .await
        .expect("pull");
    let got: Vec<_> = last
        .leased
        .iter()
        .map(|m| (m.id.as_str(), m.attempts))
        .collect();
    assert_eq!(
        (got, last.dropped),
        (vec![("p3", 4)], 1),
        "p1 dropped, out of deliveries"
    );
    assert_eq!(
        leased("qp", "jobs", "p3", "c", 61_000).await.expect("read"),
        Some(4)
    );

    // A dead-letter move forgets the lease too.
    assert!(s
        .tx(|tx| q::move_to(tx, "qp", "jobs", "p3", "dead", 61_000))
        .await
        .expect("move"));
    assert_eq!(
        leased("qp", "dead", "p3", "c", 61_000).await.expect("read"),
        None
    );

    // Leave nothing for the other suites.
    for (t, queue, id) in [("qp", "dead", "p3"), ("qp2", "jobs", "x1")] {
        assert!(
            s.tx(move |tx| q::remove(tx, t, queue, id))
                .await
                .expect("clean"),
            "{t}/{queue}/{id}"
        );
    }
    assert_eq!(
        s.tx(|tx| q::backlog(tx, "qp", "jobs", 0))
            .await
            .expect("backlog")
            .0,
        0
    );
}

pub(in crate::store) async fn pull_consumers_behave(s: &Store) {
    use crate::queues::pull::PullSettings;
    let settings = PullSettings {
        max_retries: 0,
        dead_letter_queue: Some("dead".into()),
        ..PullSettings::default()
    };
    // Kept, read back, replaced; another tenant's queue of the same name has none.
    let kept = settings.clone();
    s.tx(move |tx| q::put_pull_consumer(tx, "qc", "jobs", &kept))
        .await
        .expect("put");
    let read = |t: &'static str| s.tx(move |tx| q::pull_consumer(tx, t, "jobs"));
    assert_eq!(read("qc").await.expect("read"), Some(settings.clone()));
    assert_eq!(read("qc2").await.expect("read"), None);
    let replaced = PullSettings {
        batch_size: 9,
        ..settings.clone()
    };
    let kept = replaced.clone();
    s.tx(move |tx| q::put_pull_consumer(tx, "qc", "jobs", &kept))
        .await
        .expect("replace");
    assert_eq!(read("qc").await.expect("read"), Some(replaced));

    // One consumer per queue: a worker may not take it, and a worker's queue takes no settings.
    let c = super::consumer("jobs");
    let refused = s.tx(move |tx| q::put_consumers(tx, "qc", "w1", &[c])).await;
    assert!(
        matches!(refused, Err(crate::store::StoreError::Conflict(ref m)) if m.contains("pull consumer")),
        "{refused:?}"
    );
    let c = super::consumer("busy");
    s.tx(move |tx| q::put_consumers(tx, "qc", "w1", &[c]))
        .await
        .expect("a worker's queue");
    let kept = settings.clone();
    let refused = s
        .tx(move |tx| q::put_pull_consumer(tx, "qc", "busy", &kept))
        .await;
    assert!(
        matches!(refused, Err(crate::store::StoreError::Conflict(ref m)) if m.contains("w1")),
        "{refused:?}"
    );

    // A pull naming a dead-letter queue moves a message out of deliveries there.
    s.tx(|tx| q::insert(tx, "qc", "jobs", &[msg("d1", 0)], 0))
        .await
        .expect("insert");
    let first = s
        .tx(|tx| q::pull(tx, "qc", "jobs", 1_000, 2_000, 1, Some("dead"), &[h("a")]))
        .await
        .expect("pull");
    assert_eq!(first.leased.len(), 1);
    let second = s
        .tx(|tx| q::pull(tx, "qc", "jobs", 3_000, 4_000, 1, Some("dead"), &[h("b")]))
        .await
        .expect("pull");
    assert_eq!(
        (second.leased.len(), second.dropped, second.dead_lettered),
        (0, 0, 1),
        "out of deliveries: dead-lettered, not dropped"
    );
    let moved = s
        .tx(|tx| q::pull(tx, "qc", "dead", 3_000, 4_000, 1, None, &[h("c")]))
        .await
        .expect("pull");
    let got: Vec<_> = moved
        .leased
        .iter()
        .map(|m| (m.id.as_str(), m.attempts))
        .collect();
    assert_eq!(got, [("d1", 1)], "in the dead-letter queue, attempts anew");

    // Forgotten once; the second delete finds nothing. Leave nothing for the other suites.
    let gone = |t: &'static str| s.tx(move |tx| q::delete_pull_consumer(tx, t, "jobs"));
    assert!(gone("qc").await.expect("delete"));
    assert!(!gone("qc").await.expect("delete"));
    assert_eq!(read("qc").await.expect("read"), None);
    s.tx(|tx| q::delete_consumers(tx, "qc", "w1"))
        .await
        .expect("clean");
    assert!(s
        .tx(|tx| q::remove(tx, "qc", "dead", "d1"))
        .await
        .expect("clean"));
}
