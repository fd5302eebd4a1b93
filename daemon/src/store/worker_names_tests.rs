//! Worker names at rest, run on both backends by the store suite (`tests::suite`): a name's
//! current version, its triggers moving with it, rollback, deletes, and tenants kept apart.

use super::worker_names::{self, current, versions};
use super::{triggers, workers, Store, StoreError};
use crate::supervisor::WorkerDef;

fn version(tenant: &str, name: &str, byte: u8, cron: &str) -> (String, WorkerDef) {
    let mut def = super::tests::def(tenant, Vec::new());
    def.id = stockade_ipc::WorkerId([byte; 32]);
    def.name = Some(name.into());
    def.crons = vec![cron.into()];
    (def.id.to_hex(), def)
}

pub(super) async fn names_behave(s: &Store) {
    let (v1, def1) = version("t-name", "app", 1, "1 * * * *");
    let (v2, def2) = version("t-name", "app", 2, "2 * * * *");
    let (u1, def_u) = version("u-name", "app", 3, "3 * * * *");
    s.tx(move |tx| {
        workers::put(tx, &v1, &def1)?;
        workers::put(tx, &u1, &def_u)
    })
    .await
    .expect("put v1");
    let (v1, def1) = version("t-name", "app", 1, "1 * * * *");
    let (v2c, u1) = (v2.clone(), version("u-name", "app", 3, "").0);
    s.tx(move |tx| workers::put(tx, &v2c, &def2))
        .await
        .expect("put v2");
    let state = |tenant: &'static str| {
        s.tx(move |tx| {
            let now = current(tx, tenant, "app")?;
            let all = versions(tx, tenant, "app")?;
            let crons: Vec<Vec<String>> = all
                .iter()
                .map(|id| triggers::of(tx, tenant, id))
                .collect::<Result<_, _>>()?;
            Ok((now, all.len(), crons.concat()))
        })
    };
    let stored = s
        .tx(|tx| workers::get(tx, "t-name", &stockade_ipc::WorkerId([2; 32]).to_hex()))
        .await
        .expect("get");
    assert_eq!(
        stored.and_then(|d| d.name),
        Some("app".to_owned()),
        "the name round-trips"
    );
    // The newest is current, and only its triggers are stored; the other tenant's name is its own.
    assert_eq!(
        state("t-name").await.expect("state"),
        (Some(v2.clone()), 2, vec!["2 * * * *".to_owned()])
    );
    assert_eq!(
        state("u-name").await.expect("state"),
        (Some(u1.clone()), 1, vec!["3 * * * *".to_owned()])
    );

    // Made current again (a rollback): the triggers move back.
    let (back, def_back) = (v1.clone(), version("t-name", "app", 1, "1 * * * *").1);
    s.tx(move |tx| worker_names::make_current(tx, &back, &def_back))
        .await
        .expect("rollback");
    assert_eq!(
        state("t-name").await.expect("state"),
        (Some(v1.clone()), 2, vec!["1 * * * *".to_owned()])
    );

    // Deleting the current version: the other is current, with its triggers.
    let gone = v1.clone();
    let existed = s
        .tx(move |tx| workers::delete(tx, "t-name", &gone))
        .await
        .expect("delete");
    assert!(existed);
    assert_eq!(
        state("t-name").await.expect("state"),
        (Some(v2.clone()), 1, vec!["2 * * * *".to_owned()])
    );
    // Deleting a version that is not current changes nothing else.
    s.tx(move |tx| workers::put(tx, &v1, &def1))
        .await
        .expect("put v1 again");
    let (v1, _) = version("t-name", "app", 1, "");
    let other = v2.clone();
    s.tx(move |tx| workers::delete(tx, "t-name", &other))
        .await
        .expect("delete v2");
    assert_eq!(
        state("t-name").await.expect("state"),
        (Some(v1.clone()), 1, vec!["1 * * * *".to_owned()])
    );

    // Making a deleted version current (a rollback that lost the race with its delete) fails
    // and changes nothing.
    let (gone_id, gone_def) = version("t-name", "app", 4, "4 * * * *");
    let stale = s
        .tx(move |tx| worker_names::make_current(tx, &gone_id, &gone_def))
        .await;
    assert!(matches!(stale, Err(StoreError::NotFound(_))), "{stale:?}");
    assert_eq!(
        state("t-name").await.expect("state"),
        (Some(v1.clone()), 1, vec!["1 * * * *".to_owned()])
    );

    // Deleting every version forgets the name.
    let deleted = s
        .tx(|tx| worker_names::delete_all(tx, "t-name", "app"))
        .await
        .expect("delete all");
    assert_eq!(deleted, [v1]);
    assert_eq!(state("t-name").await.expect("state"), (None, 0, Vec::new()));
    assert_eq!(
        state("u-name").await.expect("state"),
        (Some(u1), 1, vec!["3 * * * *".to_owned()])
    );
    for (name, ok) in [
        ("app", true),
        ("a-b_c9", true),
        ("9lives", true),
        (&*"a".repeat(63), true),
        (&*"a".repeat(64), false),
        ("", false),
        ("-a", false),
        ("_a", false),
        ("A", false),
        ("a.b", false),
        ("a/b", false),
        ("é", false),
    ] {
        assert_eq!(worker_names::valid_name(name), ok, "{name:?}");
    }

    // Versions of one name made at once: one is current, and only its triggers are stored.
    let mut tasks = Vec::new();
    for i in 10..22u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (id, def) = version("t-race", "race", i, &format!("{i} * * * *"));
            s.tx(move |tx| workers::put(tx, &id, &def)).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("put");
    }
    let (now, all, crons) = s
        .tx(|tx| {
            let now = current(tx, "t-race", "race")?;
            let all = versions(tx, "t-race", "race")?;
            let mut crons = Vec::new();
            for id in &all {
                for cron in triggers::of(tx, "t-race", id)? {
                    crons.push((id.clone(), cron));
                }
            }
            Ok((now, all, crons))
        })
        .await
        .expect("state");
    assert_eq!(all.len(), 12);
    let now = now.expect("a current version");
    assert_eq!(crons.len(), 1, "{crons:?}");
    assert_eq!(crons[0].0, now, "the triggers are the current version's");
}

