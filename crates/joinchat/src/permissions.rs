//! What joinchat asks of a tenant, kept in one place: the Microsoft Graph
//! application permissions its app registration needs (each with the calls it
//! is for) and the resource-specific permissions (RSC) its Teams app declares
//! and consents to when it installs itself into a chat. The README's
//! permission table, `joinchat package` and `joinchat doctor` all read these.

/// A Graph application permission and the calls joinchat makes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphPermission {
    pub name: &'static str,
    /// The Graph calls this permission is for, as `METHOD /path`.
    pub used_for: &'static [&'static str],
}

/// The application permissions the bot's app registration needs in Graph,
/// each the least privileged one Microsoft documents for those calls.
pub const GRAPH_APPLICATION_PERMISSIONS: &[GraphPermission] = &[
    GraphPermission {
        name: "Chat.ReadBasic.All",
        used_for: &["GET /chats/{id}"],
    },
    GraphPermission {
        name: "ChatMember.ReadWrite.All",
        used_for: &["GET /chats/{id}/members", "POST /chats/{id}/members"],
    },
    GraphPermission {
        name: "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
        used_for: &["POST /chats/{id}/installedApps"],
    },
];

/// The resource-specific permissions the Teams app declares for a chat, and
/// so the `consentedPermissionSet` of an install into a chat.
pub const RSC_PERMISSIONS: &[&str] = &["ChatMember.Read.Chat", "ChatMessage.Read.Chat"];

/// The names of [`GRAPH_APPLICATION_PERMISSIONS`].
pub fn graph_permission_names() -> impl Iterator<Item = &'static str> {
    GRAPH_APPLICATION_PERMISSIONS.iter().map(|p| p.name)
}
