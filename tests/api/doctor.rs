//! `joinchat doctor`, the real binary, against `joinchat cloud`, the real
//! binary: it passes with the default world, and names what is wrong — each
//! missing Graph permission, a bad secret, Dataverse refusing, Redis (one
//! server or a cluster) down — with exit 1. Also: the bot's log names what
//! Graph said was missing.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::redis_url;
use crate::sandbox_helpers::TENANT_WORLD;

const APP_ID: &str = "2b6c7d8e-9f01-4a23-b456-7890abcdef12";
const PASSWORD: &str = "D0ctor-test-app-password-never-printed";

/// A `joinchat` process on free ports: what it printed up to `ready` (a line
/// holding it), and its logs (stderr) until it stops.
struct Running {
    child: tokio::process::Child,
    printed: String,
    logs: tokio::task::JoinHandle<String>,
}

impl Running {
    async fn start(args: &[&str], env: &[(&str, &str)], ready: &str) -> Running {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_joinchat"))
            .args(args)
            .env_remove("JOINCHAT_REDIS_URL")
            .env("JOINCHAT_APP_ID", APP_ID)
            .env("JOINCHAT_APP_PASSWORD", PASSWORD)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let mut stderr = child.stderr.take().unwrap();
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                printed.push_str(&line);
                printed.push('\n');
                if line.contains(ready) {
                    break;
                }
            }
        })
        .await;
        assert!(started.is_ok(), "started in time:\n{printed}");
        Running {
            child,
            printed,
            logs,
        }
    }

    async fn stop(mut self) -> String {
        self.child.kill().await.ok();
        tokio::time::timeout(Duration::from_secs(10), self.logs)
            .await
            .expect("the logs end with the process")
            .unwrap_or_default()
    }
}

/// `joinchat cloud` with a world file (or the default world), and the
/// settings it printed for `joinchat serve`.
async fn start_cloud(world: Option<&str>) -> (Running, HashMap<String, String>) {
    let mut args = vec!["cloud", "--listen", "127.0.0.1:0"];
    let file;
    if let Some(world) = world {
        let dir = std::env::temp_dir().join(format!("joinchat-doctor-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        file = dir.join("world.toml");
        std::fs::write(&file, world).unwrap();
        args.extend(["--world", file.to_str().unwrap()]);
    }
    let running = Running::start(&args, &[("RUST_LOG", "warn")], "joinchat serve").await;
    let settings: HashMap<String, String> = running
        .printed
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().trim_end_matches('\\').trim().split_once('=')?;
            name.starts_with("JOINCHAT_")
                .then(|| (name.to_owned(), value.trim_matches('\'').to_owned()))
        })
        .collect();
    assert!(
        settings.contains_key("JOINCHAT_DATAVERSE_URL"),
        "{}",
        running.printed
    );
    (running, settings)
}

/// Runs `joinchat doctor` with exactly these settings: (exit code, stdout).
async fn doctor(settings: &HashMap<String, String>, extra: &[(&str, &str)]) -> (i32, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_joinchat"));
    command.env_clear().arg("doctor").env("RUST_LOG", "error");
    for (name, value) in settings {
        if name != "JOINCHAT_APP_PASSWORD" {
            command.env(name, value);
        }
    }
    command.env("JOINCHAT_APP_PASSWORD", PASSWORD);
    command.envs(extra.iter().copied());
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the doctor finishes")
        .expect("the doctor runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the password was printed"
    );
    assert!(!stdout.contains("eyJ"), "a token was printed:\n{stdout}");
    (output.status.code().unwrap_or(-1), stdout)
}

fn line_of<'a>(report: &'a str, start: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{report}"))
}

