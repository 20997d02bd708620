//! The bot's app in a person's personal scope: `POST` and `GET
//! /users/{id}/teamwork/installedApps` and `GET …/installedApps/{id}/chat`,
//! the 1:1 chat between that person and the bot.
//!
//! Microsoft's pages: <https://learn.microsoft.com/graph/api/userteamwork-post-installedapps>
//! (201 Created and no body; the app named by `teamsApp@odata.bind`),
//! <https://learn.microsoft.com/graph/api/userteamwork-list-installedapps>
//! (`$expand`, `$filter=teamsApp/id eq '…'`) and
//! <https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat>.
//! Installing an app already installed for that person answers 409 Conflict,
//! as Graph does (microsoftgraph/microsoft-graph-docs-contrib#3686). A person
//! who talked to the bot has the app installed already: that is how Teams
//! gave them the 1:1 chat.
//!
//! Resource-specific consent: the install page asks the consented set to
//! match the app definition's RSC permissions, but the bot's declared
//! permissions are all `….Chat` ones, granted where the app is installed into
//! a chat; none is scoped to a user. So an install for a person needs no
//! `consentedPermissionSet` (the page's own example sends none), and one that
//! is sent must still match the definition exactly, as in a chat.
//!
//! Once installed, Teams tells the bot, as it does for a person who adds the
//! app: a `conversationUpdate` (the bot added) and an `installationUpdate`
//! (`add`) in that person's 1:1 conversation, sent after the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::apps::{catalog_app, check_consent};
use super::{authorize, error, find_user};
use crate::control::installed_for_user;
use crate::permissions::{self, Grants};
use crate::state::rfc3339;
use crate::world::User;
use crate::Shared;

const INSTALLATION_TYPE: &str = "#microsoft.graph.userScopeTeamsAppInstallation";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/graph/v1.0/users/{user}/teamwork/installedApps")
            .route("", web::post().to(install))
            .route("", web::get().to(list))
            .route("/{installation}/chat", web::get().to(chat)),
    );
}

/// A valid token holding one of `accepted` (no RSC is consented in a
/// person's scope), then the person the path names.
fn admit<'s>(
    shared: &'s Shared,
    req: &HttpRequest,
    user: &str,
    accepted: &[&str],
) -> Result<&'s User, HttpResponse> {
    let roles = authorize(shared, req)?;
    Grants {
        roles: &roles,
        rsc: &[],
        installed: false,
    }
    .allow(accepted)?;
    find_user(shared, user).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{user}' does not exist or one of its queried reference-property objects are not present."),
        )
    })
}

/// Graph's opaque installation id: base64 of the person and the catalog app.
fn installation_id(user: &User, teams_app_id: &str) -> String {
    URL_SAFE.encode(format!("{}##{teams_app_id}", user.aad_object_id))
}

