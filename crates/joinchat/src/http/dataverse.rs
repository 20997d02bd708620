//! `POST /api/dataverse`: Dataverse's webhook (a service endpoint step on
//! `Update` of `ownerid`, `GrantAccess`, `ModifyAccess`). Off unless
//! `JOINCHAT_DATAVERSE_WEBHOOK_KEY` is set. The key first — `?code=` or the
//! configured header — before the body is read (a refused call does nothing
//! at all); then the body, size-limited and parsed into the execution
//! context; then the offer, which has posted its card when this answers.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::{offer_answered, read_body, Refusal};
use crate::{
    auth::webhook::key_matches, clients::dataverse::webhook, offer::WebhookCall, AppState,
};

/// Bodies above this are refused with 413: an execution context with every
/// attribute of a record is a few tens of kilobytes.
pub const MAX_BODY: usize = 256 * 1024;
/// The longest `x-request-id` kept for dedupe (Dataverse sends a GUID).
const MAX_REQUEST_ID: usize = 128;

pub async fn post(
    state: web::Data<Arc<AppState>>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, Refusal> {
    let Some(webhook) = &state.config.dataverse_webhook else {
        return Err(Refusal::Off);
    };
    let code = request.uri().query().and_then(code_parameter);
    let header_key = request
        .headers()
        .get(webhook.header.as_str())
        .and_then(|value| value.to_str().ok());
    if !key_matches(webhook, &[code.as_deref(), header_key]) {
        state
            .metrics
            .auth_failures
            .with_label_values(&["webhook_key"])
            .inc();
        tracing::info!(
            key_sent = code.is_some() || header_key.is_some(),
            "Dataverse webhook call refused: wrong or missing key"
        );
        return Err(Refusal::WebhookKey);
    }

    let body = read_body(&request, &mut payload, MAX_BODY, 8192).await?;

    let context = webhook::parse(&body).map_err(|error| Refusal::Malformed(error.to_string()))?;
    let request_id_header = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(|id| id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID);
    let call = WebhookCall {
        context,
        request_id_header,
    };
    let outcome = state.bot.offers().handle(&call).await;
    tracing::info!(
        message = %call.context.message,
        outcome = outcome.as_str(),
        "Dataverse webhook call handled"
    );
    offer_answered(outcome)
}

/// The `code` parameter of a query string (Dataverse's WebhookKey), decoded.
fn code_parameter(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_parameter_is_found_and_decoded() {
        let table = [
            ("code=abc", Some("abc")),
            ("x=1&code=a%2Bb%3D%3D", Some("a+b==")),
            ("code=first&code=second", Some("first")),
            ("codes=abc", None),
            ("", None),
        ];
        for (query, expected) in table {
            assert_eq!(code_parameter(query).as_deref(), expected, "{query}");
        }
    }
}
