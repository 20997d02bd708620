//! What the bot's own application user may do in Dataverse: `WhoAmI` and
//! reading each table the bot reads (for `joinchat doctor`), and what a 403
//! to it means — a privilege its security role lacks, logged with
//! Dataverse's words and counted (`joinchat_setup_refusals_total`).

use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use super::{Collection, DataverseClient, DataverseError, DataverseResult};

/// `WhoAmI`: who the application user is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WhoAmI {
    pub user_id: String,
    pub business_unit_id: String,
    pub organization_id: String,
}

/// The tables the bot reads, for `joinchat doctor`: (table, entity set, primary key).
pub const TABLES_READ: &[(&str, &str, &str)] = &[
    ("systemuser", "systemusers", "systemuserid"),
    (
        "msdyn_teamschatassociation",
        "msdyn_teamschatassociations",
        "msdyn_teamschatassociationid",
    ),
    (
        "msdyn_entitylinkchatconfiguration",
        "msdyn_entitylinkchatconfigurations",
        "msdyn_entitylinkchatconfigurationid",
    ),
];

impl DataverseClient {
    /// `WhoAmI`: the application user, or why Dataverse refused it.
    pub async fn who_am_i(&self, deadline: Instant) -> DataverseResult<WhoAmI> {
        self.get("WhoAmI", None, deadline)
            .await?
            .ok_or(DataverseError::Status(404))
    }

    /// Reads one row of `set` as the application (`$top=1`): `Ok` when the
    /// application user may read the table.
    pub async fn can_read(&self, set: &str, key: &str, deadline: Instant) -> DataverseResult<()> {
        let path = format!("{set}?$select={key}&$top=1");
        let _: Collection<Value> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Status(404))?;
        Ok(())
    }

    /// The application user was refused: logged with Dataverse's words (they
    /// name the missing privilege) and counted.
    pub(super) async fn refused(&self, path: &str, response: reqwest::Response) -> DataverseError {
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            message: String,
        }
        let message = response
            .json::<Body>()
            .await
            .map(|body| body.error.message)
            .unwrap_or_default();
        // The table (or function) asked for, without ids or query.
        let what = path
            .split(['?', '(', '/'])
            .next()
            .unwrap_or_default()
            .to_owned();
        if let Some(counter) = &self.refusals {
            counter.with_label_values(&["dataverse", &what]).inc();
        }
        tracing::warn!(
            table = %what,
            %message,
            "Dataverse refused the bot's application user: its security role lacks a privilege; `joinchat doctor` checks the tables it reads"
        );
        DataverseError::Forbidden(message)
    }
}
