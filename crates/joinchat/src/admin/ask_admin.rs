//! Ask your admin: a card with a one-click switch, to the admins' chat when
//! one is configured, else to each admin 1:1; the asker learns who was reached.

use std::time::Instant;

use super::{type_event, AdminDesk};
use crate::{
    audit, cards,
    context::{Answer, Viewer},
    domain::EntityType,
    facts::FactsError,
    store::keys,
    teams::OutboundActivity,
};

impl AdminDesk {
    pub async fn ask_admin(
        &self,
        viewer: &Viewer,
        entity: EntityType,
        service_url: &str,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let audit = type_event("ask_admin", viewer, entity);
        let once_key = keys::ask_admin_once(entity, &viewer.aad);
        if !self.first_ask(&once_key).await {
            audit::record(&self.store, audit("refused", "rate_limited")).await;
            return Ok(Answer::Card(cards::request_sent(
                cards::text::ASKED_ADMINS_RECENTLY,
            )));
        }
        let name = self.display_name(viewer, deadline).await;
        let card = OutboundActivity::card(cards::ask_admin_request(&name, entity));
        if let Some(chat) = &self.admin_chat {
            if self
                .notifier
                .post_in_chat(chat, service_url, &card, deadline)
                .await
                .reached()
            {
                audit::record(&self.store, audit("asked", "admin_chat")).await;
                return Ok(Answer::Card(cards::request_sent(
                    &cards::text::asked_admin_chat(entity),
                )));
            }
            tracing::warn!(
                chat.id = chat.as_str(),
                "the admin chat is unreachable; asking admins 1:1"
            );
        }
        let admins = self.admins(deadline).await?;
        let mut reached = Vec::new();
        let mut unreachable = Vec::new();
        for admin in &admins {
            let delivered = match &admin.aad {
                Some(aad) => self.conversations.tell(aad, &card, deadline).await,
                None => false,
            };
            if delivered {
                reached.push(admin.name.clone());
            } else {
                unreachable.push(admin.name.clone());
            }
        }
        if reached.is_empty() {
            let _ = self.store.delete(&once_key).await;
            audit::record(&self.store, audit("failed", "no_admin_reachable")).await;
            return Ok(Answer::Text(cards::text::no_admin_reached(
                entity,
                &unreachable,
            )));
        }
        audit::record(&self.store, audit("asked", "")).await;
        let text = cards::text::asked_admins(entity, &reached, &unreachable);
        Ok(Answer::Card(cards::request_sent(&text)))
    }
}
