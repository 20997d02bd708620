//! Chaos, bounded: two `joinchat serve` processes on one Redis of the test's
//! own, under doubled delivery, a Redis lost and brought back, throttling
//! storms and unavailable bursts, Entra down, and SIGTERM mid-flight. Each
//! test asserts on what Graph and the chat received, never on timings; every
//! wait is a poll with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::chaos_deployment::{notice, reader, writer, Answer, Deployment, HealthWatch, WRITERS};

/// Join clicks per writer in the storm.
const CLICKS_EACH: usize = 4;

/// Delivers `activity` to both replicas at once (a redelivery racing the
/// first delivery): both answers.
async fn deliver_twice(
    deployment: &Deployment,
    activity: &serde_json::Value,
    token: &str,
) -> [Option<Answer>; 2] {
    let (first, second) = tokio::join!(
        deployment.deliver(0, activity, token),
        deployment.deliver(1, activity, token)
    );
    [first, second].map(|body| body.as_ref().map(Answer::of))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_add_each_person_once_and_say_so_once_under_doubled_delivery() {
    let mut deployment = Deployment::start().await;
    let token = deployment.channel_token().await;
    let mut clicks = Vec::new();
    for round in 0..CLICKS_EACH {
        for n in 0..WRITERS {
            let (key, _) = writer(n);
            clicks.push((n, round, deployment.join_click(&key).await));
        }
    }
    assert_eq!(clicks.len(), 200);

    let answers = join_all(clicks.iter().map(|(n, _, activity)| async {
        (*n, deliver_twice(&deployment, activity, &token).await)
    }))
    .await;

    let mut joined_answers = BTreeMap::<usize, usize>::new();
    for (n, pair) in &answers {
        for answer in pair {
            let answer = answer.unwrap_or_else(|| panic!("writer {n}: a delivery went unanswered"));
            if answer == Answer::Joined {
                *joined_answers.entry(*n).or_default() += 1;
            }
        }
    }
    let adds = deployment.adds().await;
    let members = deployment.members().await;
    let messages = deployment.bot_messages_settled(WRITERS).await;
    let mut replicas = deployment.replicas.iter_mut();
    let alive = [
        replicas.next().unwrap().is_alive(),
        replicas.next().unwrap().is_alive(),
    ];
    let logs = deployment.stop().await;

    assert_eq!(alive, [true, true], "both replicas survived:\n{logs}");
    // One add per person: 50 adds that each succeeded, and 50 distinct new
    // members, so no person was added twice and nobody was missed.
    assert!(adds.iter().all(|status| *status == 201), "{adds:?}\n{logs}");
    assert_eq!(adds.len(), WRITERS, "one Graph add per person:\n{logs}");
    let expected: BTreeSet<String> = (0..WRITERS)
        .map(|n| writer(n).0)
        .chain(["owner".to_owned()])
        .collect();
    let member_set: BTreeSet<String> = members.iter().cloned().collect();
    assert_eq!(members.len(), member_set.len(), "a member listed twice");
    assert_eq!(member_set, expected);
    // Exactly one click of each person was answered "You joined".
    for n in 0..WRITERS {
        assert_eq!(
            joined_answers.get(&n).copied().unwrap_or(0),
            1,
            "writer {n}'s answers: {:?}",
            answers.iter().filter(|(m, _)| *m == n).collect::<Vec<_>>()
        );
    }
    // Exactly one notice per person, and nothing else from the bot.
    for n in 0..WRITERS {
        let (_, name) = writer(n);
        assert_eq!(
            messages.get(&notice(&name)).copied().unwrap_or(0),
            1,
            "{name}'s notices: {messages:?}"
        );
    }
    assert_eq!(messages.values().sum::<usize>(), WRITERS, "{messages:?}");
}

/// Every click of `people` (keys), each delivered to both replicas at once:
/// the answers, by person.
async fn clicks_delivered_twice(
    deployment: &Deployment,
    people: &[String],
    token: &str,
) -> BTreeMap<String, Vec<Option<Answer>>> {
    let mut activities = Vec::new();
    for key in people {
        activities.push((key.clone(), deployment.join_click(key).await));
    }
    let answered = join_all(activities.iter().map(|(key, activity)| async move {
        (
            key.clone(),
            deliver_twice(deployment, activity, token).await,
        )
    }))
    .await;
    let mut by_person = BTreeMap::<String, Vec<Option<Answer>>>::new();
    for (key, pair) in answered {
        by_person.entry(key).or_default().extend(pair);
    }
    by_person
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_redis_mid_run_joins_nobody_wrongly_crashes_nothing_and_recovers_without_a_restart()
{
    let mut deployment = Deployment::start().await;
    let token = deployment.channel_token().await;
    let health = HealthWatch::start(&deployment);
    let writers = |range: std::ops::Range<usize>| range.map(|n| writer(n).0).collect::<Vec<_>>();
    let readers = |range: std::ops::Range<usize>| range.map(|n| reader(n).0).collect::<Vec<_>>();

    // Wave 1: Redis is killed while the joins are in flight.
    let wave_1: Vec<String> = [writers(0..15), readers(0..5)].concat();
    let dataverse_before = deployment.calls_to("dataverse").await;
    let kill_midway = async {
        assert!(
            deployment
                .wait_for_calls("dataverse", dataverse_before + 20)
                .await,
            "the first wave reached Dataverse"
        );
        deployment.redis.kill().await;
    };
    let (mut answers, ()) = tokio::join!(
        clicks_delivered_twice(&deployment, &wave_1, &token),
        kill_midway
    );
    // Wave 2: Redis is down.
    let wave_2: Vec<String> = [writers(15..30), readers(5..10)].concat();
    answers.extend(clicks_delivered_twice(&deployment, &wave_2, &token).await);

    // Redis comes back, empty, on the same address: the replicas use it
    // again without a restart — a new click leaves its dedupe mark there.
    deployment.redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut marked = None;
    for n in (30..WRITERS).cycle() {
        if Instant::now() >= deadline {
            break;
        }
        let (key, _) = writer(n);
        let activity = deployment.join_click(&key).await;
        let pair = deliver_twice(&deployment, &activity, &token).await;
        answers.entry(key).or_default().extend(pair);
        let id = activity["id"].as_str().unwrap().to_owned();
        let seen = format!("{}seen:{id}", deployment.prefix);
        if !deployment.redis.keys(&seen).await.is_empty() {
            marked = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cached = deployment
        .redis
        .keys(&format!("{}user:*", deployment.prefix))
        .await;

    let adds = deployment.adds().await;
    let members = deployment.members().await;
    let (probes, unhealthy) = health.stop().await;
    let mut replicas = deployment.replicas.iter_mut();
    let alive = [
        replicas.next().unwrap().is_alive(),
        replicas.next().unwrap().is_alive(),
    ];
    let expected_notices = members.len().saturating_sub(1);
    let messages = deployment.bot_messages_settled(expected_notices).await;
    let logs = deployment.stop().await;

    assert_eq!(alive, [true, true], "both replicas survived:\n{logs}");
    assert!(
        probes > 0 && unhealthy.is_empty(),
        "{probes} probes: {unhealthy:?}"
    );
    assert!(
        marked.is_some(),
        "after Redis came back, no click left its dedupe mark there:\n{logs}"
    );
    assert!(!cached.is_empty(), "facts are cached in Redis again");

    // No wrong join: every new member is a writer who clicked, readers are
    // refused, and each add that succeeded made exactly one new member.
    let clicked: BTreeSet<String> = answers.keys().cloned().collect();
    let new_members: BTreeSet<String> = members.iter().filter(|m| *m != "owner").cloned().collect();
    assert_eq!(members.len(), new_members.len() + 1, "{members:?}");
    for member in &new_members {
        assert!(
            member.starts_with('w') && clicked.contains(member),
            "{member} was added without a click of theirs"
        );
    }
    let added = adds.iter().filter(|status| **status == 201).count();
    assert_eq!(added, new_members.len(), "{adds:?}");
    for (key, said) in &answers {
        let joined = said.iter().filter(|a| **a == Some(Answer::Joined)).count();
        if key.starts_with('r') {
            assert_eq!(joined, 0, "{key} (read-only) was told they joined");
            assert!(!said.contains(&Some(Answer::Member)), "{key}: {said:?}");
        } else if new_members.contains(key) {
            assert_eq!(joined, 1, "{key} was added; told so once: {said:?}");
        } else {
            // Never added: then never told so, only to try again.
            assert_eq!(joined, 0, "{key}: {said:?}");
            assert!(said.contains(&Some(Answer::TryAgain)), "{key}: {said:?}");
        }
    }
    // One notice per person added, none for anyone else.
    for n in 0..WRITERS {
        let (key, name) = writer(n);
        let expected = usize::from(new_members.contains(&key));
        assert_eq!(
            messages.get(&notice(&name)).copied().unwrap_or(0),
            expected,
            "{name}: {messages:?}"
        );
    }
    assert_eq!(messages.values().sum::<usize>(), new_members.len());
}
