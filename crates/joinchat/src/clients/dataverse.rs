//! The Dataverse Web API client (`{org}/api/data/v9.2/`), with an
//! application token for `{org}/.default`. The only module that knows
//! Dataverse's tables and entity sets; its OData syntax is in `odata`.
//!
//! Reads that must respect the seller's own record security (finding records
//! by name) impersonate the seller with `CallerObjectId`; access rights come
//! from `RetrievePrincipalAccess`.
//!
//! A 403 on the application's own read is a setup problem (its application
//! user lacks a privilege): logged with Dataverse's message and counted
//! (`joinchat_setup_refusals_total`). Impersonating, a 403 only means the
//! seller may not read it.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use url::Url;

mod app_user;
mod odata;
mod registration;
mod users;
pub mod webhook;

pub use app_user::{WhoAmI, TABLES_READ};
use odata::encode;
pub use odata::like_literal;
pub use registration::{WebhookEndpoint, WebhookStep};
pub use users::UserIdentity;

use crate::{
    auth::TokenSource,
    clients::retry::{self, CallError},
    domain::{AadObjectId, ChatId, EntityType, RecordId, RecordRef},
};

#[derive(Debug, thiserror::Error)]
pub enum DataverseError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("Dataverse answered {0}")]
    Status(u16),
    /// 403 to the application itself: its application user lacks a privilege.
    #[error("Dataverse refused the application user: {0}")]
    Forbidden(String),
    #[error("Dataverse answered a document of an unexpected shape")]
    Shape,
}

pub type DataverseResult<T> = Result<T, DataverseError>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct SystemUser {
    pub id: String,
    pub name: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: RecordId,
    pub name: String,
}

/// What `RetrievePrincipalAccess` says a user may do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// One record type's row of `msdyn_entitylinkchatconfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinChatSetting {
    pub entity: EntityType,
    pub row_id: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHolder {
    pub aad: Option<String>,
    pub name: String,
}

#[derive(Clone)]
pub struct DataverseClient {
    http: reqwest::Client,
    tokens: TokenSource,
    api: String,
    scope: String,
    /// `joinchat_setup_refusals_total`, when the app counts them.
    refusals: Option<prometheus::IntCounterVec>,
}

/// At most this many records come back from one name search.
pub const SEARCH_PAGE: usize = 50;

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

impl DataverseClient {
    pub fn new(http: reqwest::Client, tokens: TokenSource, org_url: &Url) -> DataverseClient {
        let org = org_url.as_str().trim_end_matches('/');
        DataverseClient {
            http,
            tokens,
            api: format!("{org}/api/data/v9.2/"),
            scope: format!("{org}/.default"),
            refusals: None,
        }
    }

    /// Counts every refusal of the application user in `counter`.
    pub fn counting_refusals(mut self, counter: prometheus::IntCounterVec) -> DataverseClient {
        self.refusals = Some(counter);
        self
    }

