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
