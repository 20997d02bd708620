//! The web console's place on the cloud (`/console`): for now a placeholder
//! page listing the world's people and the control API it will be built on.
//!
//! The console talks only to the control API; it never reaches into state.

use actix_web::{web, HttpResponse};

use super::Shared;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page));
}

async fn page(shared: web::Data<Shared>) -> HttpResponse {
    let users: String = shared
        .world
        .users()
        .iter()
        .map(|user| {
            let role = if user.admin { " (admin)" } else { "" };
            format!(
                "<li><strong>{}</strong>{role} — <code>{}</code></li>\n",
                escape(&user.name),
                escape(&user.key)
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>joinchat sandbox console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5 }}</style>
</head>
<body>
<h1>joinchat sandbox console</h1>
<p>The full console is coming. Meanwhile, act as anyone below through the control API, e.g.
<code>curl -X POST {base}/_sandbox/users/alex/say -H 'content-type: application/json' -d '{{"text":"help"}}'</code>.</p>
<h2>People</h2>
<ul>
{users}</ul>
<h2>Control API</h2>
<ul>
<li><a href="/_sandbox/world">/_sandbox/world</a> — the world, with its generated ids and the service URLs</li>
<li><a href="/_sandbox/calls">/_sandbox/calls</a> — every call the simulated services received</li>
<li><a href="/_sandbox/events">/_sandbox/events</a> — a change counter to poll</li>
<li><code>POST /_sandbox/users/{{key}}/say</code>, <code>POST /_sandbox/users/{{key}}/invoke</code>, <code>GET /_sandbox/chats/{{id}}</code></li>
</ul>
</body>
</html>
"#,
        base = escape(&shared.base_url),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
