//! `POST /api/messages`: the Bot Framework endpoint. Token first, then the
//! body (size-limited, parsed into typed structs), then the per-activity
//! auth rules and the tenant, then dedupe — and only then the bot. In the
//! anonymous Playground mode a request with no header from a loopback peer
//! stands in for the token, and its loopback `serviceUrl` for the per-activity
//! rules (`auth::local`).

use std::sync::Arc;

use actix_web::{http::header, web, HttpRequest, HttpResponse};

use super::{answered, read_body, Refusal};
use crate::{
    auth::{local, AuthFailure, LocalConnectors, VerifiedCaller},
    teams::Activity,
    AppState,
};

/// Who is calling, as far as the front door can tell before the body.
enum Caller<'a> {
    /// A verified Bot Framework channel token.
    Channel(VerifiedCaller),
    /// No header, over loopback, in the anonymous Playground mode.
    Local(&'a LocalConnectors),
}

/// Bodies above this are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;

pub async fn post(
    state: web::Data<Arc<AppState>>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, Refusal> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let caller = match (authorization, &state.local) {
        (None, Some(local)) if local::is_loopback_peer(request.peer_addr()) => Caller::Local(local),
        _ => Caller::Channel(
            state
                .auth
                .authenticate(authorization)
                .await
                .map_err(|failure| refuse(&state, failure))?,
        ),
    };

    let body = read_body(&request, &mut payload, MAX_BODY, 4096).await?;

    let activity: Activity = serde_json::from_slice(&body)
        .map_err(|e| Refusal::Malformed(format!("not an activity: {}", e.classify_name())))?;
    if activity.service_url.is_empty() || activity.conversation.id.is_empty() {
        return Err(Refusal::Malformed(
            "serviceUrl and conversation.id are required".into(),
        ));
    }
    match caller {
        Caller::Channel(caller) => {
            caller.check_activity(&activity.channel_id, &activity.service_url)
        }
        Caller::Local(local) => local.admit(&activity.service_url),
    }
    .map_err(|failure| refuse(&state, failure))?;
    let same_tenant = activity
        .tenant_id()
        .is_some_and(|tenant| tenant.eq_ignore_ascii_case(&state.config.tenant_id));
    if !same_tenant {
        tracing::info!(
            activity.id = activity.id.as_deref(),
            "activity from another tenant refused"
        );
        return Err(Refusal::OtherTenant);
    }

    answered(state.bot.handle(activity).await)
}

/// Counts and logs an authentication failure (never the token), and turns it
/// into the answer.
fn refuse(state: &AppState, failure: AuthFailure) -> Refusal {
    state
        .metrics
        .auth_failures
        .with_label_values(&[failure.reason()])
        .inc();
    tracing::info!(reason = failure.reason(), "request refused: {failure}");
    Refusal::from(failure)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}