#[tokio::test]
async fn the_doctor_passes_against_joinchat_cloud_with_the_default_world() {
    let (cloud, settings) = start_cloud(None).await;
    let redis = redis_url();
    let (code, report) = doctor(&settings, &[("JOINCHAT_REDIS_URL", &redis)]).await;
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    line_of(&report, "ok    OpenID metadata and signing keys");
    for scope in [
        "https://api.botframework.com/.default",
        "https://graph.microsoft.com/.default",
    ] {
        line_of(&report, &format!("ok    token for {scope}"));
    }
    line_of(&report, "ok    token for http");
    for permission in joinchat::permissions::graph_permission_names() {
        line_of(&report, &format!("ok    Graph permission {permission} "));
    }
    line_of(&report, "ok    Dataverse WhoAmI");
    for table in [
        "systemuser",
        "msdyn_teamschatassociation",
        "msdyn_entitylinkchatconfiguration",
    ] {
        line_of(&report, &format!("ok    Dataverse read access to {table}:"));
    }
    line_of(&report, "ok    Redis");
    // `joinchat cloud` printed the webhook key it generated: the doctor,
    // given it, checks the registration the simulated Dataverse holds.
    assert!(settings.contains_key("JOINCHAT_DATAVERSE_WEBHOOK_KEY"));
    let endpoint = line_of(&report, "ok    Dataverse webhook (serviceendpoint)");
    assert!(
        endpoint.contains("/api/dataverse (WebhookKey)"),
        "{endpoint}"
    );
    for step in ["Update", "GrantAccess", "ModifyAccess"] {
        line_of(&report, &format!("ok    Dataverse webhook step {step} "));
    }
    assert!(
        !report.contains(&settings["JOINCHAT_DATAVERSE_WEBHOOK_KEY"]),
        "the key is never printed"
    );
    // Metadata, three tokens, WhoAmI, three tables, Redis, the webhook and
    // its three steps; one per permission.
    let checks = 13 + joinchat::permissions::graph_permission_names().count();
    assert!(
        report.contains(&format!("all {checks} checks passed")),
        "{report}"
    );
    cloud.stop().await;
}

#[tokio::test]
async fn the_doctor_checks_a_redis_cluster_on_every_node() {
    let (cloud, settings) = start_cloud(None).await;
    let cluster = crate::helpers::cluster_url();
    let (code, report) = doctor(&settings, &[("JOINCHAT_REDIS_URL", &cluster)]).await;
    assert_eq!(code, 0, "{report}");
    line_of(&report, "ok    Redis Cluster (JOINCHAT_REDIS_URL)");
    let down = "redis+cluster://127.0.0.1:1,127.0.0.1:2";
    let (code, report) = doctor(&settings, &[("JOINCHAT_REDIS_URL", down)]).await;
    assert_eq!(code, 1, "{report}");
    let line = line_of(&report, "FAIL  Redis Cluster (JOINCHAT_REDIS_URL)");
    assert!(
        line.contains("redis+cluster://"),
        "the fix names the form: {line}"
    );
    cloud.stop().await;
}

#[tokio::test]
async fn the_doctor_fails_naming_each_missing_graph_permission() {
    let members_only =
        format!("{TENANT_WORLD}\n[app]\ngraph_permissions = [\"ChatMember.ReadWrite.All\"]\n");
    let (cloud, settings) = start_cloud(Some(&members_only)).await;
    let (code, report) = doctor(&settings, &[]).await;
    assert_eq!(code, 1, "{report}");
    let chat_read = line_of(&report, "FAIL  Graph permission Chat.ReadBasic.All ");
    assert!(chat_read.contains("GET /chats/{id}"), "{chat_read}");
    assert!(
        chat_read.contains("Fix:") && chat_read.contains(APP_ID),
        "{chat_read}"
    );
    line_of(
        &report,
        "FAIL  Graph permission TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All ",
    );
    line_of(&report, "ok    Graph permission ChatMember.ReadWrite.All ");
    line_of(&report, "ok    Dataverse WhoAmI");
    assert!(!report.contains("Redis"), "not configured, not checked");
    cloud.stop().await;

    let nothing = format!("{TENANT_WORLD}\n[app]\ngraph_permissions = []\n");
    let (cloud, settings) = start_cloud(Some(&nothing)).await;
    let (code, report) = doctor(&settings, &[]).await;
    assert_eq!(code, 1, "{report}");
    for permission in joinchat::permissions::graph_permission_names() {
        let line = line_of(&report, &format!("FAIL  Graph permission {permission} "));
        assert!(line.contains("granted: none"), "{line}");
    }
    cloud.stop().await;
}

