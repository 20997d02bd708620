//! Real processes for the chaos tests: a Redis server of the test's own (on
//! a port nobody else uses, so it can be killed and restarted there without
//! touching the shared one), and `joinchat serve` replicas, the real binary,
//! configured through the environment as DESIGN's contract says and pointed
//! at a simulated cloud. Every wait is bounded by a deadline; every process is
//! killed when its handle is dropped.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use joinchat_sandbox::Cloud;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long a process may take to start answering.
const START_WITHIN: Duration = Duration::from_secs(30);

/// A `redis-server` this test started, without persistence: killing it
/// loses everything, as losing a cache node does.
pub struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    /// Behind a lock so that a test can kill it while requests are in flight.
    child: std::sync::Mutex<Option<Child>>,
}

impl OwnRedis {
    /// Starts a server on a free loopback port below the ephemeral range
    /// (there no outgoing connection can be holding the port when the
    /// server comes back on it).
    pub async fn start() -> OwnRedis {
        let dir = std::env::temp_dir().join(format!("joinchat-chaos-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let seed = uuid::Uuid::new_v4().as_u128();
        for attempt in 0..200u128 {
            let port = 12_000 + ((seed + attempt * 7919) % 10_000) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let redis = OwnRedis {
                port,
                dir: dir.clone(),
                child: std::sync::Mutex::new(None),
            };
            if redis.spawn().await {
                return redis;
            }
        }
        panic!("no free port for a test Redis");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it.
    pub async fn kill(&self) {
        let child = self.child.lock().unwrap().take();
        if let Some(mut child) = child {
            child.start_kill().expect("redis-server can be killed");
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        assert!(
            !answers_ping(self.port).await,
            "Redis still answers after the kill"
        );
    }

    /// Starts the server again on the same port, empty.
    pub async fn restart(&self) {
        assert!(
            self.child.lock().unwrap().is_none(),
            "Redis is still running"
        );
        assert!(self.spawn().await, "Redis came back on port {}", self.port);
    }

    /// Every key matching `pattern` (this server is the test's own, so KEYS
    /// scans nobody else's data).
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("the test Redis answers");
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .expect("KEYS answers")
    }

    async fn spawn(&self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(mut child) = child else {
            panic!("redis-server is not installed (it is needed to test losing Redis)");
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if answers_ping(self.port).await {
                *self.child.lock().unwrap() = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                // It exited: the port was taken after all.
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.start_kill();
        false
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.lock().unwrap().as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PING on a fresh connection, answered `+PONG` within a second.
async fn answers_ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).await?;
        Ok::<bool, std::io::Error>(line.starts_with("+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Ok(true))
    )
}

/// A `joinchat serve` process: the production bot, a replica of one
/// deployment when several share a Redis and a prefix.
pub struct Replica {
    pub url: String,
    pid: u32,
    child: Child,
    logs: tokio::task::JoinHandle<String>,
}

impl Replica {
    /// Starts `joinchat serve` against `cloud`, on `redis_url` under
    /// `prefix`, with only the variables DESIGN's contract names.
    pub async fn start(cloud: &Cloud, redis_url: &str, prefix: &str) -> Replica {
        let urls = cloud.urls();
        let mut child = Command::new(env!("CARGO_BIN_EXE_joinchat"))
            .arg("serve")
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("JOINCHAT_LISTEN", "127.0.0.1:0")
            .env("JOINCHAT_APP_ID", cloud.app_id())
            .env("JOINCHAT_APP_PASSWORD", cloud.app_password())
            .env("JOINCHAT_TENANT_ID", cloud.tenant_id())
            .env("JOINCHAT_OPENID_METADATA_URL", &urls.openid_metadata)
            .env("JOINCHAT_LOGIN_URL", &urls.login)
            .env("JOINCHAT_GRAPH_URL", &urls.graph)
            .env("JOINCHAT_DATAVERSE_URL", &urls.dataverse)
            .env("JOINCHAT_REDIS_URL", redis_url)
            .env("JOINCHAT_REDIS_PREFIX", prefix)
            .env("JOINCHAT_TEAMS_APP_ID", cloud.teams_app_id())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the joinchat binary starts");
        let pid = child.id().expect("a running process has an id");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let listening = tokio::time::timeout(START_WITHIN, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("joinchat bot listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await;
        let url = match listening {
            Ok(Some(url)) => url,
            _ => {
                let _ = child.start_kill();
                panic!(
                    "joinchat serve did not start:\n{}",
                    logs.await.unwrap_or_default()
                );
            }
        };
        // Whatever else it prints is not needed; keep the pipe drained.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let replica = Replica {
            url,
            pid,
            child,
            logs,
        };
        replica.wait_until_ready().await;
        replica
    }

    /// `/readyz` answers 200: the signing keys are loaded.
    async fn wait_until_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_WITHIN;
        while Instant::now() < deadline {
            let ready = http.get(format!("{}/readyz", self.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never became ready", self.url);
    }

    pub fn messages_url(&self) -> String {
        format!("{}/api/messages", self.url)
    }

    /// The process has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as an orchestrator stops a pod.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered to {}", self.pid);
    }

    /// Its exit status, if it exits within `within`.
    pub async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Stops the process (if still running) and returns what it logged.
    pub async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        tokio::time::timeout(Duration::from_secs(10), self.logs)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}
