//! The Dataverse webhook registration, read for `joinchat doctor`: the
//! `serviceendpoint` rows that are webhooks (contract 8) and the
//! `sdkmessageprocessingstep` rows registered on one of them, each with its
//! message's name. Read as the application user, as the Plug-in Registration
//! tool shows them (<https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook>).

use std::time::Instant;

use serde::Deserialize;

use super::{odata::encode, Collection, DataverseClient, DataverseError, DataverseResult};

/// `serviceendpoint.contract`: Webhook.
pub const CONTRACT_WEBHOOK: i64 = 8;

/// A webhook the organization calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookEndpoint {
    #[serde(rename = "serviceendpointid")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// 4 HttpHeader, 5 WebhookKey, 6 HttpQueryString.
    #[serde(default)]
    pub authtype: Option<i64>,
}

/// One step registered on a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStep {
    /// The SDK message: `Update`, `GrantAccess`, …
    pub message: String,
    /// `filteringattributes`: `None` is every attribute.
    pub filtering: Option<String>,
    /// `statecode` 0: enabled.
    pub enabled: bool,
}

impl DataverseClient {
    /// The webhooks registered in the organization.
    pub async fn webhook_endpoints(
        &self,
        deadline: Instant,
    ) -> DataverseResult<Vec<WebhookEndpoint>> {
        let path = format!(
            "serviceendpoints?$select=serviceendpointid,name,url,authtype&$filter={}",
            encode(&format!("contract eq {CONTRACT_WEBHOOK}"))
        );
        let rows: Collection<WebhookEndpoint> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Status(404))?;
        Ok(rows.value)
    }

    /// The steps registered on the webhook `endpoint_id`.
    pub async fn webhook_steps(
        &self,
        endpoint_id: &str,
        deadline: Instant,
    ) -> DataverseResult<Vec<WebhookStep>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default)]
            filteringattributes: Option<String>,
            #[serde(default)]
            statecode: Option<i64>,
            #[serde(default)]
            sdkmessageid: Option<Message>,
        }
        #[derive(Deserialize)]
        struct Message {
            #[serde(default)]
            name: Option<String>,
        }
        let endpoint_id = uuid::Uuid::parse_str(endpoint_id).map_err(|_| DataverseError::Shape)?;
        let path = format!(
            "sdkmessageprocessingsteps?$select=filteringattributes,statecode&$filter={}&$expand={}",
            encode(&format!("_eventhandler_value eq {endpoint_id}")),
            encode("sdkmessageid($select=name)")
        );
        let rows: Collection<Row> = self
            .get(&path, None, deadline)
            .await?
            .ok_or(DataverseError::Status(404))?;
        Ok(rows
            .value
            .into_iter()
            .map(|row| WebhookStep {
                message: row
                    .sdkmessageid
                    .and_then(|message| message.name)
                    .unwrap_or_default(),
                filtering: row.filteringattributes.filter(|f| !f.trim().is_empty()),
                enabled: row.statecode.unwrap_or(0) == 0,
            })
            .collect())
    }
}
