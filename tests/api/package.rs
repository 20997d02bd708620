//! `joinchat package` as a real process: the zip it writes holds a manifest
//! with the ids filled in, the bot's scopes, commands the bot understands and
//! the resource-specific permissions from `joinchat::permissions`, and icons
//! of the sizes Teams requires.

use std::{io::Read, process::Command};

use serde_json::{json, Value};

const BOT: &str = "6f1c2d3e-4a5b-4c6d-8e7f-901234567890";
const TEAMS_APP: &str = "0a1b2c3d-1111-4222-8333-444455556666";

fn package(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_joinchat"))
        .env_clear()
        .current_dir(dir)
        .arg("package")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("joinchat-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entry(zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    zip.by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the zip"))
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// Width, height and colour type, from the IHDR chunk that must come first.
fn ihdr(png: &[u8]) -> (u32, u32, u8) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20), png[25])
}

/// The `manifest.json` that `joinchat package` writes, for other tests.
pub fn generated_manifest() -> Value {
    let dir = temp_dir("package-manifest");
    let output = package(&dir, &["--app-id", BOT, "--out", "app.zip"]);
    assert!(output.status.success(), "{output:?}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(dir.join("app.zip")).unwrap()).unwrap();
    let manifest = serde_json::from_slice(&entry(&mut zip, "manifest.json")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    manifest
}

#[test]
fn the_package_holds_a_filled_in_manifest_and_icons_of_the_right_sizes() {
    let dir = temp_dir("package");
    let output = package(
        &dir,
        &[
            "--app-id",
            BOT,
            "--teams-app-id",
            TEAMS_APP,
            "--out",
            "app.zip",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(dir.join("app.zip")).unwrap()).unwrap();
    let mut names: Vec<&str> = zip.file_names().collect();
    names.sort();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);

    let manifest: Value = serde_json::from_slice(&entry(&mut zip, "manifest.json")).unwrap();
    let version = manifest["manifestVersion"].as_str().unwrap();
    assert_eq!(
        manifest["$schema"],
        format!("https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json")
    );
    assert_eq!(manifest["id"], TEAMS_APP);
    assert_eq!(manifest["webApplicationInfo"]["id"], BOT);
    assert_eq!(
        manifest["icons"],
        json!({ "color": "color.png", "outline": "outline.png" })
    );
    let bot = &manifest["bots"][0];
    assert_eq!(bot["botId"], BOT);
    assert_eq!(bot["scopes"], json!(["personal", "groupChat"]));
    let lists = bot["commandLists"].as_array().unwrap();
    let scopes: Vec<&Value> = lists
        .iter()
        .flat_map(|l| l["scopes"].as_array().unwrap())
        .collect();
    assert_eq!(scopes, [&json!("personal"), &json!("groupChat")]);
    for command in lists.iter().flat_map(|l| l["commands"].as_array().unwrap()) {
        let title = command["title"].as_str().unwrap();
        let parsed = joinchat::commands::parse(title);
        assert_ne!(parsed, joinchat::commands::Command::Unknown, "{title}");
    }
    let rsc: Vec<Value> = joinchat::permissions::RSC_PERMISSIONS
        .iter()
        .map(|name| json!({ "name": name, "type": "Application" }))
        .collect();
    assert_eq!(
        manifest["authorization"]["permissions"]["resourceSpecific"],
        Value::Array(rsc)
    );
    assert!(!manifest.to_string().contains("${"), "no placeholder left");

    let color = entry(&mut zip, "color.png");
    let (width, height, colour_type) = ihdr(&color);
    assert_eq!((width, height), (192, 192));
    assert!(matches!(colour_type, 2 | 6), "truecolour: {colour_type}");

    let outline = entry(&mut zip, "outline.png");
    let (width, height, _) = ihdr(&outline);
    assert_eq!((width, height), (32, 32));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(outline))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; decoder.output_buffer_size().unwrap()];
    let info = decoder.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let pixels = &pixels[..info.buffer_size()];
    let alphas: Vec<u8> = pixels.chunks(4).map(|p| p[3]).collect();
    assert!(alphas.contains(&0), "a transparent background");
    assert!(alphas.contains(&255), "a drawn outline");
    assert!(
        pixels
            .chunks(4)
            .all(|p| p[3] == 0 || p[..3] == [255, 255, 255]),
        "every visible pixel is white"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn without_a_teams_app_id_a_new_one_is_generated_and_the_default_name_used() {
    let dir = temp_dir("package-default");
    let output = package(&dir, &["--app-id", BOT]);
    assert!(output.status.success(), "{output:?}");
    let file = std::fs::File::open(dir.join("joinchat-teams-app.zip")).expect("the default name");
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let manifest: Value = serde_json::from_slice(&entry(&mut zip, "manifest.json")).unwrap();
    let id = manifest["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok() && id != BOT, "{id}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(id),
        "the id is printed"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ids_that_are_not_guids_are_refused_naming_the_flag() {
    let dir = temp_dir("package-bad");
    for (args, flag) in [
        (vec!["--app-id", "my-bot"], "--app-id"),
        (
            vec!["--app-id", BOT, "--teams-app-id", "{0a1b}"],
            "--teams-app-id",
        ),
    ] {
        let output = package(&dir, &args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} must be a GUID")),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The README's production walk-through names every permission the app
/// registration and the package ask for.
#[test]
fn the_readme_names_every_permission_the_app_needs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let graph = joinchat::permissions::graph_permission_names();
    for name in graph.chain(joinchat::permissions::RSC_PERMISSIONS.iter().copied()) {
        assert!(readme.contains(&format!("`{name}`")), "README lacks {name}");
    }
}
