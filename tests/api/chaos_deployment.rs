//! The deployment the chaos tests break: one simulated cloud, a Redis of the
//! test's own and two `joinchat serve` replicas sharing it, in a world of
//! many writers (and some readers) of one lead whose connected chat none of
//! them is in. Activities are made once by the simulated Teams (`POST
//! /_sandbox/users/{key}/activity`, a channel token from `POST
//! /_sandbox/tokens/channel`) and posted by the test itself, so one activity
//! can reach both replicas, as a redelivery does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use joinchat_sandbox::{Cloud, CloudOptions, World};
use serde_json::{json, Value};

use crate::cards::words;
use crate::helpers::local;
use crate::processes::{OwnRedis, Replica};

pub const CHAT: &str = "19:chaos-deal-room@thread.v2";
pub const LEAD_ID: &str = "c4a05c0f-fee0-4d00-8000-00000000c4a0";
pub const WRITERS: usize = 50;
pub const READERS: usize = 10;

/// A writer of the lead, by number: its world key and its name.
pub fn writer(n: usize) -> (String, String) {
    (format!("w{n:02}"), format!("Writer {n:02}"))
}

/// A reader of the lead (read-only access: Join is refused).
pub fn reader(n: usize) -> (String, String) {
    (format!("r{n:02}"), format!("Reader {n:02}"))
}

/// The world, as a world file says it.
fn world_toml() -> String {
    let mut toml = String::from("join_chat = [\"lead\"]\n\n");
    toml.push_str("[[users]]\nkey = \"owner\"\nname = \"Olive Owner\"\n\n");
    let writers: Vec<_> = (0..WRITERS).map(writer).collect();
    let readers: Vec<_> = (0..READERS).map(reader).collect();
    for (key, name) in writers.iter().chain(&readers) {
        toml.push_str(&format!(
            "[[users]]\nkey = \"{key}\"\nname = \"{name}\"\n\n"
        ));
    }
    let list = |people: &[(String, String)]| {
        people
            .iter()
            .map(|(key, _)| format!("\"{key}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    toml.push_str(&format!(
        "[[records]]\nentity = \"lead\"\nid = \"{LEAD_ID}\"\nname = \"Chaos Coffee expansion\"\n\
         owner = \"owner\"\nwrite = [{}]\nread = [{}]\n\n",
        list(&writers),
        list(&readers)
    ));
    toml.push_str(&format!(
        "[[chats]]\nid = \"{CHAT}\"\ntopic = \"Chaos deal room\"\nmembers = [\"owner\"]\n\
         connected_to = [\"lead:{LEAD_ID}\"]\n"
    ));
    toml
}

/// What a replica answered to one delivery of a Join click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Joined,
    Member,
    TryAgain,
    /// Anything else (a redelivery's current card, a refusal).
    Other,
}

impl Answer {
    /// Reads an invoke response body.
    pub fn of(body: &Value) -> Answer {
        let shown = match &body["value"] {
            Value::String(text) => text.clone(),
            card => words(card),
        };
        if shown.contains("You joined") {
            Answer::Joined
        } else if shown.to_lowercase().contains("try again") {
            Answer::TryAgain
        } else if shown.contains("You're a member") {
            Answer::Member
        } else {
            Answer::Other
        }
    }
}

pub struct Deployment {
    pub cloud: Cloud,
    pub redis: OwnRedis,
    pub replicas: Vec<Replica>,
    /// The prefix both replicas' keys carry.
    pub prefix: String,
    pub http: reqwest::Client,
}

