//! Microsoft's permission model, as the simulated Graph enforces it.
//!
//! The Graph token's `roles` claim carries the application permissions the
//! world's `[app] graph_permissions` grants (absent: [`DEFAULT_GRAPH_PERMISSIONS`],
//! the set joinchat documents). Each endpoint the simulated Graph serves
//! accepts the permissions Microsoft's reference page lists for it, any one of
//! which suffices; resource-specific (RSC) permissions count only in a chat
//! where the app was installed with them consented, and `…WhereInstalled`
//! permissions only in a chat where the app is installed. Otherwise the answer
//! is Graph's own 403.
//!
//! The sandbox cannot import the bot, so the two lists below are its own
//! copies; a black-box test keeps them equal to the bot's own list and to
//! the README.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::graph::error_body;

/// The Graph application permissions joinchat documents as required: the
/// world's default `[app] graph_permissions`.
pub const DEFAULT_GRAPH_PERMISSIONS: &[&str] = &[
    "Chat.ReadBasic.All",
    "ChatMember.ReadWrite.All",
    "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
];

/// The application RSC permissions of the bot's app definition in the
/// tenant's app catalog (the `authorization.permissions.resourceSpecific` of
/// the Teams manifest joinchat ships): what an install into a chat must
/// consent to, exactly.
pub const TEAMS_APP_RSC_PERMISSIONS: &[&str] = &["ChatMember.Read.Chat", "Chat.Manage.Chat"];

/// `GET /chats/{id}`: the table of <https://learn.microsoft.com/graph/api/chat-get>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/includes/permissions/chat-get-permissions.md>.
pub(crate) const GET_CHAT: &[&str] = &[
    "Chat.ReadBasic.WhereInstalled",
    "Chat.Manage.Chat",
    "Chat.Read.All",
    "Chat.ReadBasic.All",
    "Chat.ReadWrite.All",
    "ChatSettings.Read.Chat",
    "ChatSettings.ReadWrite.Chat",
];

/// `GET /chats/{id}/members`: <https://learn.microsoft.com/graph/api/chat-list-members>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/includes/permissions/chat-list-members-permissions.md>.
pub(crate) const LIST_MEMBERS: &[&str] = &[
    "ChatMember.Read.All",
    "Chat.Manage.Chat",
    "Chat.Read.All",
    "Chat.ReadBasic.All",
    "Chat.ReadWrite.All",
    "ChatMember.Read.Chat",
    "ChatMember.ReadWrite.All",
];

/// `POST /chats/{id}/members`: <https://learn.microsoft.com/graph/api/chat-post-members>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/includes/permissions/chat-post-members-permissions.md>.
pub(crate) const ADD_MEMBER: &[&str] = &[
    "Chat.Manage.Chat",
    "Chat.ReadWrite.All",
    "ChatMember.ReadWrite.All",
];

/// `POST /chats/{id}/installedApps`: the permissions table of
/// <https://learn.microsoft.com/graph/api/chat-post-installedapps>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/api/chat-post-installedapps.md>.
pub(crate) const INSTALL_APP: &[&str] = &[
    "TeamsAppInstallation.ReadWriteSelfForChat.All",
    "TeamsAppInstallation.ReadWriteForChat.All",
    "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
    "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
];

/// The install permissions that may consent to RSC. The same page's note 1:
/// the other two "cannot be used to install apps that require consent to
/// resource-specific permissions".
pub(crate) const INSTALL_WITH_CONSENT: &[&str] = &[
    "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
    "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
];

/// `POST /users/{id}/teamwork/installedApps`: the table of
/// <https://learn.microsoft.com/graph/api/userteamwork-post-installedapps>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/api/userteamwork-post-installedapps.md>.
/// Unlike the chat and team pages, it restricts none of them from apps that
/// declare resource-specific permissions.
pub(crate) const INSTALL_FOR_USER: &[&str] = &[
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "TeamsAppInstallation.ManageSelectedForUser.All",
    "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
    "TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All",
    "TeamsAppInstallation.ReadWriteForUser.All",
    "TeamsAppInstallation.ReadWriteSelectedForUser.All",
];

/// `GET /users/{id}/teamwork/installedApps`: the table of
/// <https://learn.microsoft.com/graph/api/userteamwork-list-installedapps>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/api/userteamwork-list-installedapps.md>.
pub(crate) const LIST_USER_APPS: &[&str] = &[
    "TeamsAppInstallation.ReadForUser.All",
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "TeamsAppInstallation.ManageSelectedForUser.All",
    "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
    "TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All",
    "TeamsAppInstallation.ReadWriteForUser.All",
    "TeamsAppInstallation.ReadWriteSelectedForUser.All",
];

