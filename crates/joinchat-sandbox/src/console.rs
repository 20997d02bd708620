//! The web console (`/console`): a page to be anyone in the world, talk to the
//! bot, see its Adaptive Cards rendered by Microsoft's own renderer, click
//! them, and watch the group chats and the audit trail change.
//!
//! The page's own files are compiled in, so `/console` works from any
//! directory. The renderer (`adaptivecards` from npm) is read from disk at
//! request time, from `console/node_modules`; when it is missing the page still
//! loads, shows cards as plain text and says exactly what to install. The page
//! talks only to the control API; this module serves files and nothing else.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const INDEX_HTML: &str = include_str!("../console/index.html");
const CONSOLE_JS: &str = include_str!("../console/console.js");
const CONSOLE_CSS: &str = include_str!("../console/console.css");

/// Where `npm ci --prefix console` puts Microsoft's renderer.
const RENDERER: &str = "node_modules/adaptivecards/dist/adaptivecards.min.js";
/// Where the page loads the renderer from.
const RENDERER_URL: &str = "/console/vendor/adaptivecards.min.js";
/// The place in `index.html` that gets the renderer's script tag, or the hint.
const RENDERER_SLOT: &str = "<!-- renderer -->";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page))
        .route("/console/", web::get().to(page))
        .route("/console/console.js", web::get().to(script))
        .route("/console/console.css", web::get().to(stylesheet))
        .route(RENDERER_URL, web::get().to(renderer));
}

async fn page() -> HttpResponse {
    let slot = renderer_slot(renderer_path().is_some(), on_path("npm"), &console_prefix());
    asset(
        "text/html; charset=utf-8",
        INDEX_HTML.replace(RENDERER_SLOT, &slot),
    )
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CONSOLE_JS.to_owned())
}

async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", CONSOLE_CSS.to_owned())
}

async fn renderer() -> HttpResponse {
    let Some(path) = renderer_path() else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("the Adaptive Cards renderer is not installed: run `npm ci --prefix console`\n");
    };
    let read = {
        let path = path.clone();
        web::block(move || std::fs::read(path)).await
    };
    match read
        .map_err(std::io::Error::other)
        .and_then(|result| result)
    {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(bytes),
        Err(error) => HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(format!("cannot read {}: {error}\n", path.display())),
    }
}

fn asset(content_type: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The `console/` folders to look in: the current directory's first (a
/// checkout run from its root), then the one the binary was built from.
fn console_dirs() -> [PathBuf; 2] {
    [
        PathBuf::from("crates/joinchat-sandbox/console"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("console"),
    ]
}

fn renderer_path() -> Option<PathBuf> {
    console_dirs()
        .into_iter()
        .map(|dir| dir.join(RENDERER))
        .find(|path| path.is_file())
}

/// The `console/` folder to name in `npm ci --prefix …`: the first that holds
/// the page's `package.json`.
fn console_prefix() -> String {
    console_dirs()
        .into_iter()
        .find(|dir| dir.join("package.json").is_file())
        .map(|dir| dir.display().to_string())
        .unwrap_or_else(|| "console".to_owned())
}

/// What goes in the page's head: the renderer's script tag when it is
/// installed; otherwise what to run, with Node.js first when there is no `npm`.
fn renderer_slot(installed: bool, npm_found: bool, prefix: &str) -> String {
    if installed {
        return format!(r#"<script src="{RENDERER_URL}"></script>"#);
    }
    let command = escape(&format!("npm ci --prefix {prefix}"));
    let steps = if npm_found {
        format!("Run <code>{command}</code> and reload this page.")
    } else {
        format!(
            "Install Node.js and npm first (on Debian or Ubuntu: <code>apt-get install -y nodejs npm</code>), \
             then run <code>{command}</code> and reload this page."
        )
    };
    format!(
        r#"<template id="renderer-missing"><strong>Cards are shown as plain text:</strong> Microsoft's Adaptive Cards renderer is not installed. {steps}</template>"#
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_renderer_is_loaded_from_the_vendor_path() {
        let slot = renderer_slot(true, true, "console");
        assert_eq!(slot, format!(r#"<script src="{RENDERER_URL}"></script>"#));
    }

    #[test]
    fn a_missing_renderer_names_the_command_to_run() {
        let slot = renderer_slot(false, true, "/src/joinchat/console");
        assert!(slot.contains("<code>npm ci --prefix /src/joinchat/console</code>"));
        assert!(!slot.contains("Install Node.js"));
        assert!(!slot.contains("<script"));
    }

    #[test]
    fn without_npm_the_page_says_to_install_node_first() {
        let slot = renderer_slot(false, false, "console");
        assert!(slot.contains("Install Node.js and npm first"));
        assert!(slot.contains("<code>npm ci --prefix console</code>"));
    }

    #[test]
    fn the_page_has_a_place_for_the_renderer() {
        assert!(INDEX_HTML.contains(RENDERER_SLOT));
    }
}
