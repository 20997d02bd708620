//! Chaos, bounded, continued: the Microsoft services failing under two
//! `joinchat serve` replicas. Throttling storms and unavailable bursts leave
//! every join either done (added, told so, announced) or cleanly refused
//! with "try again"; Entra down leaves the cached tokens and signing keys
//! serving; SIGTERM lets the invokes in flight finish with their real
//! answers and loses nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::chaos_deployment::{notice, writer, Answer, Deployment};

/// One Join click of each of `people`, all at once, spread over both
/// replicas: who was told they joined and who to try again. Either answer
/// must be true of the chat: joined means added, "try again" means not.
async fn wave(
    deployment: &Deployment,
    people: &[(String, String)],
    token: &str,
) -> (BTreeSet<String>, Vec<String>) {
    let mut clicks = Vec::new();
    for (key, _) in people {
        clicks.push(deployment.join_click(key).await);
    }
    let answers = join_all(
        clicks
            .iter()
            .enumerate()
            .map(|(n, click)| deployment.deliver(n % 2, click, token)),
    )
    .await;
    let members: BTreeSet<String> = deployment.members().await.into_iter().collect();
    let (mut joined, mut refused) = (BTreeSet::new(), Vec::new());
    for ((key, _), body) in people.iter().zip(&answers) {
        let body = body.as_ref().unwrap_or_else(|| panic!("{key}: no answer"));
        match Answer::of(body) {
            Answer::Joined => {
                assert!(
                    members.contains(key),
                    "{key} was told they joined: not added"
                );
                joined.insert(key.clone());
            }
            Answer::TryAgain => {
                assert!(
                    !members.contains(key),
                    "{key} was told to try again: but added: {body}"
                );
                refused.push(key.clone());
            }
            other => panic!("{key}: neither joined nor try again ({other:?}): {body}"),
        }
    }
    (joined, refused)
}

