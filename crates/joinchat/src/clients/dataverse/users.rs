//! A `systemuser` by its id: who a record was given to or shared with, as a
//! webhook names them (by `systemuserid`), turned into the Entra object id
//! that Teams and Graph know them by.

use std::time::Instant;

use serde::Deserialize;

use super::{odata::encode, DataverseClient, DataverseResult};
use crate::domain::{AadObjectId, RecordId};

/// A `systemuser` as the offer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    /// `azureactivedirectoryobjectid`; `None` for users Entra does not know
    /// (application users, some service accounts).
    pub aad: Option<AadObjectId>,
    pub name: String,
    pub disabled: bool,
}

impl DataverseClient {
    /// The `systemuser` with this id; `None` when there is none.
    pub async fn user_by_id(
        &self,
        systemuser_id: &RecordId,
        deadline: Instant,
    ) -> DataverseResult<Option<UserIdentity>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default)]
            fullname: Option<String>,
            #[serde(default)]
            azureactivedirectoryobjectid: Option<String>,
            #[serde(default)]
            isdisabled: Option<bool>,
        }
        let path = format!(
            "systemusers({})?$select=systemuserid,fullname,azureactivedirectoryobjectid,isdisabled",
            encode(systemuser_id.as_str())
        );
        let row: Option<Row> = self.get(&path, None, deadline).await?;
        Ok(row.map(|row| UserIdentity {
            aad: row
                .azureactivedirectoryobjectid
                .and_then(|aad| AadObjectId::parse(&aad).ok()),
            name: row.fullname.unwrap_or_default(),
            disabled: row.isdisabled.unwrap_or(false),
        }))
    }
}
