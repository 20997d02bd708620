//! MONITOR on the test Redis (one server, or every node of the cluster):
//! which commands reached which node for one test's keys.

use std::sync::Arc;

use crate::helpers::{cluster_nodes, redis_url, StoreKind, TestApp};

/// Watches every command Redis receives for keys under `prefix` (MONITOR),
/// on one server or on every node of the cluster, until `stop` is called;
/// returns the commands seen, each with the node that ran it.
pub struct RedisWatch {
    seen: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    nodes: Vec<String>,
    marker_prefix: String,
}

impl RedisWatch {
    /// Watches the single Redis server for keys under `prefix`.
    pub async fn start(prefix: &str) -> RedisWatch {
        let url = url::Url::parse(&redis_url()).unwrap();
        let address = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(6379)
        );
        RedisWatch::start_on(vec![address], &format!("\"{prefix}"), prefix).await
    }

    /// Watches whatever store `app` uses, for its keys.
    pub async fn of(app: &TestApp) -> RedisWatch {
        let prefix = app.redis_prefix.as_deref().expect("a Redis store");
        match app.store {
            // The prefix's name, which the keys carry as their hash tag
            // (`{name}:`), or not, should they ever lose it.
            StoreKind::Cluster => {
                let needle = prefix.trim_end_matches(':');
                RedisWatch::start_on(cluster_nodes(), needle, needle).await
            }
            _ => RedisWatch::start(prefix).await,
        }
    }

    /// Watches `nodes` for command lines containing `needle`; the end
    /// marker is an ECHO of `marker_prefix…`, which must contain the needle.
    async fn start_on(nodes: Vec<String>, needle: &str, marker_prefix: &str) -> RedisWatch {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let needle = needle.to_owned();
        let mut tasks = Vec::new();
        for node in &nodes {
            let mut stream = tokio::net::TcpStream::connect(node)
                .await
                .expect("Redis answers");
            stream.write_all(b"MONITOR\r\n").await.unwrap();
            let mut lines = BufReader::new(stream).lines();
            let first = lines.next_line().await.unwrap().unwrap_or_default();
            assert!(first.starts_with("+OK"), "MONITOR refused: {first}");
            let sink = seen.clone();
            let (needle, node) = (needle.clone(), node.clone());
            tasks.push(tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains(&needle) {
                        sink.lock().unwrap().push((node.clone(), line));
                    }
                }
            }));
        }
        RedisWatch {
            seen,
            tasks,
            nodes,
            marker_prefix: marker_prefix.to_owned(),
        }
    }

    /// Stops watching once every command sent so far was reported: MONITOR
    /// reports in execution order, so a marker sent to each node now arrives
    /// after everything that node ran before.
    pub async fn stop(self) -> Vec<String> {
        self.stop_per_node()
            .await
            .into_iter()
            .map(|(_, line)| line)
            .collect()
    }

    /// Like `stop`, with the node (`host:port`) that ran each command.
    pub async fn stop_per_node(self) -> Vec<(String, String)> {
        let marker = format!("{}watch-end:{}", self.marker_prefix, uuid::Uuid::new_v4());
        for node in &self.nodes {
            let client = redis::Client::open(format!("redis://{node}")).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let _: String = redis::cmd("ECHO")
                .arg(&marker)
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        let nodes = self.nodes.len();
        let arrived = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let reported = self
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, line)| line.contains(&marker))
                    .count();
                if reported == nodes {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        for task in &self.tasks {
            task.abort();
        }
        assert!(arrived.is_ok(), "MONITOR never reported the end marker");
        let seen = self.seen.lock().unwrap().clone();
        seen.into_iter()
            .filter(|(_, line)| !line.contains(&marker))
            .collect()
    }
}
