//! The world file: the people, records and chats the simulated cloud starts with.
//!
//! Parsing turns the TOML of DESIGN's world-file contract into a checked `World`:
//! every reference names something that exists, every id has its real format, and
//! the values the file leaves out (tenant, record and chat ids, Entra object ids,
//! Teams user ids) are generated. A bad file is refused with the line and the
//! problem (`check`). This module holds no mutable state and does no I/O.

mod check;

use std::collections::BTreeSet;

use rand::RngCore;
use uuid::Uuid;

/// The record types that can have connected chats, as Dataverse names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Lead,
    Opportunity,
    Account,
    Contact,
    Incident,
}

impl Entity {
    pub const ALL: [Entity; 5] = [
        Entity::Lead,
        Entity::Opportunity,
        Entity::Account,
        Entity::Contact,
        Entity::Incident,
    ];

    pub fn parse(logical_name: &str) -> Option<Entity> {
        Entity::ALL
            .into_iter()
            .find(|entity| entity.logical_name() == logical_name)
    }

    pub fn from_entity_set(entity_set: &str) -> Option<Entity> {
        Entity::ALL
            .into_iter()
            .find(|entity| entity.entity_set() == entity_set)
    }

    pub fn logical_name(self) -> &'static str {
        match self {
            Entity::Lead => "lead",
            Entity::Opportunity => "opportunity",
            Entity::Account => "account",
            Entity::Contact => "contact",
            Entity::Incident => "incident",
        }
    }

    pub fn entity_set(self) -> &'static str {
        match self {
            Entity::Lead => "leads",
            Entity::Opportunity => "opportunities",
            Entity::Account => "accounts",
            Entity::Contact => "contacts",
            Entity::Incident => "incidents",
        }
    }

    pub fn id_column(self) -> &'static str {
        match self {
            Entity::Lead => "leadid",
            Entity::Opportunity => "opportunityid",
            Entity::Account => "accountid",
            Entity::Contact => "contactid",
            Entity::Incident => "incidentid",
        }
    }

    pub fn name_column(self) -> &'static str {
        match self {
            Entity::Lead | Entity::Contact => "fullname",
            Entity::Opportunity | Entity::Account => "name",
            Entity::Incident => "title",
        }
    }
}

/// How much of a record a user may touch, as the world grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
}

/// A parsed and checked world.
#[derive(Debug, Clone)]
pub struct World {
    tenant_id: String,
    join_chat: BTreeSet<Entity>,
    users: Vec<User>,
    records: Vec<Record>,
    chats: Vec<Chat>,
    app: AppRegistration,
}

/// The bot's app registration in this tenant (`[app]`).
#[derive(Debug, Clone)]
pub struct AppRegistration {
    /// The Graph application permissions admin-consented to the app: the
    /// `roles` of its Graph tokens.
    pub graph_permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub key: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    /// The Dataverse systemuser is disabled (`isdisabled`): signs in to Teams,
    /// but Dynamics 365 refuses them.
    pub disabled: bool,
    /// The Entra object id (`aadObjectId` in activities, `userId` in Graph).
    pub aad_object_id: String,
    /// The Teams user id (`29:…`), `from.id` in activities.
    pub mri: String,
    /// The Dataverse `systemuserid`.
    pub systemuser_id: String,
    /// The user's 1:1 conversation with the bot (`a:…`).
    pub conversation_id: String,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub entity: Entity,
    pub id: String,
    pub name: String,
    pub owner: String,
    pub write: Vec<String>,
    pub read: Vec<String>,
}

impl Record {
    pub fn access(&self, user_key: &str) -> Access {
        let named = |list: &[String]| list.iter().any(|key| key == user_key);
        if self.owner == user_key || named(&self.write) {
            Access::Write
        } else if named(&self.read) {
            Access::Read
        } else {
            Access::None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub topic: String,
    pub members: Vec<String>,
    /// Empty for an ordinary Teams chat, connected to no record.
    pub connected_to: Vec<Connection>,
    pub messages: Vec<WorldMessage>,
    pub bot_installed: bool,
}

/// One `msdyn_teamschatassociation` row: a chat connected to a record.
#[derive(Debug, Clone)]
pub struct Connection {
    pub association_id: String,
    pub entity: Entity,
    pub record_id: String,
}

#[derive(Debug, Clone)]
pub struct WorldMessage {
    pub from: String,
    pub text: String,
}

/// A world file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}: {message}", line.map(|line| line.to_string()).unwrap_or_else(|| "?".to_owned()))]
pub struct WorldError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

const DEMO: &str = include_str!("demo.toml");

impl World {
    pub fn parse(text: &str, file_name: &str) -> Result<World, WorldError> {
        check::parse(text, file_name)
    }

    /// The built-in Contoso sales team (`src/sandbox/demo.toml`).
    pub fn demo() -> World {
        match World::parse(DEMO, "demo.toml") {
            Ok(world) => world,
            Err(error) => panic!("the built-in demo world is invalid: {error}"),
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn join_chat(&self) -> &BTreeSet<Entity> {
        &self.join_chat
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn chats(&self) -> &[Chat] {
        &self.chats
    }

    pub fn app(&self) -> &AppRegistration {
        &self.app
    }

    pub fn user(&self, key: &str) -> Option<&User> {
        self.users.iter().find(|user| user.key == key)
    }

    pub fn record(&self, entity: Entity, id: &str) -> Option<&Record> {
        self.records
            .iter()
            .find(|record| record.entity == entity && record.id.eq_ignore_ascii_case(id))
    }
}

// The values a world file may leave out, generated in their real formats.

fn new_user(key: &str, name: &str, email: Option<String>, admin: bool) -> User {
    User {
        key: key.to_owned(),
        name: name.to_owned(),
        email: email.unwrap_or_else(|| format!("{key}@sandbox.test")),
        admin,
        disabled: false,
        aad_object_id: new_guid(),
        mri: format!("29:1{}", opaque(30)),
        systemuser_id: new_guid(),
        conversation_id: format!("a:1{}", opaque(40)),
    }
}

fn new_guid() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// A random opaque id part (base64url alphabet), like the tails of Teams ids.
fn opaque(length: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = vec![0u8; length];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect()
}
