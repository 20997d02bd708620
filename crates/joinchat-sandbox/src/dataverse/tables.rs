//! The Dataverse tables the simulation serves, built from the world and the
//! cloud's state, and the `$filter`/`$select`/`$expand`/`$top` shaping of their
//! rows. Who may read what is the caller's concern, not this module's.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::odata::{self, Query};
use crate::world::{Entity, Record, User};
use crate::Shared;

/// The ids of Dataverse's own rows: the organization, the bot's application
/// user, the roles, and one Join chat configuration per record type.
pub(crate) struct DataverseIds {
    pub organization_id: String,
    pub business_unit_id: String,
    pub app_user_id: String,
    pub admin_role_id: String,
    pub salesperson_role_id: String,
    /// The `sdkmessage` rows of `webhook::Message::ALL`, in that order.
    pub sdk_messages: Vec<String>,
    /// Per record type: (configuration row id, `entity` metadata row id).
    pub configurations: Vec<(Entity, String, String)>,
}

impl DataverseIds {
    pub fn generate() -> DataverseIds {
        let guid = || Uuid::new_v4().to_string();
        DataverseIds {
            organization_id: guid(),
            business_unit_id: guid(),
            app_user_id: guid(),
            admin_role_id: guid(),
            salesperson_role_id: guid(),
            sdk_messages: (0..3).map(|_| guid()).collect(),
            configurations: Entity::ALL.iter().map(|e| (*e, guid(), guid())).collect(),
        }
    }
}

const ADMIN_ROLE: &str = "System Administrator";
const SALESPERSON_ROLE: &str = "Salesperson";

/// One table's rows, before the query shapes them.
pub(super) struct Table {
    pub type_name: &'static str,
    pub primary_id: &'static str,
    pub columns: Vec<&'static str>,
    /// Columns answered even when `$select` leaves them out (besides the
    /// primary id, which Dataverse always returns).
    pub also_returned: &'static [&'static str],
    pub navigation: Option<&'static str>,
    pub rows: Vec<Row>,
}

pub(super) struct Row {
    pub fields: Map<String, Value>,
    pub navigation: Value,
}

impl Row {
    pub(super) fn new(fields: Value) -> Row {
        Row::with_navigation(fields, Value::Null)
    }

    pub(super) fn with_navigation(fields: Value, navigation: Value) -> Row {
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Row { fields, navigation }
    }
}

impl Table {
    pub fn query(&self, query: &Query) -> Result<Vec<Value>, String> {
        let mut shaped = Vec::new();
        for row in &self.rows {
            let keep = odata::matches(&row.fields, &query.filter, self.type_name)?;
            if keep {
                shaped.push(Value::Object(self.shape(row, query)?));
            }
        }
        if let Some(top) = query.top {
            shaped.truncate(top);
        }
        Ok(shaped)
    }

    /// The row with only the selected columns (the primary id always), its
    /// etag, and the expanded navigation property when asked for.
    pub fn shape(&self, row: &Row, query: &Query) -> Result<Map<String, Value>, String> {
        let mut shaped = Map::new();
        shaped.insert("@odata.etag".to_owned(), json!("W/\"1048576\""));
        let columns: Vec<&str> = match &query.select {
            Some(selected) => selected.iter().map(String::as_str).collect(),
            None => self.columns.clone(),
        };
        let always = std::iter::once(&self.primary_id).chain(self.also_returned);
        for column in columns.iter().chain(always) {
            if !self.columns.contains(column) {
                return Err(odata::unknown_property(column, self.type_name));
            }
            if let Some(value) = row.fields.get(*column) {
                shaped.insert((*column).to_owned(), value.clone());
            }
        }
        if let Some(expand) = &query.expand {
            if self.navigation != Some(expand.as_str()) {
                return Err(odata::unknown_property(expand, self.type_name));
            }
            shaped.insert(expand.clone(), row.navigation.clone());
        }
        Ok(shaped)
    }
}

pub(super) fn table(shared: &Shared, set: &str) -> Option<Table> {
    if let Some(entity) = Entity::from_entity_set(set) {
        return Some(record_table(shared, entity));
    }
    match set {
        "systemusers" => Some(system_users(shared)),
        "msdyn_teamschatassociations" => Some(chat_associations(shared)),
        "msdyn_entitylinkchatconfigurations" => Some(join_chat_configurations(shared)),
        "roles" => Some(roles(shared)),
        other => super::webhook::table(shared, other),
    }
}

fn record_table(shared: &Shared, entity: Entity) -> Table {
    let owner_id = |record: &Record| {
        shared
            .world
            .user(&record.owner)
            .map(|user| user.systemuser_id.clone())
    };
    let records = shared.lock().records.clone();
    let rows = records
        .iter()
        .filter(|record| record.entity == entity)
        .map(|record| {
            let mut fields = Map::new();
            fields.insert(entity.id_column().to_owned(), json!(record.id));
            fields.insert(entity.name_column().to_owned(), json!(record.name));
            fields.insert("_ownerid_value".to_owned(), json!(owner_id(record)));
            fields.insert("statecode".to_owned(), json!(0));
            Row::new(Value::Object(fields))
        })
        .collect();
    Table {
        type_name: entity.logical_name(),
        primary_id: entity.id_column(),
        columns: vec![
            entity.id_column(),
            entity.name_column(),
            "_ownerid_value",
            "statecode",
        ],
        also_returned: &[],
        navigation: None,
        rows,
    }
}

