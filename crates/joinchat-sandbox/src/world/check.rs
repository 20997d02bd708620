//! The world file as written, and the checks that turn it into a `World`:
//! every reference names something that exists, every id has its real format,
//! and what the file leaves out is generated. Errors name the line.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use uuid::Uuid;

use super::*;
use crate::permissions::{is_resource_specific, DEFAULT_GRAPH_PERMISSIONS};

pub(super) fn parse(text: &str, file_name: &str) -> Result<World, WorldError> {
    let file: WorldFile = toml::from_str(text).map_err(|error| WorldError {
        file: file_name.to_owned(),
        line: error.span().map(|span| line_of(text, span.start)),
        // Some syntax errors (an unclosed string at the end) come without one.
        message: Some(error.message().trim())
            .filter(|message| !message.is_empty())
            .unwrap_or("not valid TOML")
            .to_owned(),
    })?;
    Checker { text, file_name }.check(file)
}

// The file as written. `Spanned` keeps where each checked value sits, so a
// problem found after parsing can still name its line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    tenant_id: Option<Spanned<String>>,
    #[serde(default)]
    join_chat: Vec<Spanned<String>>,
    #[serde(default)]
    users: Vec<Spanned<UserEntry>>,
    #[serde(default)]
    records: Vec<Spanned<RecordEntry>>,
    #[serde(default)]
    chats: Vec<Spanned<ChatEntry>>,
    app: Option<AppEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    graph_permissions: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    key: Spanned<String>,
    name: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordEntry {
    entity: Spanned<String>,
    id: Option<Spanned<String>>,
    name: Spanned<String>,
    owner: Spanned<String>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    #[serde(default)]
    read: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatEntry {
    id: Option<Spanned<String>>,
    topic: String,
    #[serde(default)]
    members: Vec<Spanned<String>>,
    #[serde(default)]
    connected_to: Vec<Spanned<String>>,
    #[serde(default)]
    messages: Vec<MessageEntry>,
    bot_installed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageEntry {
    from: Spanned<String>,
    text: String,
}

struct Checker<'a> {
    text: &'a str,
    file_name: &'a str,
}

impl Checker<'_> {
    fn check(&self, file: WorldFile) -> Result<World, WorldError> {
        let tenant_id = match &file.tenant_id {
            Some(raw) => self.tenant(raw)?,
            None => new_guid(),
        };
        let join_chat = self.join_chat(&file.join_chat)?;
        let users = self.users(&file.users)?;
        let user_keys: Vec<&str> = users.iter().map(|user| user.key.as_str()).collect();
        let records = self.records(&file.records, &user_keys)?;
        let chats = self.chats(&file.chats, &user_keys, &records)?;
        let app = self.app(file.app.as_ref())?;
        Ok(World {
            tenant_id,
            join_chat,
            users,
            records,
            chats,
            app,
        })
    }

    /// `[app]`: absent permissions are the set joinchat documents. Each one is
    /// an application permission's name; RSC permissions are refused here,
    /// since they are consented per chat, by installing the app there.
    fn app(&self, raw: Option<&AppEntry>) -> Result<AppRegistration, WorldError> {
        let Some(listed) = raw.and_then(|app| app.graph_permissions.as_ref()) else {
            return Ok(AppRegistration {
                graph_permissions: DEFAULT_GRAPH_PERMISSIONS
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect(),
            });
        };
        let mut graph_permissions: Vec<String> = Vec::new();
        for (index, entry) in listed.iter().enumerate() {
            let at = format!("app.graph_permissions[{index}]");
            let name = entry.get_ref().trim();
            let well_formed = name.split('.').count() >= 2
                && name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric())
                });
            if !well_formed {
                return Err(self.error(
                    entry,
                    format!(
                        "{at}: {name:?} is not a permission name (like \"Chat.ReadBasic.All\")"
                    ),
                ));
            }
            if is_resource_specific(name) {
                return Err(self.error(
                    entry,
                    format!("{at}: {name:?} is a resource-specific permission, consented per chat when the app is installed there, not an application permission"),
                ));
            }
            if graph_permissions.iter().any(|held| held == name) {
                return Err(self.error(entry, format!("{at}: {name:?} is listed twice")));
            }
            graph_permissions.push(name.to_owned());
        }
        Ok(AppRegistration { graph_permissions })
    }

    /// A tenant id: a GUID (normalised), or any other plain word a test world
    /// uses (a domain, a placeholder) — it only has to fit in a URL path.
    fn tenant(&self, raw: &Spanned<String>) -> Result<String, WorldError> {
        if let Ok(guid) = self.guid(raw, "tenant_id") {
            return Ok(guid);
        }
        let tenant = raw.get_ref().trim();
        let plain = !tenant.is_empty()
            && tenant.len() <= 128
            && !tenant
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#%\\".contains(c));
        if !plain {
            return Err(self.error(
                raw,
                format!(
                    "tenant_id: {:?} is not a tenant id (a GUID, or a domain like contoso.test)",
                    raw.get_ref()
                ),
            ));
        }
        Ok(tenant.to_owned())
    }

    fn join_chat(&self, raw: &[Spanned<String>]) -> Result<BTreeSet<Entity>, WorldError> {
        let mut enabled = BTreeSet::new();
        for (index, name) in raw.iter().enumerate() {
            let entity = self.entity(name, &format!("join_chat[{index}]"))?;
            enabled.insert(entity);
        }
        Ok(enabled)
    }

    fn users(&self, raw: &[Spanned<UserEntry>]) -> Result<Vec<User>, WorldError> {
        let mut users: Vec<User> = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            let entry = entry.get_ref();
            let key = entry.key.get_ref();
            if !plausible_key(key) {
                return Err(self.error(
                    &entry.key,
                    format!("users[{index}].key: {key:?} is not a valid key (use letters, digits, '-', '_', '.')"),
                ));
            }
            if users.iter().any(|user| &user.key == key) {
                return Err(self.error(
                    &entry.key,
                    format!("users[{index}].key: duplicate user {key:?}"),
                ));
            }
            let mut user = new_user(key, &entry.name, entry.email.clone(), entry.admin);
            user.disabled = entry.disabled;
            users.push(user);
        }
        Ok(users)
    }

    fn records(
        &self,
        raw: &[Spanned<RecordEntry>],
        user_keys: &[&str],
    ) -> Result<Vec<Record>, WorldError> {
        let mut records: Vec<Record> = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            let entry = entry.get_ref();
            let at = format!("records[{index}]");
            let entity = self.entity(&entry.entity, &format!("{at}.entity"))?;
            let id = match &entry.id {
                Some(raw_id) => self.guid(raw_id, &format!("{at}.id"))?,
                None => new_guid(),
            };
            if let Some(other) = records.iter().position(|record| record.id == id) {
                let span = entry.id.as_ref().map_or(&entry.name, |id| id);
                return Err(self.error(
                    span,
                    format!("{at}.id: duplicate record id {id} (also records[{other}])"),
                ));
            }
            let name = entry.name.get_ref();
            let same_name = records
                .iter()
                .position(|record| record.entity == entity && record.name == *name);
            if let Some(other) = same_name {
                return Err(self.error(
                    &entry.name,
                    format!(
                        "{at}.name: duplicate {} {name:?} (also records[{other}])",
                        entity.logical_name()
                    ),
                ));
            }
            let owner = self.user_key(&entry.owner, user_keys, &format!("{at}.owner"))?;
            let write = self.user_list(&entry.write, user_keys, &format!("{at}.write"))?;
            let read = self.user_list(&entry.read, user_keys, &format!("{at}.read"))?;
            records.push(Record {
                entity,
                id,
                name: name.clone(),
                owner,
                write,
                read,
            });
        }
        Ok(records)
    }

    fn chats(
        &self,
        raw: &[Spanned<ChatEntry>],
        user_keys: &[&str],
        records: &[Record],
    ) -> Result<Vec<Chat>, WorldError> {
        let mut chats: Vec<Chat> = Vec::new();
        for (index, spanned) in raw.iter().enumerate() {
            let entry = spanned.get_ref();
            let at = format!("chats[{index}]");
            let id = match &entry.id {
                Some(raw_id) => self.chat_id(raw_id, &format!("{at}.id"))?,
                None => format!("19:{}@thread.v2", Uuid::new_v4().simple()),
            };
            if let Some(other) = chats.iter().position(|chat| chat.id == id) {
                let span = entry.id.as_ref().map_or(spanned.span(), |id| id.span());
                return Err(self.error_at(
                    span,
                    format!("{at}.id: duplicate chat id {id:?} (also chats[{other}])"),
                ));
            }
            let members = self.user_list(&entry.members, user_keys, &format!("{at}.members"))?;
            let mut connected_to: Vec<Connection> = Vec::new();
            for (position, reference) in entry.connected_to.iter().enumerate() {
                let place = format!("{at}.connected_to[{position}]");
                let record = self.record_ref(reference, records, &place)?;
                if connected_to.iter().any(|c| c.record_id == record.id) {
                    return Err(self.error(
                        reference,
                        format!("{place}: {:?} is listed twice", reference.get_ref()),
                    ));
                }
                connected_to.push(Connection {
                    association_id: new_guid(),
                    entity: record.entity,
                    record_id: record.id.clone(),
                });
            }
            let mut messages = Vec::new();
            for (position, message) in entry.messages.iter().enumerate() {
                let place = format!("{at}.messages[{position}].from");
                let from = self.user_key(&message.from, user_keys, &place)?;
                messages.push(WorldMessage {
                    from,
                    text: message.text.clone(),
                });
            }
            chats.push(Chat {
                id,
                topic: entry.topic.clone(),
                members,
                connected_to,
                messages,
                bot_installed: entry.bot_installed.unwrap_or(true),
            });
        }
        Ok(chats)
    }

    fn entity(&self, raw: &Spanned<String>, at: &str) -> Result<Entity, WorldError> {
        self.entity_named(raw.get_ref(), raw, at)
    }

    /// The record type `name`, which sits at `span` in the file.
    fn entity_named<T>(
        &self,
        name: &str,
        span: &Spanned<T>,
        at: &str,
    ) -> Result<Entity, WorldError> {
        Entity::parse(name).ok_or_else(|| {
            let supported: Vec<&str> = Entity::ALL.iter().map(|e| e.logical_name()).collect();
            self.error(
                span,
                format!(
                    "{at}: unsupported record type {name:?} (supported: {})",
                    supported.join(", ")
                ),
            )
        })
    }

    fn guid(&self, raw: &Spanned<String>, at: &str) -> Result<String, WorldError> {
        Uuid::parse_str(raw.get_ref())
            .map(|guid| guid.hyphenated().to_string())
            .map_err(|_| self.error(raw, format!("{at}: {:?} is not a GUID", raw.get_ref())))
    }

    fn chat_id(&self, raw: &Spanned<String>, at: &str) -> Result<String, WorldError> {
        let id = raw.get_ref();
        let plausible = id.starts_with("19:")
            && id.len() > 3
            && id.len() <= 256
            && !id.contains(['/', '?', '#', '%', ' ']);
        if !plausible {
            return Err(self.error(
                raw,
                format!("{at}: {id:?} is not a Teams chat id (like \"19:…@thread.v2\")"),
            ));
        }
        Ok(id.clone())
    }

    fn user_key(
        &self,
        raw: &Spanned<String>,
        user_keys: &[&str],
        at: &str,
    ) -> Result<String, WorldError> {
        let key = raw.get_ref();
        if user_keys.contains(&key.as_str()) {
            return Ok(key.clone());
        }
        Err(self.error(
            raw,
            format!(
                "{at}: no user {key:?} (users: {})",
                quoted_list(user_keys.iter().copied())
            ),
        ))
    }

    fn user_list(
        &self,
        raw: &[Spanned<String>],
        user_keys: &[&str],
        at: &str,
    ) -> Result<Vec<String>, WorldError> {
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            let key = self.user_key(entry, user_keys, &format!("{at}[{index}]"))?;
            if !seen.insert(key.clone()) {
                return Err(self.error(entry, format!("{at}[{index}]: {key:?} is listed twice")));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    fn record_ref<'r>(
        &self,
        raw: &Spanned<String>,
        records: &'r [Record],
        at: &str,
    ) -> Result<&'r Record, WorldError> {
        let text = raw.get_ref();
        let Some((entity_name, wanted)) = text.split_once(':') else {
            return Err(self.error(
                raw,
                format!("{at}: expected \"<record type>:<record name or id>\", got {text:?}"),
            ));
        };
        let entity = self.entity_named(entity_name.trim(), raw, at)?;
        let wanted = wanted.trim();
        let of_type: Vec<&Record> = records
            .iter()
            .filter(|record| record.entity == entity)
            .collect();
        let found = of_type
            .iter()
            .find(|record| record.name == wanted || record.id.eq_ignore_ascii_case(wanted))
            .or_else(|| {
                of_type
                    .iter()
                    .find(|record| record.name.eq_ignore_ascii_case(wanted))
            });
        found.copied().ok_or_else(|| {
            let names = quoted_list(of_type.iter().map(|record| record.name.as_str()));
            let entity_name = entity.logical_name();
            self.error(
                raw,
                format!("{at}: no record \"{entity_name}:{wanted}\" (records of type {entity_name}: {names})"),
            )
        })
    }

    fn error<T>(&self, spanned: &Spanned<T>, message: String) -> WorldError {
        self.error_at(spanned.span(), message)
    }

    fn error_at(&self, span: Range<usize>, message: String) -> WorldError {
        WorldError {
            file: self.file_name.to_owned(),
            line: Some(line_of(self.text, span.start)),
            message,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `"a", "b", "c", …` — at most five names, so an error stays one readable line.
fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|name| format!("{name:?}"))
        .collect();
    if names.len() > 5 {
        shown.push("…".to_owned());
    }
    shown.join(", ")
}

fn plausible_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
