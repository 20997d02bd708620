//! `POST /chats/{id}/installedApps`: installing the bot's Teams app into a
//! chat, with resource-specific consent.
//!
//! Microsoft's page (<https://learn.microsoft.com/graph/api/chat-post-installedapps>): one
//! of four `TeamsAppInstallation.*ForChat.All` application permissions is
//! needed, and only the two `…AndConsent…` ones can install an app that
//! requires RSC; "the permissions consented to during the installation must
//! match the resource-specific permissions defined in the teamsAppDefinition
//! of the app", given as `consentedPermissionSet.resourceSpecificPermissions`.
//! The bot's app definition declares application RSC permissions
//! (`TEAMS_APP_RSC_PERMISSIONS`), so an install without them, or with others,
//! is refused. An install with consent grants those permissions in that chat.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{admit, chat_not_found, error};
use crate::permissions::{self, missing_roles, TEAMS_APP_RSC_PERMISSIONS};
use crate::Shared;

/// The catalog app an install's `teamsApp@odata.bind` names: 400 when it
/// names none, 404 when it is not the one app the catalog holds.
pub(super) fn catalog_app(shared: &Shared, body: &Value) -> Result<String, HttpResponse> {
    let bound = body
        .get("teamsApp@odata.bind")
        .and_then(Value::as_str)
        .filter(|bind| bind.contains("/appCatalogs/teamsApps/"));
    let Some(bound) = bound else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body: 'teamsApp@odata.bind' must name an app catalog entry.",
        ));
    };
    let app_id = bound.rsplit('/').next().unwrap_or_default().to_owned();
    if app_id != shared.teams_app_id {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The Teams app '{app_id}' was not found in the app catalog."),
        ));
    }
    Ok(app_id)
}

pub(super) async fn install_app(
    shared: web::Data<Shared>,
    req: HttpRequest,
    chat_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let roles = match admit(&shared, &req, &chat_id, permissions::INSTALL_APP) {
        Ok(roles) => roles,
        Err(refusal) => return refusal,
    };
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let app_id = match catalog_app(&shared, &body) {
        Ok(app_id) => app_id,
        Err(refusal) => return refusal,
    };
    // The app needs RSC, which the two non-consenting permissions cannot
    // grant. Microsoft documents the rule but not the answer; this one is
    // Graph's usual 403 for a missing role, naming the two that would do.
    if !permissions::INSTALL_WITH_CONSENT
        .iter()
        .any(|needed| roles.iter().any(|held| held == needed))
    {
        return missing_roles(permissions::INSTALL_WITH_CONSENT, &roles);
    }
    if let Err(problem) = check_consent(&body) {
        // Graph answers 400 to an RSC app installed without the consent its
        // definition requires (microsoftgraph/microsoft-graph-docs#13349);
        // the exact message is undocumented, so this one says what is wrong.
        return error(StatusCode::BAD_REQUEST, "BadRequest", &problem);
    }
    let mut state = shared.lock();
    let allowed = state.allow_app_install;
    let Some(chat) = state.chat_mut(&chat_id) else {
        return chat_not_found(&chat_id);
    };
    if !allowed {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Installing apps in this chat is not allowed by the tenant's policy.",
        );
    }
    chat.bot_installed = true;
    chat.rsc_grants = TEAMS_APP_RSC_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    chat.updated = OffsetDateTime::now_utc();
    state.changed();
    HttpResponse::Created().json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#chats('{chat_id}')/installedApps/$entity"),
        "id": URL_SAFE.encode(format!("{chat_id}##{app_id}")),
    }))
}

/// The consented set must be exactly the app definition's application RSC
/// permissions (delegated ones, which the definition does not declare, are
/// refused too).
pub(super) fn check_consent(body: &Value) -> Result<(), String> {
    let expected = TEAMS_APP_RSC_PERMISSIONS.join(", ");
    let Some(listed) = body
        .get("consentedPermissionSet")
        .and_then(|set| set.get("resourceSpecificPermissions"))
        .and_then(Value::as_array)
    else {
        return Err(format!(
            "The app requires consent to resource-specific permissions: 'consentedPermissionSet.resourceSpecificPermissions' must list {expected} (Application)."
        ));
    };
    let mut consented: Vec<&str> = Vec::new();
    for entry in listed {
        let value = entry.get("permissionValue").and_then(Value::as_str);
        let kind = entry.get("permissionType").and_then(Value::as_str);
        match (value, kind) {
            (Some(value), Some(kind)) if kind.eq_ignore_ascii_case("application") => {
                consented.push(value);
            }
            _ => {
                return Err(format!(
                    "Invalid resource-specific permission {entry}: the app definition declares only Application permissions ({expected})."
                ))
            }
        }
    }
    let mut wanted: Vec<&str> = TEAMS_APP_RSC_PERMISSIONS.to_vec();
    wanted.sort_unstable();
    consented.sort_unstable();
    consented.dedup();
    if consented != wanted {
        return Err(format!(
            "The consented resource-specific permissions '{}' do not match the app definition's '{expected}'.",
            consented.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(permissions: &[(&str, &str)]) -> Value {
        let listed: Vec<Value> = permissions
            .iter()
            .map(|(value, kind)| json!({"permissionValue": value, "permissionType": kind}))
            .collect();
        json!({"consentedPermissionSet": {"resourceSpecificPermissions": listed}})
    }

    #[test]
    fn only_the_app_definitions_own_set_is_accepted() {
        let exact: Vec<(&str, &str)> = TEAMS_APP_RSC_PERMISSIONS
            .iter()
            .rev()
            .map(|p| (*p, "Application"))
            .collect();
        assert_eq!(check_consent(&consent(&exact)), Ok(()), "any order");
        assert!(check_consent(&json!({})).is_err(), "no consent");
        assert!(check_consent(&consent(&exact[..1])).is_err(), "too few");
        let mut extra = exact.clone();
        extra.push(("ChatMessage.Read.Chat", "Application"));
        assert!(check_consent(&consent(&extra)).is_err(), "too many");
        let delegated: Vec<(&str, &str)> = exact.iter().map(|(p, _)| (*p, "Delegated")).collect();
        assert!(check_consent(&consent(&delegated)).is_err(), "wrong type");
    }
}
