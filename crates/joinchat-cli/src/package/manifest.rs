//! The Teams app manifest of joinchat, built in code: the schema version it
//! declares, the bot's scopes and commands, and the resource-specific
//! permissions read from `joinchat::permissions` (never copied here).

use serde_json::{json, Value};

/// The manifest schema version declared (the newest numbered one Microsoft
/// publishes; CI validates against that exact schema).
pub const MANIFEST_VERSION: &str = "1.30";

/// Commands offered in a 1:1 chat with the bot: (title, description). Each
/// title is a command the bot understands as typed (tested); picking one in
/// Teams puts the title in the compose box, for the person to complete.
const PERSONAL_COMMANDS: &[(&str, &str)] = &[
    (
        "join chat for lead",
        "Add a lead's name or id: its connected chats, with Join where you may",
    ),
    (
        "join chat for opportunity",
        "Add an opportunity's name or id: its connected chats, with Join where you may",
    ),
    (
        "chats for account",
        "Add an account's name or id: the chats connected to it",
    ),
    (
        "join chat settings",
        "Which record types have Join chat on (admins can switch it)",
    ),
    (
        "enable join chat for lead",
        "Admins: let sellers with write access join the chats connected to leads",
    ),
    ("help", "What I can do"),
];

/// Commands offered when the bot is @mentioned in a group chat.
const GROUP_CHAT_COMMANDS: &[(&str, &str)] = &[
    (
        "join chat for lead",
        "Add a lead's name or id: each of you sees the connected chats for them",
    ),
    (
        "chats for opportunity",
        "Add an opportunity's name or id: the chats connected to it",
    ),
    ("help", "What I can do"),
];

/// Who publishes the app, as shown in Teams' app details.
pub struct Developer {
    pub name: String,
    pub website_url: String,
    pub privacy_url: String,
    pub terms_url: String,
}

/// The ids a manifest is made of; both already checked to be GUIDs.
pub struct Ids {
    /// The Teams app's id (the manifest `id`).
    pub teams_app: String,
    /// The bot's Entra application (client) id.
    pub bot_app: String,
}

pub fn manifest(ids: &Ids, developer: &Developer) -> Value {
    let commands = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(title, description)| json!({ "title": title, "description": description }))
            .collect()
    };
    let rsc: Vec<Value> = joinchat::permissions::RSC_PERMISSIONS
        .iter()
        .map(|name| json!({ "name": name, "type": "Application" }))
        .collect();
    json!({
        "$schema": format!(
            "https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
        ),
        "manifestVersion": MANIFEST_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "id": ids.teams_app,
        "developer": {
            "name": developer.name,
            "websiteUrl": developer.website_url,
            "privacyUrl": developer.privacy_url,
            "termsOfUseUrl": developer.terms_url,
        },
        "name": {
            "short": "Join chat",
            "full": "Join the Teams chats connected to Dynamics 365 records",
        },
        "description": {
            "short": "Join the Teams chats connected to your Dynamics 365 records.",
            "full": "Shows the Teams chats connected to a Dynamics 365 Sales record and lets \
                     sellers with write access join them, with the entire chat history, when \
                     the admin has turned on Join chat for that record type. A locked chat says \
                     why and offers a way forward: ask a member to add you, or ask your admin.",
        },
        "icons": { "color": "color.png", "outline": "outline.png" },
        "accentColor": super::icons::ACCENT_HEX,
        "bots": [{
            "botId": ids.bot_app,
            "scopes": ["personal", "groupChat"],
            "supportsFiles": false,
            "isNotificationOnly": false,
            "commandLists": [
                { "scopes": ["personal"], "commands": commands(PERSONAL_COMMANDS) },
                { "scopes": ["groupChat"], "commands": commands(GROUP_CHAT_COMMANDS) },
            ],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [],
        // Resource-specific consent needs the app's Entra id here; the
        // resource is not used for RSC (no SSO) but must be a value.
        "webApplicationInfo": {
            "id": ids.bot_app,
            "resource": format!("api://botid-{}", ids.bot_app),
        },
        "authorization": { "permissions": { "resourceSpecific": rsc } },
    })
}

/// `value` as a GUID in the manifest's form (8-4-4-4-12 hex digits), lower
/// case; otherwise an error naming the flag.
pub fn guid(flag: &str, value: &str, meaning: &str) -> anyhow::Result<String> {
    let trimmed = value.trim();
    let well_formed = trimmed.len() == 36
        && trimmed.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if !well_formed {
        anyhow::bail!(
            "{flag} must be a GUID like 6f1c2d3e-4a5b-4c6d-8e7f-901234567890 ({meaning}), not {value:?}"
        );
    }
    Ok(trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_checked_and_lower_cased() {
        let ok = guid("--app-id", " 6F1C2D3E-4A5B-4C6D-8E7F-901234567890", "x").unwrap();
        assert_eq!(ok, "6f1c2d3e-4a5b-4c6d-8e7f-901234567890");
        for bad in [
            "",
            "app",
            "{6f1c2d3e-4a5b-4c6d-8e7f-901234567890}",
            "6f1c2d3e4a5b4c6d8e7f901234567890",
            "6f1c2d3e-4a5b-4c6d-8e7f-90123456789g",
        ] {
            let error = guid("--app-id", bad, "the bot's id")
                .unwrap_err()
                .to_string();
            assert!(error.contains("--app-id must be a GUID"), "{error}");
        }
    }

    #[test]
    fn every_command_title_is_a_command_the_bot_understands() {
        for (title, _) in PERSONAL_COMMANDS.iter().chain(GROUP_CHAT_COMMANDS) {
            let parsed = joinchat::commands::parse(title);
            assert_ne!(parsed, joinchat::commands::Command::Unknown, "{title}");
        }
    }
}