/// Whether some request to `service` was answered `status`.
fn answered(calls: &[serde_json::Value], service: &str, status: u16) -> bool {
    calls
        .iter()
        .any(|c| c["service"] == service && c["status"] == status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_storms_and_unavailable_bursts_leave_every_join_done_or_cleanly_refused() {
    let deployment = Deployment::start().await;
    let token = deployment.channel_token().await;
    let people: Vec<(String, String)> = (0..20).map(writer).collect();

    // A storm that outlasts every budget: Graph throttles until it is over
    // (Retry-After 3 s), while Dataverse throttles and fails in bursts.
    for fault in [
        json!({"service": "dataverse", "status": 429, "retry_after": 1, "count": 6}),
        json!({"service": "dataverse", "status": 503, "count": 6}),
        json!({"service": "graph", "status": 429, "retry_after": 3}),
    ] {
        deployment.fault(fault).await;
    }
    let (stormed, mut refused) = wave(&deployment, &people[..10], &token).await;
    let calls = deployment.calls().await;
    deployment.clear_faults().await;
    assert!(answered(&calls, "graph", 429) && answered(&calls, "dataverse", 503));
    assert!(
        stormed.is_empty(),
        "joined while Graph throttled: {stormed:?}"
    );

    // Bursts the retries can wait out within the budget: these join.
    for fault in [
        json!({"service": "dataverse", "status": 429, "retry_after": 1, "count": 6}),
        json!({"service": "dataverse", "status": 503, "count": 8}),
        json!({"service": "dataverse", "status": 429, "retry_after": 2, "count": 4}),
        json!({"service": "graph", "status": 429, "retry_after": 2, "count": 3}),
        json!({"service": "graph", "status": 503, "count": 5}),
        json!({"service": "graph", "status": 429, "retry_after": 1, "count": 4}),
    ] {
        deployment.fault(fault).await;
    }
    let (joined, also_refused) = wave(&deployment, &people[10..], &token).await;
    let calls = deployment.calls().await;
    deployment.clear_faults().await;
    assert!(answered(&calls, "graph", 503) && answered(&calls, "dataverse", 429));
    refused.extend(also_refused);
    let messages = deployment.bot_messages_settled(joined.len()).await;
    for (key, name) in &people {
        let expected = usize::from(joined.contains(key));
        let told = messages.get(&notice(name)).copied().unwrap_or(0);
        assert_eq!(told, expected, "{name}'s notices: {messages:?}");
    }
    let added = deployment.adds().await;
    assert_eq!(
        added.iter().filter(|s| **s == 201).count(),
        joined.len(),
        "{added:?}"
    );

    // Once the storm is over, a retry click of each refused person joins.
    for (n, key) in refused.iter().enumerate() {
        let click = deployment.join_click(key).await;
        let body = deployment.deliver(n % 2, &click, &token).await;
        let answer = body.as_ref().map(Answer::of);
        assert_eq!(answer, Some(Answer::Joined), "{key} retried: {body:?}");
    }
    let members: BTreeSet<String> = deployment.members().await.into_iter().collect();
    let added = deployment.adds().await;
    let messages = deployment.bot_messages_settled(people.len()).await;
    let logs = deployment.stop().await;
    for (key, name) in &people {
        assert!(members.contains(key), "{key} never joined:\n{logs}");
        let told = messages.get(&notice(name)).copied().unwrap_or(0);
        assert_eq!(told, 1, "{name}'s notices: {messages:?}");
    }
    assert_eq!(added.iter().filter(|s| **s == 201).count(), people.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_entra_down_cached_tokens_and_signing_keys_keep_refresh_and_join_working() {
    let deployment = Deployment::start().await;
    // Warm-up: a join through each replica fetches every outbound token
    // (Dataverse, Graph, the Connector's for the notice).
    let warm_token = deployment.channel_token().await;
    for (replica, n) in [(0, 0), (1, 1)] {
        let click = deployment.join_click(&writer(n).0).await;
        let body = deployment.deliver(replica, &click, &warm_token).await;
        assert_eq!(
            body.as_ref().map(Answer::of),
            Some(Answer::Joined),
            "{body:?}"
        );
    }
    let warm = deployment.bot_messages_settled(2).await;
    assert_eq!(warm.values().sum::<usize>(), 2, "{warm:?}");

    deployment
        .fault(json!({"service": "entra", "status": 503}))
        .await;
    let entra_before = deployment.calls_to("entra").await;
    // A channel token never seen before (tokens are minted per second), so
    // that its signature is checked against the cached signing keys rather
    // than found among the verified tokens.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut token = deployment.channel_token().await;
    while token == warm_token && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token = deployment.channel_token().await;
    }
    assert_ne!(token, warm_token, "a new channel token");

    for replica in 0..2 {
        let refresh = deployment.refresh(&writer(2).0).await;
        let body = deployment.deliver(replica, &refresh, &token).await;
        let shown = body.map(|b| crate::cards::words(&b["value"]));
        assert!(
            shown
                .as_deref()
                .is_some_and(|s| s.contains("Hover over to join this chat")),
            "replica {replica} refreshed: {shown:?}"
        );
    }
    for (replica, n) in [(0, 2), (1, 3)] {
        let click = deployment.join_click(&writer(n).0).await;
        let body = deployment.deliver(replica, &click, &token).await;
        assert_eq!(
            body.as_ref().map(Answer::of),
            Some(Answer::Joined),
            "{body:?}"
        );
    }
    let messages = deployment.bot_messages_settled(4).await;
    let calls = deployment.calls().await;
    let ready = [readyz(&deployment, 0).await, readyz(&deployment, 1).await];
    deployment.clear_faults().await;
    let logs = deployment.stop().await;

    for n in 0..4 {
        let (_, name) = writer(n);
        assert_eq!(
            messages.get(&notice(&name)).copied(),
            Some(1),
            "{messages:?}"
        );
    }
    let during: Vec<_> = calls
        .iter()
        .filter(|c| c["service"] == "entra")
        .skip(entra_before)
        .collect();
    assert!(
        during.iter().all(|c| c["status"] == 503),
        "Entra answered nothing during the outage: {during:?}"
    );
    assert_eq!(ready, [true, true], "still ready:\n{logs}");
}

async fn readyz(deployment: &Deployment, replica: usize) -> bool {
    let url = format!("{}/readyz", deployment.replicas[replica].url);
    let answer = deployment.http.get(url).send().await;
    answer.is_ok_and(|r| r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_invokes_in_flight_finish_and_the_other_replica_keeps_serving() {
    let mut deployment = Deployment::start().await;
    let token = deployment.channel_token().await;
    // Warm the replica first, so that the joins below wait on Graph only.
    let click = deployment.join_click(&writer(0).0).await;
    let body = deployment.deliver(0, &click, &token).await;
    assert_eq!(
        body.as_ref().map(Answer::of),
        Some(Answer::Joined),
        "{body:?}"
    );

    let in_flight: Vec<(String, String)> = (1..7).map(writer).collect();
    let mut clicks = Vec::new();
    for (key, _) in &in_flight {
        clicks.push(deployment.join_click(key).await);
    }
    deployment
        .fault(json!({"service": "graph", "latency_ms": 1000}))
        .await;
    let graph_before = deployment.calls_to("graph").await;
    let sends = join_all(
        clicks
            .iter()
            .map(|click| deployment.deliver(0, click, &token)),
    );
    let terminate = async {
        // Every join has reached Graph (calls are logged on arrival).
        let reached = deployment
            .wait_for_calls("graph", graph_before + in_flight.len())
            .await;
        deployment.replicas[0].terminate();
        reached
    };
    let (answers, reached) = tokio::join!(sends, terminate);
    assert!(reached, "the joins reached Graph before SIGTERM");
    let exit = deployment.replicas[0]
        .exit_within(Duration::from_secs(15))
        .await;
    deployment.clear_faults().await;

    // The other replica keeps serving; the stopped one takes nothing more.
    let click = deployment.join_click(&writer(7).0).await;
    let other = deployment.deliver(1, &click, &token).await;
    let click = deployment.join_click(&writer(8).0).await;
    let stopped = deployment.deliver(0, &click, &token).await;

    let members: BTreeSet<String> = deployment.members().await.into_iter().collect();
    let added = deployment.adds().await;
    let messages = deployment.bot_messages_settled(8).await;
    let logs = deployment.stop().await;

    assert!(
        exit.is_some_and(|status| status.success()),
        "exit after SIGTERM: {exit:?}\n{logs}"
    );
    for ((key, _), body) in in_flight.iter().zip(&answers) {
        let answer = body.as_ref().map(Answer::of);
        assert_eq!(answer, Some(Answer::Joined), "{key}: {body:?}\n{logs}");
    }
    assert_eq!(
        other.as_ref().map(Answer::of),
        Some(Answer::Joined),
        "{other:?}"
    );
    assert!(stopped.is_none(), "a stopped replica answered: {stopped:?}");
    // Nothing lost: each join in flight was completed — added once, told so,
    // announced once.
    for n in 0..8 {
        let (key, name) = writer(n);
        assert!(members.contains(&key), "{key} is not in the chat");
        let told = messages.get(&notice(&name)).copied().unwrap_or(0);
        assert_eq!(told, 1, "{name}'s notices: {messages:?}");
    }
    assert!(!members.contains(&writer(8).0));
    assert_eq!(added, vec![201; 8], "one add each");
}