impl Deployment {
    pub async fn start() -> Deployment {
        let world = World::parse(&world_toml(), "chaos.toml").expect("the chaos world parses");
        let cloud = Cloud::start(
            world,
            CloudOptions {
                listen: local(),
                app_id: None,
                app_password: None,
                bot_endpoint: None,
                dataverse_webhook_key: None,
            },
        )
        .await
        .expect("the cloud starts");
        let redis = OwnRedis::start().await;
        let prefix = format!("chaos:{}:", uuid::Uuid::new_v4());
        let url = redis.url();
        let (first, second) = tokio::join!(
            Replica::start(&cloud, &url, &prefix),
            Replica::start(&cloud, &url, &prefix),
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Deployment {
            cloud,
            redis,
            replicas: vec![first, second],
            prefix,
            http,
        }
    }

    fn control(&self, path: &str) -> String {
        format!("{}/_sandbox/{path}", self.cloud.base_url())
    }

    async fn control_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.control(path))
            .json(&body)
            .send()
            .await
            .expect("the control API answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// A fresh channel token, minted as Teams' are.
    pub async fn channel_token(&self) -> String {
        let minted = self
            .control_post(
                "tokens/channel",
                json!({"service_url": self.cloud.urls().connector, "channel_id": "msteams"}),
            )
            .await;
        minted["token"].as_str().expect("a token").to_owned()
    }

    /// A Join click on the deal room as `key` would send it (new id each time).
    pub async fn join_click(&self, key: &str) -> Value {
        let data = json!({"entity": "lead", "record_id": LEAD_ID, "chat_id": CHAT});
        self.invoke_activity(key, "join", data).await
    }

    /// An automatic card refresh of the lead as `key` would send it.
    pub async fn refresh(&self, key: &str) -> Value {
        let data = json!({"entity": "lead", "record_id": LEAD_ID});
        self.invoke_activity(key, "refresh", data).await
    }

    async fn invoke_activity(&self, key: &str, verb: &str, data: Value) -> Value {
        self.control_post(
            &format!("users/{key}/activity"),
            json!({"type": "invoke", "verb": verb, "data": data}),
        )
        .await
    }

    /// Posts `activity` to replica `to` with `token`: the invoke response
    /// body, or `None` when the replica did not answer 200.
    pub async fn deliver(&self, to: usize, activity: &Value, token: &str) -> Option<Value> {
        let response = self
            .http
            .post(self.replicas[to].messages_url())
            .bearer_auth(token)
            .json(activity)
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    pub async fn fault(&self, fault: Value) {
        self.control_post("faults", fault).await;
    }

    pub async fn clear_faults(&self) {
        self.http
            .delete(self.control("faults"))
            .send()
            .await
            .expect("the control API answers");
    }

    pub async fn calls(&self) -> Vec<Value> {
        self.http
            .get(self.control("calls"))
            .send()
            .await
            .expect("the control API answers")
            .json()
            .await
            .expect("calls are JSON")
    }

    /// How many requests `service` has received so far (answered or not).
    pub async fn calls_to(&self, service: &str) -> usize {
        self.calls()
            .await
            .iter()
            .filter(|c| c["service"] == service)
            .count()
    }

    /// Waits until `service` has received `at_least` requests (they are
    /// logged on arrival, so this sees requests still in flight), for at
    /// most 20 s; false if it never did.
    pub async fn wait_for_calls(&self, service: &str, at_least: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.calls_to(service).await >= at_least {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Graph's "add member" requests on the deal room, with their statuses.
    pub async fn adds(&self) -> Vec<u64> {
        let path = format!("/v1.0/chats/{CHAT}/members");
        self.calls()
            .await
            .iter()
            .filter(|c| c["service"] == "graph" && c["method"] == "POST" && c["path"] == path)
            .map(|c| c["status"].as_u64().unwrap_or(0))
            .collect()
    }

    /// `GET /_sandbox/chats/{id}` of the deal room.
    pub async fn chat(&self) -> Value {
        let encoded =
            percent_encoding::utf8_percent_encode(CHAT, percent_encoding::NON_ALPHANUMERIC);
        self.http
            .get(self.control(&format!("chats/{encoded}")))
            .send()
            .await
            .expect("the control API answers")
            .json()
            .await
            .expect("a chat view")
    }

    /// The deal room's members, by world key.
    pub async fn members(&self) -> Vec<String> {
        self.chat().await["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["user"].as_str().map(str::to_owned))
            .collect()
    }

    /// The bot's messages in the deal room, counted by text, once they have
    /// stopped changing: polled until at least `expected` are there and
    /// nothing new arrived for a second (so a late duplicate is seen), or
    /// until 30 s have passed.
    pub async fn bot_messages_settled(&self, expected: usize) -> BTreeMap<String, usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = BTreeMap::new();
        let mut unchanged_since = Instant::now();
        loop {
            let view = self.chat().await;
            let mut counted = BTreeMap::new();
            for message in view["messages"].as_array().into_iter().flatten() {
                if message["kind"] == "bot" {
                    let text = message["text"].as_str().unwrap_or_default().to_owned();
                    *counted.entry(text).or_insert(0) += 1;
                }
            }
            if counted != last {
                last = counted;
                unchanged_since = Instant::now();
            }
            let total: usize = last.values().sum();
            let settled = unchanged_since.elapsed() >= Duration::from_secs(1);
            if (total >= expected && settled) || Instant::now() >= deadline {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether each replica's `/healthz` answers 200 now.
    pub async fn healthy(&self) -> Vec<bool> {
        let mut answers = Vec::new();
        for replica in &self.replicas {
            let answer = self
                .http
                .get(format!("{}/healthz", replica.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            answers.push(answer.is_ok_and(|r| r.status() == 200));
        }
        answers
    }

    /// Stops both replicas; their logs, for a failure message.
    pub async fn stop(self) -> String {
        let mut logs = String::new();
        for (n, replica) in self.replicas.into_iter().enumerate() {
            logs.push_str(&format!("--- replica {n} ---\n{}", replica.stop().await));
        }
        self.cloud.stop().await;
        logs
    }
}

/// The joined notice for `name`, as the chat shows it.
pub fn notice(name: &str) -> String {
    format!("{name} joined the chat")
}

/// Polls every replica's `/healthz` until stopped: how many probes were
/// made and how many went unanswered.
pub struct HealthWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl HealthWatch {
    pub fn start(deployment: &Deployment) -> HealthWatch {
        use std::sync::atomic::Ordering;
        let urls: Vec<String> = deployment
            .replicas
            .iter()
            .map(|r| format!("{}/healthz", r.url))
            .collect();
        let http = deployment.http.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let (mut probes, mut failures) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                for url in &urls {
                    let answer = http.get(url).timeout(Duration::from_secs(2)).send().await;
                    probes += 1;
                    match answer {
                        Ok(response) if response.status() == 200 => {}
                        Ok(response) => failures.push(format!("{url}: {}", response.status())),
                        Err(error) => failures.push(format!("{url}: {error}")),
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (probes, failures)
        });
        HealthWatch { stop, task }
    }

    /// (probes made, the failures seen).
    pub async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("the health watch ran")
    }
}
