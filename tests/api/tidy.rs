//! The architecture's invariants, checked on the source the way
//! rust-analyzer's tidy test does: what ARCHITECTURE.md states as absences
//! stays absent.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every Rust file under `dir`, with its path relative to the repository.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.strip_prefix(root()).unwrap().display().to_string();
                found.push((name, text));
            }
        }
    }
    assert!(!found.is_empty(), "no sources under {}", dir.display());
    found
}

fn crate_sources(name: &str) -> Vec<(String, String)> {
    rust_files(&root().join("crates").join(name).join("src"))
}

fn all_sources() -> Vec<(String, String)> {
    ["joinchat", "joinchat-sandbox", "joinchat-cli"]
        .iter()
        .flat_map(|name| crate_sources(name))
        .collect()
}

/// The code of a file without its unit tests (they come last, after `#[cfg(test)]`).
fn without_tests(text: &str) -> &str {
    text.find("\n#[cfg(test)]\nmod ")
        .map_or(text, |at| &text[..at])
}

#[test]
fn every_source_file_opens_with_its_doc_comment() {
    for (name, text) in all_sources() {
        assert!(text.starts_with("//!"), "{name} does not open with //!");
    }
}

#[test]
fn no_source_file_is_over_about_500_lines() {
    for (name, text) in all_sources() {
        let lines = without_tests(&text).lines().count();
        assert!(lines <= 520, "{name} has {lines} lines outside its tests");
    }
}

#[test]
fn policy_does_no_io() {
    let text = std::fs::read_to_string(root().join("crates/joinchat/src/policy.rs")).unwrap();
    let code = without_tests(&text);
    for io in [
        "async ",
        ".await",
        "tokio",
        "reqwest",
        "std::fs",
        "std::net",
        "Instant",
        "SystemTime",
        "crate::store",
        "crate::clients",
        "crate::facts",
        "tracing",
    ] {
        assert!(!code.contains(io), "policy.rs mentions {io:?}");
    }
}

#[test]
fn only_http_knows_actix_web_and_chooses_statuses() {
    for (name, text) in crate_sources("joinchat") {
        let code = without_tests(&text);
        if name.contains("/src/http/") {
            continue;
        }
        assert!(!code.contains("actix_web"), "{name} uses actix-web");
        assert!(
            !code.contains("HttpResponse"),
            "{name} builds an HTTP answer"
        );
    }
    // Inside http/, statuses are chosen in one place: the module's root.
    for (name, text) in crate_sources("joinchat") {
        if name.contains("/src/http/") && !name.ends_with("/src/http/mod.rs") {
            assert!(!text.contains("StatusCode"), "{name} picks a status");
            assert!(!text.contains("HttpResponse::"), "{name} picks a status");
        }
    }
}

#[test]
fn only_the_client_modules_know_microsofts_paths() {
    for (name, text) in crate_sources("joinchat") {
        let code = without_tests(&text);
        if name.contains("/src/clients/") || name.contains("/src/auth/") {
            continue;
        }
        for path in ["/v1.0/", "/api/data/v9", "/v3/conversations", "oauth2/v2.0"] {
            assert!(
                !code.contains(path),
                "{name} names the Microsoft path {path}"
            );
        }
    }
}

/// The names of a manifest's dependencies of every kind.
fn dependencies(manifest: &str) -> Vec<(String, toml::Value)> {
    let path = root().join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: toml::Table = text.parse().unwrap();
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|kind| parsed.get(*kind).and_then(toml::Value::as_table))
        .flat_map(|table| table.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

#[test]
fn the_bot_and_the_sandbox_know_nothing_of_each_other() {
    let workspace: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let shared = &workspace["workspace"]["dependencies"];
    // A dependency that is a crate of this repository, by path or through the workspace.
    let local = |(name, spec): &(String, toml::Value)| {
        spec.get("path").is_some()
            || (spec.get("workspace").is_some()
                && shared.get(name).and_then(|s| s.get("path")).is_some())
    };
    for (manifest, allowed) in [
        ("crates/joinchat/Cargo.toml", &[][..]),
        ("crates/joinchat-sandbox/Cargo.toml", &[][..]),
    ] {
        let locals: Vec<String> = dependencies(manifest)
            .iter()
            .filter(|dep| local(dep))
            .map(|(name, _)| name.clone())
            .filter(|name| !allowed.contains(&name.as_str()))
            .collect();
        assert!(
            locals.is_empty(),
            "{manifest} depends on {locals:?} of this repository"
        );
    }
    for (name, text) in crate_sources("joinchat") {
        assert!(
            !text.contains("joinchat_sandbox"),
            "{name} names the sandbox"
        );
    }
    for (name, text) in crate_sources("joinchat-sandbox") {
        assert!(!text.contains("joinchat::"), "{name} names the bot");
    }
}

#[test]
fn every_document_a_comment_cites_exists() {
    for (name, text) in all_sources() {
        for word in text.split(|c: char| c.is_whitespace() || "`()[],;:'\"".contains(c)) {
            let word = word.trim_end_matches('.');
            if word.ends_with(".md") && !word.contains("://") {
                let exists =
                    root().join(word).is_file() || root().join("docs").join(word).is_file();
                assert!(
                    exists,
                    "{name} cites {word}, which is not in the repository"
                );
            }
        }
    }
}
