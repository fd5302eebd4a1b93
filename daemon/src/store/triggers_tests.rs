//! The cron triggers' store behaviour beyond the definition's round trip, run on both backends
//! by the store suite (`tests::suite`): replacing a stored worker's triggers, per tenant.

use super::triggers::{self, StoredTrigger};
use super::Store;

fn crons(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| c.to_string()).collect()
}

pub(super) async fn triggers_behave(s: &Store) {
    const ID: &str = "77";
    // A stored worker (its definition's bytes do not matter here) with two triggers.
    s.tx(|tx| {
        tx.exec(
            "INSERT INTO workers (tenant, id, def, created_ms) VALUES ('t-cron', ?1, ?2, 1)",
            &[ID.into(), b"{}".to_vec().into()],
        )?;
        triggers::put(tx, "t-cron", ID, &crons(&["0 0 * * *", "*/5 * * * *"]))
    })
    .await
    .expect("put");
    let of = |tenant: &'static str| s.tx(move |tx| triggers::of(tx, tenant, ID));
    assert_eq!(
        of("t-cron").await.expect("of"),
        crons(&["*/5 * * * *", "0 0 * * *"])
    );

    // Replaced: the old ones are gone, the new ones listed for the scheduler.
    let replaced = s
        .tx(|tx| triggers::replace(tx, "t-cron", ID, &crons(&["* * * * *"])))
        .await
        .expect("replace");
    assert!(replaced);
    assert_eq!(of("t-cron").await.expect("of"), crons(&["* * * * *"]));
    let listed: Vec<StoredTrigger> = s
        .tx(triggers::list)
        .await
        .expect("list")
        .into_iter()
        .filter(|t| t.tenant == "t-cron")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cron, "* * * * *");

    // Another tenant's worker of that id is not there: nothing written, for either.
    let theirs = s
        .tx(|tx| triggers::replace(tx, "t-other", ID, &crons(&["0 1 * * *"])))
        .await
        .expect("replace");
    assert!(!theirs);
    assert!(of("t-other").await.expect("of").is_empty());
    assert_eq!(of("t-cron").await.expect("of"), crons(&["* * * * *"]));

    // Emptied: no trigger left.
    assert!(s
        .tx(|tx| triggers::replace(tx, "t-cron", ID, &[]))
        .await
        .expect("replace"));
    assert!(of("t-cron").await.expect("of").is_empty());
}
