//! What operators watch: `/readyz` (ready once the signing keys are loaded,
//! whatever the store does), and `/metrics` against the Grafana dashboard and
//! the README's metric table.

use std::collections::BTreeSet;

use joinchat_sandbox::{Cloud, CloudOptions, World};
use serde_json::{json, Value};

use crate::helpers::{local, spawn_app, spawn_bot, StoreKind};

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../manifests/grafana/joinchat.json"
);
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");

#[tokio::test]
async fn readiness_reports_the_store_it_uses() {
    for store in crate::helpers::EVERY_STORE {
        let kind = match store.effective() {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
            StoreKind::Cluster => "redis-cluster",
        };
        let app = spawn_app(store).await;
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status().as_u16(), 200, "{kind}");
        let body: Value = ready.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "status": "ready", "store": kind, "store_ok": true })
        );
    }
}

/// Without signing keys the bot cannot tell Teams from a forger: not ready.
/// The probe itself fetches them again, so the replica becomes ready as soon
/// as the metadata host answers, with no traffic needed.
#[tokio::test]
async fn readiness_waits_for_the_signing_keys() {
    let cloud = Cloud::start(
        World::demo(),
        CloudOptions {
            listen: local(),
            app_id: None,
            app_password: None,
            bot_endpoint: None,
            dataverse_webhook_key: None,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let faults = format!("{}/_sandbox/faults", cloud.base_url());
    let posted = http
        .post(&faults)
        .json(&json!({ "service": "entra", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let app = spawn_bot(cloud, StoreKind::Memory, |_| {}).await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["store_ok"], true, "{body}");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);

    http.delete(&faults).send().await.unwrap();
    let mut status = 0;
    for _ in 0..100 {
        status = app.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "ready once the keys could be fetched");
}

/// `joinchat healthcheck`, the image's HEALTHCHECK, passes against a running
/// bot (an unspecified listen address is checked on loopback) and fails
/// where nothing listens.
#[tokio::test]
async fn the_healthcheck_command_checks_the_local_bot() {
    let app = spawn_app(StoreKind::Memory).await;
    let port = app.bot_url.rsplit(':').next().unwrap().to_owned();
    let healthcheck = |listen: String| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_joinchat"))
            .env_clear()
            .args(["healthcheck", "--listen", &listen])
            .output()
    };
    for listen in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let output = healthcheck(listen.clone()).await.unwrap();
        assert!(output.status.success(), "{listen}: {output:?}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let output = healthcheck(nobody.to_string()).await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/healthz"));
}

/// Every metric the dashboard queries is one the bot exports.
#[tokio::test]
async fn every_metric_the_dashboard_queries_exists() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).expect("JSON");
    let mut queried = BTreeSet::new();
    metric_names_in(&dashboard, &mut queried);
    assert!(queried.len() >= 4, "the dashboard queries: {queried:?}");

    let exported = exported_samples().await;
    let missing: Vec<_> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "queried by the dashboard, not in /metrics: {missing:?}\nexported: {exported:?}"
    );
}

/// Every metric family in `/metrics` has a row in the README's table with its type.
#[tokio::test]
async fn every_exported_metric_is_documented() {
    let readme = std::fs::read_to_string(README).unwrap();
    let app = spawn_app(StoreKind::Memory).await;
    drive(&app).await;
    let text = app.metrics().await;
    let families: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();
    assert!(families.len() >= 4, "{text}");
    for (name, kind) in families {
        let row = format!("| `{name}` | {kind} |");
        assert!(readme.contains(&row), "README lacks the row `{row} …`");
    }
}

/// Makes every family appear: labelled counters show up on first increment.
async fn drive(app: &crate::helpers::TestApp) {
    let answered = app
        .post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(answered.status().as_u16(), 200);
    let refused = app.post_activity(&app.message("help"), None).await;
    assert_eq!(refused.status().as_u16(), 401);
    app.get("/readyz").await;
}

/// The sample names in `/metrics` of a bot that has done some work.
async fn exported_samples() -> BTreeSet<String> {
    let app = spawn_app(StoreKind::Memory).await;
    drive(&app).await;
    app.metrics()
        .await
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            line[..end].to_owned()
        })
        .collect()
}

/// Every `joinchat_…` metric name in any string of the dashboard (panel
/// `expr`s and the template variables' queries).
fn metric_names_in(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(at) = rest.find("joinchat_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
        Value::Array(items) => items.iter().for_each(|item| metric_names_in(item, names)),
        Value::Object(fields) => fields
            .values()
            .for_each(|item| metric_names_in(item, names)),
        _ => {}
    }
}

#[tokio::test]
async fn a_made_up_activity_type_is_counted_as_other() {
    let app = spawn_app(StoreKind::Memory).await;
    let made_up = "madeUpTypeNumber7d1f";
    let mut activity = app.message("help");
    activity["type"] = json!(made_up);
    let response = app.post_activity(&activity, Some(&app.token())).await;
    assert_eq!(response.status().as_u16(), 200);
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains(made_up),
        "a caller's word is no label value"
    );
    let counted = metrics
        .lines()
        .find(|line| {
            line.starts_with("joinchat_activity_outcomes_total{") && line.contains("kind=\"other\"")
        })
        .unwrap_or_else(|| panic!("no kind=\"other\" sample in\n{metrics}"));
    assert!(counted.ends_with(" 1"), "{counted}");
}