fn system_users(shared: &Shared) -> Table {
    let rows = shared
        .world
        .users()
        .iter()
        .map(|user| {
            Row::new(json!({
                "systemuserid": user.systemuser_id,
                "fullname": user.name,
                "azureactivedirectoryobjectid": user.aad_object_id,
                "isdisabled": user.disabled,
                "internalemailaddress": user.email,
                "domainname": user.email,
            }))
        })
        .collect();
    Table {
        type_name: "systemuser",
        primary_id: "systemuserid",
        columns: vec![
            "systemuserid",
            "fullname",
            "azureactivedirectoryobjectid",
            "isdisabled",
            "internalemailaddress",
            "domainname",
        ],
        also_returned: &[],
        navigation: None,
        rows,
    }
}

// The association table has no owner, so no record-level security: anyone who
// may read the table reads every row, with or without CallerObjectId.
fn chat_associations(shared: &Shared) -> Table {
    let mut rows = Vec::new();
    for chat in shared.world.chats() {
        for connection in &chat.connected_to {
            rows.push(Row::new(json!({
                "msdyn_teamschatassociationid": connection.association_id,
                "msdyn_teamschatassociationname": chat.topic,
                "msdyn_teamschatid": chat.id,
                "msdyn_regardingobjectid": connection.record_id,
                "msdyn_regardingobjectname": connection.entity.logical_name(),
                "msdyn_entityrecordstate": 0,
                "statecode": 0,
            })));
        }
    }
    Table {
        type_name: "msdyn_teamschatassociation",
        primary_id: "msdyn_teamschatassociationid",
        columns: vec![
            "msdyn_teamschatassociationid",
            "msdyn_teamschatassociationname",
            "msdyn_teamschatid",
            "msdyn_regardingobjectid",
            "msdyn_regardingobjectname",
            "msdyn_entityrecordstate",
            "statecode",
        ],
        // The agreed wire rows carry the association state with every select.
        also_returned: &["msdyn_entityrecordstate", "statecode"],
        navigation: None,
        rows,
    }
}

fn join_chat_configurations(shared: &Shared) -> Table {
    let enabled = shared.lock().join_chat.clone();
    let rows = shared
        .dataverse_ids
        .configurations
        .iter()
        .map(|(entity, id, entity_metadata_id)| {
            let name = entity.logical_name();
            Row::with_navigation(
                json!({
                    "msdyn_entitylinkchatconfigurationid": id,
                    "msdyn_uniquename": format!("msdyn_{name}_chatconfig"),
                    "msdyn_name": format!("{name} chat configuration"),
                    "msdyn_usercanjoinchat": enabled.contains(entity),
                    "_msdyn_entitytype_value": entity_metadata_id,
                    "statecode": 0,
                }),
                json!({"entityid": entity_metadata_id, "logicalname": name}),
            )
        })
        .collect();
    Table {
        type_name: "msdyn_entitylinkchatconfiguration",
        primary_id: "msdyn_entitylinkchatconfigurationid",
        columns: vec![
            "msdyn_entitylinkchatconfigurationid",
            "msdyn_uniquename",
            "msdyn_name",
            "msdyn_usercanjoinchat",
            "_msdyn_entitytype_value",
            "statecode",
        ],
        also_returned: &[],
        navigation: Some("msdyn_entitytype"),
        rows,
    }
}

fn role_row(id: &str, name: &str, holders: Vec<&User>) -> Row {
    let holders: Vec<Value> = holders
        .into_iter()
        .map(|user| {
            json!({
                "systemuserid": user.systemuser_id,
                "fullname": user.name,
                "azureactivedirectoryobjectid": user.aad_object_id,
            })
        })
        .collect();
    Row::with_navigation(json!({"roleid": id, "name": name}), json!(holders))
}

// Admins hold System Administrator; everyone else is a Salesperson.
fn roles(shared: &Shared) -> Table {
    let ids = &shared.dataverse_ids;
    let users = shared.world.users();
    let admins = users.iter().filter(|user| user.admin).collect();
    let salespeople = users.iter().filter(|user| !user.admin).collect();
    Table {
        type_name: "role",
        primary_id: "roleid",
        columns: vec!["roleid", "name"],
        also_returned: &[],
        navigation: Some("systemuserroles_association"),
        rows: vec![
            role_row(&ids.admin_role_id, ADMIN_ROLE, admins),
            role_row(&ids.salesperson_role_id, SALESPERSON_ROLE, salespeople),
        ],
    }
}

pub(super) fn user_roles(shared: &Shared, user: &User) -> Table {
    let mut table = roles(shared);
    let admin_role = shared.dataverse_ids.admin_role_id.as_str();
    table.rows.retain(|row| {
        let is_admin_role = row.fields.get("roleid").and_then(Value::as_str) == Some(admin_role);
        is_admin_role == user.admin
    });
    table.navigation = None;
    table
}