#[tokio::test]
async fn the_doctor_names_a_bad_secret_a_refusing_dataverse_and_redis_down() {
    let (cloud, settings) = start_cloud(None).await;
    let mut wrong = settings.clone();
    wrong.insert(
        "JOINCHAT_APP_ID".into(),
        "00000000-0000-4000-8000-000000000000".into(),
    );
    let (code, report) = doctor(&wrong, &[]).await;
    assert_eq!(code, 1, "{report}");
    let token = line_of(
        &report,
        "FAIL  token for https://graph.microsoft.com/.default",
    );
    assert!(token.contains("JOINCHAT_APP_ID"), "{token}");
    line_of(&report, "FAIL  Graph application permissions: not checked");

    let (code, report) = doctor(&settings, &[("JOINCHAT_REDIS_URL", "redis://127.0.0.1:1")]).await;
    assert_eq!(code, 1, "{report}");
    let redis = line_of(&report, "FAIL  Redis (JOINCHAT_REDIS_URL)");
    assert!(redis.contains("Fix:"), "{redis}");

    let base = settings["JOINCHAT_GRAPH_URL"]
        .trim_end_matches("/graph")
        .to_owned();
    let fault = reqwest::Client::new()
        .post(format!("{base}/_sandbox/faults"))
        .json(&serde_json::json!({"service": "dataverse", "status": 403}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let (code, report) = doctor(&settings, &[]).await;
    assert_eq!(code, 1, "{report}");
    let refused = line_of(&report, "FAIL  Dataverse WhoAmI");
    assert!(refused.contains("security role"), "{refused}");
    cloud.stop().await;

    let (code, report) = doctor(&HashMap::new(), &[]).await;
    assert_eq!(code, 1, "{report}");
    line_of(&report, "FAIL  configuration: JOINCHAT_APP_ID");
}

/// The bot's log says what Graph reported missing, in the sandbox binary.
#[tokio::test]
async fn the_log_names_what_graph_reported_missing() {
    let dir = std::env::temp_dir().join(format!("joinchat-log-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("world.toml");
    let members_only =
        format!("{TENANT_WORLD}\n[app]\ngraph_permissions = [\"ChatMember.ReadWrite.All\"]\n");
    std::fs::write(&file, members_only).unwrap();
    let sandbox = Running::start(
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--cloud-listen",
            "127.0.0.1:0",
            "--world",
            file.to_str().unwrap(),
        ],
        &[("RUST_LOG", "warn")],
        "Ctrl-C",
    )
    .await;
    let cloud = sandbox
        .printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("cloud:"))
        .map(|url| url.trim().to_owned())
        .expect("the cloud's address");
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{cloud}/_sandbox/users/alex/say"))
        .json(&serde_json::json!({ "text": "chats for lead Acme_2024" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], 200, "{answer}");
    let logs = sandbox.stop().await;
    let refused = logs
        .lines()
        .find(|line| line.contains("Graph refused the bot"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{logs}"));
    assert!(refused.contains("GET /chats/{id}"), "{refused}");
    assert!(refused.contains("Chat.ReadBasic.All"), "{refused}");
    assert!(!logs.contains(PASSWORD));
}

/// A Dataverse token with the app's credentials from `joinchat cloud`'s settings.
async fn dataverse_token(settings: &HashMap<String, String>) -> String {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        settings["JOINCHAT_LOGIN_URL"], settings["JOINCHAT_TENANT_ID"]
    );
    let scope = format!("{}/.default", settings["JOINCHAT_DATAVERSE_URL"]);
    let body: serde_json::Value = reqwest::Client::new()
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP_ID),
            ("client_secret", PASSWORD),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_doctor_names_a_missing_webhook_step_and_a_missing_webhook() {
    let (cloud, settings) = start_cloud(None).await;
    let http = reqwest::Client::new();
    let token = dataverse_token(&settings).await;
    let api = format!("{}/api/data/v9.2", settings["JOINCHAT_DATAVERSE_URL"]);
    let steps: serde_json::Value = http
        .get(format!(
            "{api}/sdkmessageprocessingsteps?$select=name&$expand=sdkmessageid($select=name)"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An administrator removes every GrantAccess step.
    for step in steps["value"].as_array().unwrap() {
        if step["sdkmessageid"]["name"] == "GrantAccess" {
            let id = step["sdkmessageprocessingstepid"].as_str().unwrap();
            let deleted = http
                .delete(format!("{api}/sdkmessageprocessingsteps({id})"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(deleted.status().is_success());
        }
    }
    let (code, report) = doctor(&settings, &[]).await;
    assert_eq!(code, 1, "{report}");
    let missing = line_of(&report, "FAIL  Dataverse webhook step GrantAccess ");
    assert!(
        missing.contains("not registered") && missing.contains("Fix:"),
        "{missing}"
    );
    line_of(&report, "ok    Dataverse webhook step Update ");
    line_of(&report, "ok    Dataverse webhook step ModifyAccess ");

    // Without the key configured, the registration is not the doctor's concern.
    let mut without = settings.clone();
    without.remove("JOINCHAT_DATAVERSE_WEBHOOK_KEY");
    let (_, report) = doctor(&without, &[]).await;
    assert!(!report.contains("Dataverse webhook"), "{report}");

    let endpoints: serde_json::Value = http
        .get(format!("{api}/serviceendpoints"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = endpoints["value"][0]["serviceendpointid"].as_str().unwrap();
    http.delete(format!("{api}/serviceendpoints({id})"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (code, report) = doctor(&settings, &[]).await;
    assert_eq!(code, 1, "{report}");
    let missing = line_of(&report, "FAIL  Dataverse webhook (serviceendpoint)");
    assert!(
        missing.contains("/api/dataverse") && missing.contains("WebhookKey"),
        "{missing}"
    );
    cloud.stop().await;
}
