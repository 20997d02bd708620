//! The key layout on a real Redis Cluster: after a join (dedupe mark,
//! cached facts, audit stream, rate counter), every key of the deployment
//! carries its hash tag and sits in one slot, on one node.

use crate::{
    cards::{cards, join_data},
    helpers::{cluster_nodes, key_prefix, spawn_app, StoreKind},
};

#[tokio::test]
async fn every_key_of_a_deployment_sits_in_one_slot_on_one_node() {
    let app = spawn_app(StoreKind::Cluster).await;
    let shown = app
        .say("alex", "join chat for lead Contoso Coffee expansion")
        .await;
    let card = cards(&shown["activities"]).pop().expect("a card");
    let data = join_data(&card, "19:contoso-coffee-expansion@thread.v2").expect("Join");
    let joined = app.invoke("alex", "join", &data).await;
    assert_eq!(joined["status"], 200);

    let configured = app.redis_prefix.clone().unwrap();
    let tagged = key_prefix(StoreKind::Cluster, &configured);
    let name = configured.trim_end_matches(':');
    let mut found = Vec::new();
    for node in cluster_nodes() {
        let client = redis::Client::open(format!("redis://{node}")).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{name}*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        for key in keys {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap();
            found.push((node.clone(), slot, key));
        }
    }
    // (The join lock is gone: released once the join was done.)
    let kinds = ["seen:", "chats:", "acc:", "cfg:", "audit", "rate:"];
    for kind in kinds {
        assert!(
            found
                .iter()
                .any(|(_, _, key)| key.starts_with(&format!("{tagged}{kind}"))),
            "no {kind} key among {found:#?}"
        );
    }
    let (node, slot, _) = found[0].clone();
    for (other_node, other_slot, key) in &found {
        assert!(key.starts_with(&tagged), "{key} lacks the tag {tagged}");
        assert_eq!((other_node, *other_slot), (&node, slot), "{key}");
    }
}

#[tokio::test]
async fn a_bot_whose_cluster_is_unreachable_starts_and_serves_from_dataverse() {
    let app = crate::helpers::spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Cluster,
        |config| {
            config.store = joinchat::config::StoreConfig::parse(
                Some("redis+cluster://127.0.0.1:1,127.0.0.1:2".into()),
                Some("down:".into()),
            )
            .unwrap();
        },
    )
    .await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 503);
    let shown = app
        .say("alex", "chats for lead Contoso Coffee expansion")
        .await;
    assert_eq!(shown["status"], 200);
    let card = cards(&shown["activities"]).pop().expect("a card");
    assert!(
        crate::cards::words(&card).contains("Hover over to join this chat"),
        "{card}"
    );
}
