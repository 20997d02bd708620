//! The Join chat switch: who may flip it (the admin role, checked in
//! Dataverse), the settings card, and the change itself.

use std::time::Instant;

use super::{type_event, AdminDesk};
use crate::{
    audit, cards,
    clients::dataverse::RoleHolder,
    context::{Answer, Viewer},
    domain::EntityType,
    facts::FactsError,
    store::keys,
};

impl AdminDesk {
    /// Whether this person holds the admin role (cached briefly).
    pub async fn is_admin(&self, viewer: &Viewer, deadline: Instant) -> Result<bool, FactsError> {
        let key = keys::role(&viewer.aad);
        if let Ok(Some(cached)) = self.store.get(&key).await {
            return Ok(cached == "1");
        }
        let Some(user) = self
            .facts
            .user(&viewer.aad, deadline)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(false);
        };
        let admin = self
            .facts
            .dataverse()
            .has_role(&user.id, &self.role, deadline)
            .await?;
        if let Err(error) = self
            .store
            .set(&key, if admin { "1" } else { "0" }, keys::ROLE_TTL)
            .await
        {
            tracing::warn!(%error, "role not cached");
        }
        Ok(admin)
    }

    /// The settings card: every record type, its state, a toggle for admins.
    pub async fn settings(&self, viewer: &Viewer, deadline: Instant) -> Result<Answer, FactsError> {
        let admin = self.is_admin(viewer, deadline).await?;
        let settings = self.facts.settings(deadline).await?;
        let states: Vec<(EntityType, bool)> = EntityType::ALL
            .iter()
            .map(|entity| {
                let on = settings.iter().any(|s| s.entity == *entity && s.enabled);
                (*entity, on)
            })
            .collect();
        Ok(Answer::Card(cards::settings(&states, admin)))
    }

    /// Turns Join chat on or off for a record type, if the viewer may.
    pub async fn set_join_chat(
        &self,
        viewer: &Viewer,
        entity: EntityType,
        enabled: bool,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let audit = type_event("set_join_chat", viewer, entity);
        if !self.is_admin(viewer, deadline).await? {
            audit::record(&self.store, audit("refused", "not_admin")).await;
            let admins = self.admins(deadline).await.unwrap_or_default();
            let names: Vec<String> = admins.into_iter().map(|a| a.name).collect();
            return Ok(Answer::Text(cards::admin_only(&names)));
        }
        // The row id comes from Dataverse itself, never from the card.
        let settings = self.facts.dataverse().join_chat_settings(deadline).await?;
        let Some(setting) = settings.iter().find(|s| s.entity == entity) else {
            audit::record(&self.store, audit("refused", "type_not_set_up")).await;
            return Ok(Answer::Text(cards::text::type_not_set_up(entity)));
        };
        if setting.enabled != enabled {
            self.facts
                .dataverse()
                .set_join_chat(&setting.row_id, enabled, Some(&viewer.aad), deadline)
                .await?;
        }
        // Every replica reads the switch anew on its next card.
        self.facts.settings_changed().await;
        audit::record(
            &self.store,
            audit("changed", if enabled { "on" } else { "off" }),
        )
        .await;
        tracing::info!(
            entity = entity.logical_name(),
            enabled,
            "Join chat switched"
        );
        self.settings(viewer, deadline).await
    }

    pub(super) async fn admins(&self, deadline: Instant) -> Result<Vec<RoleHolder>, FactsError> {
        Ok(self
            .facts
            .dataverse()
            .role_holders(&self.role, deadline)
            .await?)
    }
}