/// A `PUT`'s crons stay with the name across versions without crons of their own, and are
/// replaced by a version that has some; the versions beyond a count go oldest first, the current
/// one last.
pub(super) async fn name_crons_and_versions_beyond(s: &Store) {
    let make = |byte: u8, crons: &[&str]| {
        let (id, mut def) = version("t-keep", "app", byte, "");
        def.crons = crons.iter().map(|c| (*c).to_owned()).collect();
        (id, def)
    };
    let crons_of = |id: String| s.tx(move |tx| triggers::of(tx, "t-keep", &id));
    let (v1, def1) = make(31, &["1 * * * *"]);
    s.tx(move |tx| workers::put(tx, &v1, &def1))
        .await
        .expect("put v1");
    let v1 = make(31, &[]).0;
    // What `PUT /v1/workers/app/triggers` does.
    let put = v1.clone();
    s.tx(move |tx| {
        let five = ["5 * * * *".to_owned()];
        assert!(triggers::replace(tx, "t-keep", &put, &five)?);
        worker_names::set_crons(tx, "t-keep", "app", Some(&five))
    })
    .await
    .expect("put triggers");
    // Distinct creation times: versions are ordered by them.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let (v2, def2) = make(32, &[]);
    let put = v2.clone();
    s.tx(move |tx| workers::put(tx, &put, &def2))
        .await
        .expect("put v2");
    assert_eq!(
        crons_of(v2.clone()).await.expect("crons"),
        ["5 * * * *"],
        "a version without crons keeps the name's"
    );
    assert_eq!(
        crons_of(v1.clone()).await.expect("crons"),
        Vec::<String>::new()
    );
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let (v3, def3) = make(33, &["3 * * * *"]);
    let put = v3.clone();
    s.tx(move |tx| workers::put(tx, &put, &def3))
        .await
        .expect("put v3");
    assert_eq!(
        crons_of(v3.clone()).await.expect("crons"),
        ["3 * * * *"],
        "a version with crons replaces the name's"
    );
    // Back to v2: the PUT's crons went with v3's, so v2's definition (none) applies.
    let (back, def_back) = make(32, &[]);
    s.tx(move |tx| worker_names::make_current(tx, &back, &def_back))
        .await
        .expect("rollback");
    assert_eq!(
        crons_of(v2.clone()).await.expect("crons"),
        Vec::<String>::new()
    );
    assert_eq!(
        crons_of(v3.clone()).await.expect("crons"),
        Vec::<String>::new()
    );

    let beyond = |keep: u32| {
        s.tx(move |tx| {
            let ids = worker_names::beyond(tx, "t-keep", "app", keep)?;
            Ok(ids.into_iter().map(|(id, _)| id).collect::<Vec<_>>())
        })
    };
    // Current: v2. Oldest first, the current one last.
    assert_eq!(beyond(10).await.expect("beyond"), Vec::<String>::new());
    assert_eq!(beyond(3).await.expect("beyond"), std::slice::from_ref(&v1));
    assert_eq!(beyond(2).await.expect("beyond"), [v1.clone(), v3.clone()]);
    assert_eq!(
        beyond(1).await.expect("beyond"),
        [v1.clone(), v3.clone(), v2.clone()]
    );
    // Versions another definition names by id stay: v1 as a globalOutbound, v3 as a service
    // binding (a binding by name names no version).
    let env = vec![
        (
            "S".to_owned(),
            serde_json::json!({ "binding": "service", "worker": v3 }),
        ),
        (
            "N".to_owned(),
            serde_json::json!({ "binding": "service", "worker": "app" }),
        ),
    ];
    let mut user = super::tests::def("t-keep", env);
    user.id = stockade_ipc::WorkerId([39; 32]);
    // (An outbound with an entrypoint and props, stored as `worker:<id>:{...}`, names it too.)
    user.outbound = crate::supervisor::Outbound::Worker(crate::supervisor::OutboundTarget {
        worker: v1.clone(),
        entrypoint: Some("Gate".into()),
        props: Some(r#"{"k":1}"#.into()),
    });
    let user_id = user.id.to_hex();
    s.tx(move |tx| workers::put(tx, &user_id, &user))
        .await
        .expect("put the user");
    assert_eq!(beyond(1).await.expect("beyond"), std::slice::from_ref(&v2));
    let sized = s
        .tx(|tx| worker_names::beyond(tx, "t-keep", "app", 3))
        .await
        .expect("beyond");
    // Only v2 may go: the current one, which the new version replaces anyway.
    assert_eq!(sized.len(), 1, "{sized:?}");
    assert_eq!(sized[0].0, v2);
    assert!(sized[0].1 > 0, "a version's stored bytes: {sized:?}");
    assert_eq!(
        s.tx(|tx| worker_names::beyond(tx, "t-keep", "none", 1))
            .await
            .expect("beyond"),
        Vec::new(),
        "a name without versions has none to delete"
    );
}

/// A gradual deployment: the larger share is current (with the triggers), the other version
/// serves its share; shapes that do not add up are refused; deleting the other version, or a
/// new version, ends it.
pub(super) async fn gradual_deployments(s: &Store) {
    let mut ids = Vec::new();
    for byte in 41..=43u8 {
        let (id, def) = version("t-dep", "dep", byte, &format!("{byte} * * * *"));
        let put = id.clone();
        s.tx(move |tx| workers::put(tx, &put, &def))
            .await
            .expect("put");
        ids.push(id);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (d1, d2, d3) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let deploy = |shares: Vec<(String, u32)>| {
        s.tx(move |tx| worker_names::deploy(tx, "t-dep", "dep", &shares))
    };
    let read = || s.tx(|tx| worker_names::deployment(tx, "t-dep", "dep"));
    let dep = |current: &String, split: Option<(&String, u32)>| worker_names::Deployment {
        current: current.clone(),
        split: split.map(|(id, bp)| (id.clone(), bp)),
    };

    let made = deploy(vec![(d1.clone(), 1_000), (d3.clone(), 9_000)])
        .await
        .expect("deploy");
    assert_eq!(made, dep(&d3, Some((&d1, 1_000))));
    assert_eq!(read().await.expect("read"), Some(made));
    // The larger share moves: d1 is current, with its triggers.
    let made = deploy(vec![(d1.clone(), 6_000), (d3.clone(), 4_000)])
        .await
        .expect("deploy");
    assert_eq!(made, dep(&d1, Some((&d3, 4_000))));
    let crons = |id: String| s.tx(move |tx| triggers::of(tx, "t-dep", &id));
    assert_eq!(crons(d1.clone()).await.expect("crons"), ["41 * * * *"]);
    assert_eq!(
        crons(d3.clone()).await.expect("crons"),
        Vec::<String>::new()
    );
    // A tie keeps the current one current.
    let made = deploy(vec![(d2.clone(), 5_000), (d1.clone(), 5_000)])
        .await
        .expect("deploy");
    assert_eq!(made, dep(&d1, Some((&d2, 5_000))));
    // The current one and the other are the last a prune takes.
    let beyond = s
        .tx(|tx| worker_names::beyond(tx, "t-dep", "dep", 3))
        .await
        .expect("beyond");
    assert_eq!(beyond.len(), 1);
    assert_eq!(beyond[0].0, d3);

    for (shares, invalid) in [
        (vec![(d1.clone(), 5_000), (d2.clone(), 4_999)], true),
        (vec![(d1.clone(), 5_000), (d1.clone(), 5_000)], true),
        (vec![(d1.clone(), 10_000), (d2.clone(), 0)], true),
        (
            vec![
                (d1.clone(), 4_000),
                (d2.clone(), 3_000),
                (d3.clone(), 3_000),
            ],
            true,
        ),
        (vec![("f".repeat(64), 10_000)], false),
    ] {
        let refused = deploy(shares).await;
        match refused {
            Err(StoreError::Invalid(_)) if invalid => {}
            Err(StoreError::NotFound(_)) if !invalid => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        read().await.expect("read"),
        Some(dep(&d1, Some((&d2, 5_000)))),
        "a refusal changes nothing"
    );
    // The other version deleted: the current one serves everything.
    let gone = d2.clone();
    s.tx(move |tx| workers::delete(tx, "t-dep", &gone))
        .await
        .expect("delete");
    assert_eq!(read().await.expect("read"), Some(dep(&d1, None)));
    // A new version ends a split.
    deploy(vec![(d1.clone(), 5_000), (d3.clone(), 5_000)])
        .await
        .expect("deploy");
    let (d4, def4) = version("t-dep", "dep", 44, "44 * * * *");
    let put = d4.clone();
    s.tx(move |tx| workers::put(tx, &put, &def4))
        .await
        .expect("put");
    assert_eq!(read().await.expect("read"), Some(dep(&d4, None)));
    // The current version deleted mid-split: the other one takes over (not the newest, d3).
    deploy(vec![(d4.clone(), 5_000), (d1.clone(), 5_000)])
        .await
        .expect("deploy");
    let gone = d4.clone();
    s.tx(move |tx| workers::delete(tx, "t-dep", &gone))
        .await
        .expect("delete");
    assert_eq!(read().await.expect("read"), Some(dep(&d1, None)));
    assert_eq!(crons(d1.clone()).await.expect("crons"), ["41 * * * *"]);
    assert_eq!(
        s.tx(|tx| worker_names::deployment(tx, "u-dep", "dep"))
            .await
            .expect("read"),
        None,
        "another tenant has no such name"
    );
}
