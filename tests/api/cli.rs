//! The real binary: configuration errors name their variable and never print
//! secrets.

use std::process::Command;

fn joinchat(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_joinchat"));
    command.env_clear().args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

#[test]
fn serve_without_configuration_exits_non_zero_naming_the_variable() {
    let output = joinchat(&[], &["serve"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("JOINCHAT_APP_ID"), "{stderr}");
}

#[test]
#[rustfmt::skip]
fn each_bad_value_is_named_and_the_password_is_never_printed() {
    let complete = [
        ("JOINCHAT_APP_ID", "app"),
        ("JOINCHAT_APP_PASSWORD", "s3cret-value-never-printed"),
        ("JOINCHAT_TENANT_ID", "tenant"),
        ("JOINCHAT_DATAVERSE_URL", "https://contoso.crm.dynamics.com"),
    ];
    let cases = [
        ("JOINCHAT_LISTEN", "not-an-address"),
        ("JOINCHAT_DATAVERSE_URL", "not a url"),
        ("JOINCHAT_REDIS_URL", "http://wrong-scheme"),
        ("JOINCHAT_GRAPH_URL", "::"),
    ];
    for (var, value) in cases {
        let mut env: Vec<(&str, &str)> = complete.iter().copied().filter(|(n, _)| *n != var).collect();
        env.push((var, value));
        let output = joinchat(&env, &["serve"]);
        assert!(!output.status.success(), "{var}");
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(all.contains(var), "{var}: {all}");
        assert!(!all.contains("s3cret-value-never-printed"), "{all}");
    }
}

#[test]
fn version_prints_the_version() {
    let output = joinchat(&[], &["version"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// The README's main job: `joinchat sandbox` as a real process, driven only
/// through the control API it prints.
#[tokio::test]
async fn the_sandbox_binary_answers_help_through_the_control_api() {
    let sandbox = RunningSandbox::start(&[("RUST_LOG", "warn")]).await;
    let (cloud, printed) = (sandbox.cloud.clone(), sandbox.printed.clone());
    assert!(
        printed.contains("/console"),
        "it says what to open:\n{printed}"
    );
    assert!(
        printed.matches("curl").count() >= 3,
        "three example commands:\n{printed}"
    );

    let http = reqwest::Client::new();
    for user in ["alex", "jo"] {
        let answer: serde_json::Value = http
            .post(format!("{cloud}/_sandbox/users/{user}/say"))
            .json(&serde_json::json!({ "text": "help" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], 200, "{answer}");
        let text = answer["activities"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("join chat for"), "{answer}");
    }
    let world: serde_json::Value = http
        .get(format!("{cloud}/_sandbox/world"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!world.to_string().contains("password"));
    sandbox.stop().await;
}

#[test]
fn a_bad_world_file_stops_the_sandbox_naming_the_line() {
    let dir = std::env::temp_dir().join(format!("joinchat-world-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "join_chat = [\"lead\"]\n\n[[users]]\nkey = \"alex\"\nname = \"Alex\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let output = joinchat(
        &[],
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--cloud-listen",
            "127.0.0.1:0",
            "--world",
            file.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:6"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
}

/// With every log line on (debug), a whole join leaves no secret and no token
/// in the logs of the bot or of the simulated cloud.
#[tokio::test]
async fn debug_logs_of_a_whole_join_hold_no_secret_and_no_token() {
    const PASSWORD: &str = "Sup3r-s3cret-app-password-for-the-log-test";
    let sandbox = RunningSandbox::start(&[
        ("JOINCHAT_APP_ID", "6f1c2d3e-4a5b-4c6d-8e7f-901234567890"),
        ("JOINCHAT_APP_PASSWORD", PASSWORD),
        ("RUST_LOG", "debug"),
    ])
    .await;
    let (cloud, printed) = (sandbox.cloud.clone(), sandbox.printed.clone());
    assert!(
        !printed.contains(PASSWORD),
        "a password from the environment is never printed"
    );

    let http = reqwest::Client::new();
    let say: serde_json::Value = http
        .post(format!("{cloud}/_sandbox/users/alex/say"))
        .json(&serde_json::json!({ "text": "join chat for lead Contoso Coffee expansion" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card = crate::cards::cards(&say["activities"])
        .pop()
        .expect("a card");
    let data =
        crate::cards::join_data(&card, "19:contoso-coffee-expansion@thread.v2").expect("Join");
    let joined: serde_json::Value = http
        .post(format!("{cloud}/_sandbox/users/alex/invoke"))
        .json(&serde_json::json!({ "verb": "join", "data": data }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        crate::cards::words(&joined["body"]["value"]).contains("You joined"),
        "{joined}"
    );

    let logs = sandbox.stop().await;
    assert!(
        logs.contains("activity handled"),
        "the logs were captured:\n{logs}"
    );
    assert!(
        !logs.contains(PASSWORD),
        "the app password leaked into the logs"
    );
    // Every JWT starts with a base64url JSON header: `eyJ`.
    let leaked: Vec<&str> = logs.lines().filter(|line| line.contains("eyJ")).collect();
    assert!(
        leaked.is_empty(),
        "tokens in the logs:\n{}",
        leaked.join("\n")
    );
}

/// `joinchat sandbox` as a real process on free ports, with what it printed
/// up to "Ctrl-C" and its logs (stderr) collected until it stops.
struct RunningSandbox {
    child: tokio::process::Child,
    cloud: String,
    printed: String,
    logs: tokio::task::JoinHandle<String>,
}

impl RunningSandbox {
    async fn start(env: &[(&str, &str)]) -> RunningSandbox {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_joinchat"))
            .args([
                "sandbox",
                "--listen",
                "127.0.0.1:0",
                "--cloud-listen",
                "127.0.0.1:0",
            ])
            .env_remove("JOINCHAT_REDIS_URL")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
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
        let mut cloud = None;
        let mut printed = String::new();
        let started = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                printed.push_str(&line);
                printed.push('\n');
                if let Some(url) = line.trim().strip_prefix("cloud:") {
                    cloud = Some(url.trim().to_owned());
                }
                if line.contains("Ctrl-C") {
                    break;
                }
            }
        })
        .await;
        assert!(
            started.is_ok(),
            "the sandbox printed its addresses in time:\n{printed}"
        );
        let cloud = cloud.unwrap_or_else(|| panic!("no cloud address in:\n{printed}"));
        RunningSandbox {
            child,
            cloud,
            printed,
            logs,
        }
    }

    /// Stops the process; its logs.
    async fn stop(mut self) -> String {
        self.child.kill().await.ok();
        tokio::time::timeout(std::time::Duration::from_secs(10), self.logs)
            .await
            .expect("the logs end with the process")
            .unwrap_or_default()
    }
}