async fn install(
    shared: web::Data<Shared>,
    req: HttpRequest,
    user: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let user = match admit(&shared, &req, &user, permissions::INSTALL_FOR_USER) {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    if let Err(refusal) = catalog_app(&shared, &body) {
        return refusal;
    }
    if body.get("consentedPermissionSet").is_some() {
        if let Err(problem) = check_consent(&body) {
            return error(StatusCode::BAD_REQUEST, "BadRequest", &problem);
        }
    }
    if !shared.lock().install_for(&user.key) {
        return error(
            StatusCode::CONFLICT,
            "Conflict",
            "The app is already installed for this user.",
        );
    }
    installed_for_user(&shared, user);
    HttpResponse::Created().finish()
}

/// The `$filter` Graph documents for this list: `teamsApp/id eq '{id}'`.
fn filtered_app(filter: &str) -> Result<String, String> {
    let refused = || format!("Invalid filter clause: '{filter}' is not supported.");
    let (property, literal) = filter.split_once(" eq ").ok_or_else(refused)?;
    if !property.trim().eq_ignore_ascii_case("teamsApp/id") {
        return Err(refused());
    }
    let literal = literal.trim();
    literal
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .filter(|id| !id.contains('\''))
        .map(str::to_owned)
        .ok_or_else(refused)
}

async fn list(
    shared: web::Data<Shared>,
    req: HttpRequest,
    user: web::Path<String>,
) -> HttpResponse {
    let user = match admit(&shared, &req, &user, permissions::LIST_USER_APPS) {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let mut expand_app = false;
    let mut expand_definition = false;
    let mut only_app = None;
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match name.as_ref() {
            "$expand" => {
                for property in value.split(',').map(str::trim) {
                    match property {
                        "teamsApp" => expand_app = true,
                        "teamsAppDefinition" => expand_definition = true,
                        other => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "BadRequest",
                                &format!("Could not find a property named '{other}' on type 'microsoft.graph.userScopeTeamsAppInstallation'."),
                            )
                        }
                    }
                }
            }
            "$filter" => match filtered_app(&value) {
                Ok(id) => only_app = Some(id),
                Err(message) => return error(StatusCode::BAD_REQUEST, "BadRequest", &message),
            },
            _ => {}
        }
    }
    let installed = shared.lock().personal_installs.contains_key(&user.key);
    let wanted = only_app.is_none_or(|id| id.eq_ignore_ascii_case(&shared.teams_app_id));
    let mut installations = Vec::new();
    if installed && wanted {
        let mut installation = json!({
            "@odata.type": INSTALLATION_TYPE,
            "id": installation_id(user, &shared.teams_app_id),
            "consentedPermissionSet": null,
        });
        if expand_app {
            installation["teamsApp"] = json!({
                "id": shared.teams_app_id,
                "externalId": shared.app_id,
                "displayName": crate::control::BOT_NAME,
                "distributionMethod": "organization",
            });
        }
        if expand_definition {
            installation["teamsAppDefinition"] = json!({
                "id": URL_SAFE.encode(format!("{}##1.0.0", shared.teams_app_id)),
                "teamsAppId": shared.teams_app_id,
                "displayName": crate::control::BOT_NAME,
                "version": "1.0.0",
            });
        }
        installations.push(installation);
    }
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{}')/teamwork/installedApps", user.aad_object_id),
        "value": installations,
    }))
}

async fn chat(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (user, installation) = path.into_inner();
    let user = match admit(&shared, &req, &user, permissions::GET_USER_APP_CHAT) {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let installed: Option<OffsetDateTime> = shared.lock().personal_installs.get(&user.key).copied();
    let installed =
        installed.filter(|_| installation == installation_id(user, &shared.teams_app_id));
    let Some(since) = installed else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("No app installation found with id '{installation}'."),
        );
    };
    let chat_id = shared.personal_chat_id(user);
    let tenant_id = shared.world.tenant_id();
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{}')/teamwork/installedApps('{installation}')/chat/$entity", user.aad_object_id),
        "id": chat_id,
        "topic": null,
        "createdDateTime": rfc3339(since),
        "lastUpdatedDateTime": rfc3339(since),
        "chatType": "oneOnOne",
        "webUrl": format!("https://teams.microsoft.com/l/chat/{chat_id}/0?tenantId={tenant_id}"),
        "tenantId": tenant_id,
        "onlineMeetingInfo": null,
        "viewpoint": null,
    }))
}

#[cfg(test)]
mod tests {
    use super::filtered_app;

    #[test]
    fn the_one_documented_filter_is_read_and_others_are_refused() {
        let table = [
            ("teamsApp/id eq 'abc'", Some("abc")),
            ("teamsApp/id eq '12345678-9abc'", Some("12345678-9abc")),
            ("teamsapp/id eq 'abc'", Some("abc")),
            ("teamsApp/externalId eq 'abc'", None),
            ("teamsApp/id ne 'abc'", None),
            ("teamsApp/id eq abc", None),
            ("teamsApp/id eq 'a'b'", None),
        ];
        for (filter, expected) in table {
            assert_eq!(filtered_app(filter).ok().as_deref(), expected, "{filter}");
        }
    }
}
