//! What joinchat asks of a tenant, kept in one place: the Microsoft Graph
//! application permissions its app registration needs (each with the calls it
//! is for) and the resource-specific permissions (RSC) its Teams app declares
//! and consents to when it installs itself into a chat. The README's
//! permission table, the Teams manifest, the Graph client's install call and
//! `joinchat doctor` all follow these; a black-box test keeps the README, the
//! manifest and the simulated cloud's copies equal to them.
//!
//! Each permission was checked against the permission table of Microsoft's
//! reference page for each call (cited below): the least privileged
//! application permission that serves the call in *every* connected chat,
//! whether or not the bot is installed there (so not the `…WhereInstalled`
//! ones, and not RSC).

/// A Graph application permission and the calls joinchat makes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphPermission {
    pub name: &'static str,
    /// The Graph calls this permission is for, as `METHOD /path`.
    pub used_for: &'static [&'static str],
    /// Broader application permissions Microsoft documents for every one of
    /// those calls: holding one of them instead works too.
    pub or_broader: &'static [&'static str],
}

/// The application permissions the bot's app registration needs in Graph.
pub const GRAPH_APPLICATION_PERMISSIONS: &[GraphPermission] = &[
    // https://learn.microsoft.com/graph/api/chat-get: least
    // Chat.ReadBasic.WhereInstalled (only where the app is installed); higher
    // Chat.ReadBasic.All, Chat.Read.All, Chat.ReadWrite.All.
    GraphPermission {
        name: "Chat.ReadBasic.All",
        used_for: &["GET /chats/{id}"],
        or_broader: &["Chat.Read.All", "Chat.ReadWrite.All"],
    },
    // https://learn.microsoft.com/graph/api/chat-list-members (least
    // ChatMember.Read.All; higher ChatMember.ReadWrite.All, Chat.ReadWrite.All, …)
    // and https://learn.microsoft.com/graph/api/chat-post-members
    // (Chat.ReadWrite.All, ChatMember.ReadWrite.All, or the RSC Chat.Manage.Chat):
    // one permission for both calls.
    GraphPermission {
        name: "ChatMember.ReadWrite.All",
        used_for: &["GET /chats/{id}/members", "POST /chats/{id}/members"],
        or_broader: &["Chat.ReadWrite.All"],
    },
    // https://learn.microsoft.com/graph/api/chat-post-installedapps: only the
    // `…AndConsent…` permissions can install an app that requires RSC (note 1);
    // `Self` limits it to this app.
    GraphPermission {
        name: "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
        used_for: &["POST /chats/{id}/installedApps"],
        or_broader: &["TeamsAppInstallation.ReadWriteAndConsentForChat.All"],
    },
    // https://learn.microsoft.com/graph/api/userteamwork-post-installedapps
    // (least privileged), also accepted by
    // https://learn.microsoft.com/graph/api/userteamwork-list-installedapps and
    // https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat:
    // installing the app for a person who never talked to the bot, and finding
    // their 1:1 chat with it. `Self` limits it to this app.
    GraphPermission {
        name: "TeamsAppInstallation.ReadWriteSelfForUser.All",
        used_for: &[
            "POST /users/{id}/teamwork/installedApps",
            "GET /users/{id}/teamwork/installedApps",
            "GET /users/{id}/teamwork/installedApps/{id}/chat",
        ],
        or_broader: &[
            "TeamsAppInstallation.ReadWriteForUser.All",
            "TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All",
            "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
        ],
    },
];

/// The resource-specific permissions the Teams app declares for a chat
/// (`authorization.permissions.resourceSpecific` of the manifest `joinchat
/// package` writes, all of type Application), and so the `consentedPermissionSet` of an
/// install into a chat, which must match the app definition exactly. Where
/// the bot is installed they serve the member calls without the tenant-wide
/// permission (`ChatMember.Read.Chat` lists members, `Chat.Manage.Chat` also
/// adds them).
pub const RSC_PERMISSIONS: &[&str] = &["ChatMember.Read.Chat", "Chat.Manage.Chat"];

/// The names of [`GRAPH_APPLICATION_PERMISSIONS`].
pub fn graph_permission_names() -> impl Iterator<Item = &'static str> {
    GRAPH_APPLICATION_PERMISSIONS.iter().map(|p| p.name)
}

/// The required permissions that `roles` (a Graph token's `roles` claim)
/// covers neither by name nor by a broader permission.
pub fn missing_from(roles: &[String]) -> Vec<&'static GraphPermission> {
    let holds = |name: &str| roles.iter().any(|role| role == name);
    GRAPH_APPLICATION_PERMISSIONS
        .iter()
        .filter(|p| !holds(p.name) && !p.or_broader.iter().any(|b| holds(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn each_required_permission_is_covered_by_itself_or_a_broader_one() {
        let all: Vec<&str> = graph_permission_names().collect();
        assert!(missing_from(&roles(&all)).is_empty());
        let missing: Vec<&str> = missing_from(&roles(&["ChatMember.ReadWrite.All"]))
            .iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            missing,
            [
                "Chat.ReadBasic.All",
                "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
                "TeamsAppInstallation.ReadWriteSelfForUser.All",
            ]
        );
        let broad = roles(&[
            "Chat.ReadWrite.All",
            "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
            "TeamsAppInstallation.ReadWriteForUser.All",
        ]);
        assert!(missing_from(&broad).is_empty());
        assert_eq!(missing_from(&[]).len(), GRAPH_APPLICATION_PERMISSIONS.len());
    }

    #[test]
    fn rsc_permissions_are_chat_scoped_and_none_is_an_application_permission() {
        for rsc in RSC_PERMISSIONS {
            assert!(rsc.ends_with(".Chat"), "{rsc}");
            assert!(!graph_permission_names().any(|name| name == *rsc));
        }
    }
}