/// `GET /users/{id}/teamwork/installedApps/{id}/chat`: the table of
/// <https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat>,
/// <https://github.com/microsoftgraph/microsoft-graph-docs-contrib/blob/main/api-reference/v1.0/api/userscopeteamsappinstallation-get-chat.md>
/// (`TeamsAppInstallation.Read.User` is resource-specific: the sandbox's app
/// is consented none in a user's scope).
pub(crate) const GET_USER_APP_CHAT: &[&str] = &[
    "TeamsAppInstallation.ReadForUser.All",
    "TeamsAppInstallation.Read.All",
    "TeamsAppInstallation.Read.User",
    "TeamsAppInstallation.ReadWriteForUser.All",
    "TeamsAppInstallation.ReadWriteSelectedForUser.All",
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
];

/// What the app holds in one chat: its token's roles, the RSC permissions
/// consented there, and whether it is installed there.
pub(crate) struct Grants<'a> {
    pub roles: &'a [String],
    pub rsc: &'a [String],
    pub installed: bool,
}

impl Grants<'_> {
    fn holds(&self, permission: &str) -> bool {
        let named = |list: &[String]| list.iter().any(|held| held == permission);
        if is_resource_specific(permission) {
            named(self.rsc)
        } else if permission.ends_with(".WhereInstalled") {
            self.installed && named(self.roles)
        } else {
            named(self.roles)
        }
    }

    /// `Ok` when any one of `accepted` is held; else Graph's 403.
    pub fn allow(&self, accepted: &[&str]) -> Result<(), HttpResponse> {
        if accepted.iter().any(|permission| self.holds(permission)) {
            return Ok(());
        }
        Err(missing_roles(accepted, self.roles))
    }
}

/// RSC permissions are scoped to a resource: `….Chat`, `….Group` for teams,
/// `….User` for a user's personal scope.
pub fn is_resource_specific(permission: &str) -> bool {
    permission.ends_with(".Chat") || permission.ends_with(".Group") || permission.ends_with(".User")
}

/// Graph's answer to a token without a role the API accepts (as seen in
/// microsoftgraph/microsoft-graph-docs-contrib#3379).
pub(crate) fn missing_roles(accepted: &[&str], roles: &[String]) -> HttpResponse {
    let message = format!(
        "Missing role permissions on the request. API requires one of '{}'. Roles on the request '{}'.",
        accepted.join(", "),
        roles.join(", ")
    );
    HttpResponse::build(StatusCode::FORBIDDEN).json(error_body("Forbidden", &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn any_one_accepted_permission_suffices() {
        let roles = owned(&["Chat.ReadWrite.All"]);
        let grants = Grants {
            roles: &roles,
            rsc: &[],
            installed: false,
        };
        assert!(grants.allow(GET_CHAT).is_ok());
        assert!(grants.allow(ADD_MEMBER).is_ok());
        assert!(grants.allow(INSTALL_APP).is_err());
    }

    #[test]
    fn rsc_counts_only_where_consented_and_where_installed_only_there() {
        let roles = owned(&["Chat.ReadBasic.WhereInstalled", "Chat.Manage.Chat"]);
        let elsewhere = Grants {
            roles: &roles,
            rsc: &[],
            installed: false,
        };
        assert!(
            elsewhere.allow(GET_CHAT).is_err(),
            "an RSC name in roles grants nothing"
        );
        let installed = Grants {
            roles: &roles,
            rsc: &[],
            installed: true,
        };
        assert!(installed.allow(GET_CHAT).is_ok());
        let rsc = owned(TEAMS_APP_RSC_PERMISSIONS);
        let consented = Grants {
            roles: &[],
            rsc: &rsc,
            installed: true,
        };
        assert!(consented.allow(ADD_MEMBER).is_ok());
    }

    #[test]
    fn the_default_set_serves_every_call_joinchat_makes() {
        let roles = owned(DEFAULT_GRAPH_PERMISSIONS);
        let grants = Grants {
            roles: &roles,
            rsc: &[],
            installed: false,
        };
        for endpoint in [
            GET_CHAT,
            LIST_MEMBERS,
            ADD_MEMBER,
            INSTALL_APP,
            INSTALL_FOR_USER,
            LIST_USER_APPS,
            GET_USER_APP_CHAT,
        ] {
            assert!(grants.allow(endpoint).is_ok());
        }
        assert!(grants.allow(INSTALL_WITH_CONSENT).is_ok());
    }
}