    /// The scope of the organisation's token (`{org}/.default`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The seller's `systemuser`, from their Entra object id.
    pub async fn user_by_aad(
        &self,
        aad: &AadObjectId,
        deadline: Instant,
    ) -> DataverseResult<Option<SystemUser>> {
        #[derive(Deserialize)]
        struct Row {
            systemuserid: String,
            #[serde(default)]
            fullname: Option<String>,
            #[serde(default)]
            isdisabled: Option<bool>,
        }
        let path = format!(
            "systemusers?$select=systemuserid,fullname,azureactivedirectoryobjectid,isdisabled&$filter={}",
            encode(&format!("azureactivedirectoryobjectid eq {}", aad.as_str()))
        );
        let rows: Collection<Row> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Shape)?;
        Ok(rows.value.into_iter().next().map(|row| SystemUser {
            id: row.systemuserid,
            name: row.fullname.unwrap_or_default(),
            disabled: row.isdisabled.unwrap_or(false),
        }))
    }

    /// One record by id, as the application (callers check access first).
    pub async fn record(
        &self,
        record: &RecordRef,
        deadline: Instant,
    ) -> DataverseResult<Option<RecordRow>> {
        let table = Table::of(record.entity);
        let path = format!(
            "{}({})?$select={},{}",
            table.set,
            record.id.as_str(),
            table.id,
            table.name
        );
        let row: Option<Value> = self.get(&path, None, deadline).await?;
        Ok(row.and_then(|row| table.row(&row)))
    }

    /// Up to [`SEARCH_PAGE`] records of a type whose name contains `text`
    /// literally (ignoring case) that the seller can read: the query runs as
    /// the seller.
    pub async fn find_records(
        &self,
        entity: EntityType,
        text: &str,
        as_user: &AadObjectId,
        deadline: Instant,
    ) -> DataverseResult<Vec<RecordRow>> {
        let table = Table::of(entity);
        let filter = odata::contains(table.name, text);
        self.records_where(&table, &filter, as_user, deadline).await
    }

    /// Records of a type named exactly `name` (ignoring case) that the seller
    /// can read: what a search finds first, however many names contain it.
    pub async fn records_named(
        &self,
        entity: EntityType,
        name: &str,
        as_user: &AadObjectId,
        deadline: Instant,
    ) -> DataverseResult<Vec<RecordRow>> {
        let table = Table::of(entity);
        let filter = odata::eq(table.name, name);
        self.records_where(&table, &filter, as_user, deadline).await
    }

    async fn records_where(
        &self,
        table: &Table,
        filter: &str,
        as_user: &AadObjectId,
        deadline: Instant,
    ) -> DataverseResult<Vec<RecordRow>> {
        let path = format!(
            "{}?$select={},{}&$filter={}&$top={SEARCH_PAGE}",
            table.set,
            table.id,
            table.name,
            encode(filter)
        );
        let rows: Collection<Value> = self
            .get(&path, Some(as_user), deadline)
            .await?
            .unwrap_or(Collection { value: Vec::new() });
        Ok(rows.value.iter().filter_map(|row| table.row(row)).collect())
    }

    /// `RetrievePrincipalAccess` for a user on a record; `None` when the record
    /// does not exist.
    pub async fn access(
        &self,
        systemuser_id: &str,
        record: &RecordRef,
        deadline: Instant,
    ) -> DataverseResult<Option<Access>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            access_rights: String,
        }
        let target = format!(
            "{{'@odata.id':'{}({})'}}",
            Table::of(record.entity).set,
            record.id.as_str()
        );
        let path = format!(
            "systemusers({})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={}",
            encode(systemuser_id),
            encode(&target)
        );
        let answer: Option<Answer> = self.get(&path, None, deadline).await?;
        Ok(answer.map(|a| {
            let rights: Vec<&str> = a.access_rights.split(',').map(str::trim).collect();
            Access {
                read: rights.contains(&"ReadAccess"),
                write: rights.contains(&"WriteAccess"),
            }
        }))
    }

    /// The Teams chats connected to a record (`msdyn_teamschatassociation`).
    pub async fn connected_chats(
        &self,
        record: &RecordRef,
        deadline: Instant,
    ) -> DataverseResult<Vec<ChatId>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default)]
            msdyn_teamschatid: Option<String>,
        }
        let filter = odata::all(&[
            odata::eq("msdyn_regardingobjectid", record.id.as_str()),
            odata::eq("msdyn_regardingobjectname", record.entity.logical_name()),
            "statecode eq 0".to_owned(),
            "msdyn_entityrecordstate eq 0".to_owned(),
        ]);
        let path = format!(
            "msdyn_teamschatassociations?$select=msdyn_teamschatid,msdyn_regardingobjectid,msdyn_regardingobjectname&$filter={}",
            encode(&filter)
        );
        let rows: Collection<Row> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Shape)?;
        let mut chats: Vec<ChatId> = Vec::new();
        for row in rows.value {
            if let Some(chat) = row.msdyn_teamschatid.and_then(|id| ChatId::parse(&id).ok()) {
                if !chats.contains(&chat) {
                    chats.push(chat);
                }
            }
        }
        Ok(chats)
    }

    /// The Join chat switch of every configured record type.
    pub async fn join_chat_settings(
        &self,
        deadline: Instant,
    ) -> DataverseResult<Vec<JoinChatSetting>> {
        #[derive(Deserialize)]
        struct EntityTypeRef {
            #[serde(default)]
            logicalname: Option<String>,
        }
        #[derive(Deserialize)]
        struct Row {
            msdyn_entitylinkchatconfigurationid: String,
            #[serde(default)]
            msdyn_usercanjoinchat: Option<bool>,
            #[serde(default)]
            msdyn_entitytype: Option<EntityTypeRef>,
        }
        let path = format!(
            "msdyn_entitylinkchatconfigurations?$select=msdyn_entitylinkchatconfigurationid,msdyn_usercanjoinchat,msdyn_uniquename&$expand={}&$filter={}",
            encode("msdyn_entitytype($select=logicalname)"),
            encode("statecode eq 0")
        );
        let rows: Collection<Row> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Shape)?;
        Ok(rows
            .value
            .into_iter()
            .filter_map(|row| {
                let logical = row.msdyn_entitytype?.logicalname?;
                Some(JoinChatSetting {
                    entity: EntityType::parse(&logical)?,
                    row_id: row.msdyn_entitylinkchatconfigurationid,
                    enabled: row.msdyn_usercanjoinchat.unwrap_or(false),
                })
            })
            .collect())
    }

    /// Flips one record type's Join chat switch, as `as_user` when given (so
    /// Dataverse applies that admin's own privileges too).
    pub async fn set_join_chat(
        &self,
        row_id: &str,
        enabled: bool,
        as_user: Option<&AadObjectId>,
        deadline: Instant,
    ) -> DataverseResult<()> {
        let url = format!(
            "{}msdyn_entitylinkchatconfigurations({})",
            self.api,
            encode(row_id)
        );
        let body = json!({ "msdyn_usercanjoinchat": enabled });
        let response = retry::send(&self.tokens, &self.scope, deadline, || {
            self.request(Method::PATCH, &url, as_user).json(&body)
        })
        .await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            other => Err(DataverseError::Status(other)),
        }
    }

    /// Whether a user holds the named security role.
    pub async fn has_role(
        &self,
        systemuser_id: &str,
        role: &str,
        deadline: Instant,
    ) -> DataverseResult<bool> {
        let path = format!(
            "systemusers({})/systemuserroles_association?$select=name,roleid&$filter={}",
            encode(systemuser_id),
            encode(&odata::eq("name", role))
        );
        let rows: Collection<Value> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Shape)?;
        Ok(!rows.value.is_empty())
    }

    /// Everyone holding the named security role.
    pub async fn role_holders(
        &self,
        role: &str,
        deadline: Instant,
    ) -> DataverseResult<Vec<RoleHolder>> {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(default)]
            fullname: Option<String>,
            #[serde(default)]
            azureactivedirectoryobjectid: Option<String>,
        }
        #[derive(Deserialize)]
        struct Role {
            #[serde(default)]
            systemuserroles_association: Vec<Holder>,
        }
        let path = format!(
            "roles?$select=roleid,name&$filter={}&$expand={}",
            encode(&odata::eq("name", role)),
            encode("systemuserroles_association($select=systemuserid,fullname,azureactivedirectoryobjectid)")
        );
        let roles: Collection<Role> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Shape)?;
        let mut admins: Vec<RoleHolder> = Vec::new();
        for holder in roles
            .value
            .into_iter()
            .flat_map(|r| r.systemuserroles_association)
        {
            let admin = RoleHolder {
                aad: holder.azureactivedirectoryobjectid,
                name: holder.fullname.unwrap_or_default(),
            };
            if !admins.contains(&admin) {
                admins.push(admin);
            }
        }
        Ok(admins)
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        as_user: Option<&AadObjectId>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, url)
            .header("Accept", "application/json")
            .header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0");
        match as_user {
            Some(user) => request.header("CallerObjectId", user.as_str()),
            None => request,
        }
    }

    /// GET a document; `Ok(None)` when Dataverse says it does not exist, or
    /// (impersonating) that the user may not read it — the two look the same
    /// to the caller on purpose.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        as_user: Option<&AadObjectId>,
        deadline: Instant,
    ) -> DataverseResult<Option<T>> {
        let url = format!("{}{}", self.api, path);
        let response = retry::send(&self.tokens, &self.scope, deadline, || {
            self.request(Method::GET, &url, as_user)
        })
        .await?;
        match response.status() {
            status if status.is_success() => Ok(Some(
                response.json().await.map_err(|_| DataverseError::Shape)?,
            )),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::FORBIDDEN if as_user.is_some() => Ok(None),
            StatusCode::FORBIDDEN => Err(self.refused(path, response).await),
            status => Err(DataverseError::Status(status.as_u16())),
        }
    }
}

/// Where a record type lives in Dataverse.
struct Table {
    set: &'static str,
    id: &'static str,
    name: &'static str,
}

impl Table {
    fn of(entity: EntityType) -> Table {
        let (set, id, name) = match entity {
            EntityType::Lead => ("leads", "leadid", "fullname"),
            EntityType::Opportunity => ("opportunities", "opportunityid", "name"),
            EntityType::Account => ("accounts", "accountid", "name"),
            EntityType::Contact => ("contacts", "contactid", "fullname"),
            EntityType::Incident => ("incidents", "incidentid", "title"),
        };
        Table { set, id, name }
    }

    fn row(&self, row: &Value) -> Option<RecordRow> {
        let id = RecordId::parse(row.get(self.id)?.as_str()?).ok()?;
        let name = row
            .get(self.name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(RecordRow { id, name })
    }
}
