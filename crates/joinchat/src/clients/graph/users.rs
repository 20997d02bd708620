//! The bot's Teams app in a person's personal scope: installing it for
//! someone who never talked to the bot, finding the installation, and the
//! 1:1 chat it gives
//! (<https://learn.microsoft.com/graph/api/userteamwork-post-installedapps>,
//! <https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat>).

use std::time::Instant;

use serde::Deserialize;
use serde_json::json;

use super::{catalog_bind, encode, GraphClient, GraphResult};
use crate::{clients::retry::Idempotency, domain::AadObjectId};

impl GraphClient {
    /// Installs the bot's Teams app in a person's personal scope, which gives
    /// the bot a 1:1 chat with them. Already installed (409) is success too.
    pub async fn install_for_user(
        &self,
        user: &AadObjectId,
        teams_app_id: &str,
        deadline: Instant,
    ) -> GraphResult<()> {
        let url = format!(
            "{}/users/{}/teamwork/installedApps",
            self.base,
            encode(user.as_str())
        );
        let body = json!({
            "teamsApp@odata.bind": catalog_bind(teams_app_id),
        });
        // Installing again answers 409 (already installed), taken as done:
        // repeating it changes nothing more.
        self.install(
            "POST /users/{id}/teamwork/installedApps",
            Idempotency::Safe,
            &url,
            body,
            deadline,
        )
        .await
    }

    /// The id of the app's installation in a person's personal scope (not
    /// the app's id); `None` when it is not installed for them.
    pub async fn user_installation(
        &self,
        user: &AadObjectId,
        teams_app_id: &str,
        deadline: Instant,
    ) -> GraphResult<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        #[derive(Deserialize)]
        struct Page {
            value: Vec<Row>,
        }
        let filter = format!("teamsApp/id eq '{}'", teams_app_id.replace('\'', "''"));
        let url = format!(
            "{}/users/{}/teamwork/installedApps?$expand=teamsApp&$filter={}",
            self.base,
            encode(user.as_str()),
            encode(&filter)
        );
        let page: Option<Page> = self
            .get_if_found("GET /users/{id}/teamwork/installedApps", &url, deadline)
            .await?;
        Ok(page.and_then(|page| page.value.into_iter().map(|row| row.id).next()))
    }

    /// The 1:1 chat between a person and the bot, from the app's installation
    /// in their personal scope: its id is the conversation to post to.
    pub async fn installation_chat(
        &self,
        user: &AadObjectId,
        installation_id: &str,
        deadline: Instant,
    ) -> GraphResult<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let url = format!(
            "{}/users/{}/teamwork/installedApps/{}/chat",
            self.base,
            encode(user.as_str()),
            encode(installation_id)
        );
        let row: Option<Row> = self
            .get_if_found(
                "GET /users/{id}/teamwork/installedApps/{id}/chat",
                &url,
                deadline,
            )
            .await?;
        Ok(row.map(|row| row.id).filter(|id| !id.trim().is_empty()))
    }
}
