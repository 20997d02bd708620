//! One list of what joinchat asks of a tenant: the bot's
//! (`joinchat::permissions`), the simulated cloud's own copies (it cannot
//! import the bot), the Teams manifest `joinchat package` writes and the
//! README say the same.

use joinchat::permissions::{GRAPH_APPLICATION_PERMISSIONS, RSC_PERMISSIONS};
use joinchat_sandbox::{DEFAULT_GRAPH_PERMISSIONS, TEAMS_APP_RSC_PERMISSIONS};

fn repository_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The rows of the README table whose header starts with `header`: each
/// row's cells, backticks removed.
fn readme_table(header: &str) -> Vec<Vec<String>> {
    let readme = repository_file("README.md");
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.starts_with(&format!("| {header}")));
    assert!(
        lines.next().is_some(),
        "README has a table headed {header:?}"
    );
    lines
        .skip(1) // the |---| line
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().replace('`', ""))
                .collect()
        })
        .collect()
}

#[test]
fn the_sandbox_grants_by_default_exactly_what_the_bot_requires() {
    let required: Vec<&str> = joinchat::permissions::graph_permission_names().collect();
    assert_eq!(required, DEFAULT_GRAPH_PERMISSIONS);
}

#[test]
fn the_readme_lists_each_permission_with_the_calls_it_is_for() {
    let rows = readme_table("Graph application permission");
    let listed: Vec<(String, String)> = rows
        .iter()
        .map(|cells| (cells[0].clone(), cells[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = GRAPH_APPLICATION_PERMISSIONS
        .iter()
        .map(|p| (p.name.to_owned(), p.used_for.join(", ")))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn the_rsc_set_is_the_same_in_the_bot_the_catalog_the_manifest_and_the_readme() {
    assert_eq!(RSC_PERMISSIONS, TEAMS_APP_RSC_PERMISSIONS);
    let manifest = crate::package::generated_manifest();
    let declared = manifest["authorization"]["permissions"]["resourceSpecific"]
        .as_array()
        .expect("the manifest declares RSC permissions");
    let names: Vec<&str> = declared
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "Application", "{p}");
            p["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, RSC_PERMISSIONS);
    let readme: Vec<String> = readme_table("Resource-specific permission")
        .into_iter()
        .map(|cells| cells[0].clone())
        .collect();
    assert_eq!(readme, RSC_PERMISSIONS);
}
