//! `joinchat sandbox --playground` as a real process: it writes the
//! Playground's mock-tenant file before it listens, says loudly what it is,
//! and refuses every setup in which the anonymous mode would be a hole —
//! `serve` cannot even be asked for it.

use std::{path::PathBuf, process::Command, time::Duration};

use tokio::io::{AsyncBufReadExt, BufReader};

const MOCK_TENANT: &str = ".m365agentsplayground.yml";

/// A fresh, empty working directory for one run.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "joinchat-playground-{name}-{}",
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn joinchat_in(dir: &PathBuf, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_joinchat"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `joinchat sandbox --playground` on free loopback ports, plus `extra`.
fn sandbox_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sandbox",
        "--playground",
        "--listen",
        "127.0.0.1:0",
        "--cloud-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn serve_has_no_way_into_the_playground_mode() {
    let dir = workdir("serve");
    let output = joinchat_in(&dir, &[], &["serve", "--playground"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--playground"), "{stderr}");
    assert!(!dir.join(MOCK_TENANT).exists());
}

#[test]
fn the_playground_mode_refuses_to_run_next_to_an_app_password() {
    let dir = workdir("password");
    let output = joinchat_in(
        &dir,
        &[("JOINCHAT_APP_PASSWORD", "a-real-s3cret-never-printed")],
        &sandbox_args(&[]),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JOINCHAT_APP_PASSWORD"), "{stderr}");
    assert!(!stderr.contains("a-real-s3cret-never-printed"), "{stderr}");
    assert!(!dir.join(MOCK_TENANT).exists(), "nothing was written");
}

#[test]
fn the_playground_mode_refuses_to_listen_beyond_loopback() {
    let dir = workdir("listen");
    let output = joinchat_in(
        &dir,
        &[],
        &[
            "sandbox",
            "--playground",
            "--listen",
            "0.0.0.0:0",
            "--cloud-listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!dir.join(MOCK_TENANT).exists());
}

#[test]
fn an_unknown_playground_user_is_refused_naming_the_worlds_users() {
    let dir = workdir("user");
    let output = joinchat_in(&dir, &[], &sandbox_args(&["--playground-user", "nobody"]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nobody") && stderr.contains("alex"),
        "{stderr}"
    );
    let stray = joinchat_in(&dir, &[], &["sandbox", "--playground-user", "alex"]);
    assert!(
        !stray.status.success(),
        "--playground-user means nothing without --playground"
    );
}

#[tokio::test]
async fn the_sandbox_writes_the_mock_tenant_then_listens_and_says_what_it_is() {
    let dir = workdir("run");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_joinchat"))
        .current_dir(&dir)
        .args(sandbox_args(&["--playground-user", "alex"]))
        .env_remove("JOINCHAT_REDIS_URL")
        .env_remove("JOINCHAT_APP_PASSWORD")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("Ctrl-C") {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("it printed its addresses within 30 s:\n{printed}"));
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {name} line in:\n{printed}"))
            .to_owned()
    };
    let (bot, cloud) = (field("bot:"), field("cloud:"));
    assert!(printed.contains("ANONYMOUS PLAYGROUND MODE"), "{printed}");
    assert!(
        printed.contains("@microsoft/m365agentsplayground@0.2.28")
            && printed.contains("APPLICATION_INSIGHTS_NO_STATSBEAT=true")
            && printed.contains("--disable-telemetry"),
        "how to start the pinned Playground, telemetry off:\n{printed}"
    );
    let warned = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("WARN") && line.contains("ANONYMOUS PLAYGROUND MODE") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(warned, Ok(true), "the log says so loudly");

    let http = reqwest::Client::new();
    let world: serde_json::Value = http
        .get(format!("{cloud}/_sandbox/world"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alex = world["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["key"] == "alex")
        .unwrap();
    let yaml = std::fs::read_to_string(dir.join(MOCK_TENANT)).expect("the mock tenant is there");
    let current = yaml.split("users:").next().unwrap();
    assert!(
        current.contains(alex["aad_object_id"].as_str().unwrap()),
        "{yaml}"
    );
    assert!(yaml.contains(world["tenant_id"].as_str().unwrap()));
    assert!(yaml.contains(&format!("28:{}", world["app_id"].as_str().unwrap())));

    let probe = http.head(&bot).send().await.unwrap();
    assert_eq!(probe.status().as_u16(), 200, "the Playground's probe");
    let remote = serde_json::json!({
        "type": "message", "id": "1", "channelId": "msteams", "text": "help",
        "serviceUrl": "https://smba.trafficmanager.net/amer/",
        "from": { "id": "user-id-0", "aadObjectId": alex["aad_object_id"] },
        "conversation": { "id": "a:1", "conversationType": "personal", "tenantId": world["tenant_id"] },
    });
    let refused = http.post(&bot).json(&remote).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
