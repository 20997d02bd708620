//! `POST /_sandbox/records/{entity}/{id}/assign` and `…/share`: a record
//! changes hands as Dataverse changes it, and the webhook registration fires
//! as Dataverse fires it.
//!
//! An assign makes the new owner the owner (so a writer); the old owner keeps
//! only what the world grants them otherwise. A share is `GrantAccess` for
//! someone the record is not yet shared with, `ModifyAccess` (the access
//! replaced) for someone it is. The call answers once the webhook's calls
//! (`deliver` of them, the same request each time, as a retry is) have
//! completed, with the bot's status and what it posted meanwhile.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{error, parse_json, user, Capture};
use crate::dataverse::webhook::{self, Change, Event, Message, READ_ACCESS, WRITE_ACCESS_SET};
use crate::world::{Entity, User};
use crate::Shared;

/// At most this many deliveries of one event.
const MOST_DELIVERIES: u8 = 5;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/records/{entity}/{id}/assign", web::post().to(assign))
        .route("/records/{entity}/{id}/share", web::post().to(share));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    owner: String,
    deliver: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    user: String,
    access: String,
    deliver: Option<u8>,
}

fn deliveries(requested: Option<u8>) -> Result<u8, HttpResponse> {
    match requested.unwrap_or(1) {
        count @ 1..=MOST_DELIVERIES => Ok(count),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!("deliver must be 1 to {MOST_DELIVERIES}"),
        )),
    }
}

fn entity_of(name: &str) -> Result<Entity, HttpResponse> {
    Entity::parse(name)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no record type {name:?}")))
}

/// The record's id as the world spells it, or 404.
fn record_id(shared: &Shared, entity: Entity, id: &str) -> Result<String, HttpResponse> {
    shared
        .lock()
        .record(entity, id)
        .map(|record| record.id.clone())
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("no {} {id:?}", entity.logical_name()),
            )
        })
}

async fn assign(
    shared: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let outcome = async {
        let request: AssignRequest = parse_json(&body)?;
        let count = deliveries(request.deliver)?;
        let (entity, id) = path.into_inner();
        let entity = entity_of(&entity)?;
        let record_id = record_id(&shared, entity, &id)?;
        let owner = user(&shared, &request.owner)?;
        let previous = {
            let mut state = shared.lock();
            let record = state
                .record_mut(entity, &record_id)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, "the record went away"))?;
            let previous = std::mem::replace(&mut record.owner, owner.key.clone());
            state.changed();
            previous
        };
        // The one who assigns: the previous owner, who may.
        let by = shared.world.user(&previous).unwrap_or(owner);
        let event = new_event(Change::Assign { owner }, entity, record_id, by);
        Ok::<_, HttpResponse>(fire(&shared, &event, count).await)
    };
    outcome.await.unwrap_or_else(|refusal| refusal)
}

async fn share(
    shared: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let outcome = async {
        let request: ShareRequest = parse_json(&body)?;
        let count = deliveries(request.deliver)?;
        let write = match request.access.as_str() {
            "write" => true,
            "read" => false,
            other => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("access must be \"write\" or \"read\", not {other:?}"),
                ))
            }
        };
        let (entity, id) = path.into_inner();
        let entity = entity_of(&entity)?;
        let record_id = record_id(&shared, entity, &id)?;
        let user = user(&shared, &request.user)?;
        let (message, owner) = {
            let mut state = shared.lock();
            let record = state
                .record_mut(entity, &record_id)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, "the record went away"))?;
            let shared_before = record.write.contains(&user.key) || record.read.contains(&user.key);
            record.write.retain(|key| *key != user.key);
            record.read.retain(|key| *key != user.key);
            if write {
                record.write.push(user.key.clone());
            } else {
                record.read.push(user.key.clone());
            }
            let owner = record.owner.clone();
            state.changed();
            let message = if shared_before {
                Message::ModifyAccess
            } else {
                Message::GrantAccess
            };
            (message, owner)
        };
        let mask = if write { WRITE_ACCESS_SET } else { READ_ACCESS };
        // The one who shares: the owner.
        let by = shared.world.user(&owner).unwrap_or(user);
        let change = Change::Share {
            message,
            user,
            mask,
        };
        let event = new_event(change, entity, record_id, by);
        Ok(fire(&shared, &event, count).await)
    };
    outcome.await.unwrap_or_else(|refusal| refusal)
}

fn new_event<'w>(change: Change<'w>, entity: Entity, record_id: String, by: &'w User) -> Event<'w> {
    let guid = || Uuid::new_v4().to_string();
    Event {
        change,
        entity,
        record_id,
        by,
        request_id: guid(),
        operation_id: guid(),
        correlation_id: guid(),
        at: OffsetDateTime::now_utc(),
    }
}

/// Posts the event to the registration's URL `count` times, one after the
/// other; answers the control API's reply. Without a step for this message
/// on this record type nothing is sent (`status` null).
async fn fire(shared: &Shared, event: &Event<'_>, count: u8) -> HttpResponse {
    let (step, bot_endpoint) = {
        let state = shared.lock();
        let step = state
            .webhook
            .as_ref()
            .and_then(|registration| registration.step(event.change.message(), event.entity))
            .cloned();
        (step, state.bot_endpoint.clone())
    };
    let Some(step) = step else {
        return HttpResponse::Ok()
            .json(json!({"status": null, "deliveries": [], "activities": []}));
    };
    let url = webhook::webhook_url(&bot_endpoint);
    let body = webhook::context(&shared.dataverse_ids, event, &step);
    let headers = webhook::headers(shared, event);
    // Posts the bot makes meanwhile belong to this call: it sends no
    // activity, so it waits in no conversation.
    let capture = Capture::begin(shared, &event.request_id, "");
    let mut statuses = Vec::new();
    for _ in 0..count {
        let mut request = shared
            .http
            .post(&url)
            .query(&[("code", shared.dataverse_webhook_key.as_str())])
            .json(&body);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => statuses.push(Value::from(response.status().as_u16())),
            Err(e) => {
                // The error names the URL, never the key in its query.
                let cause = e.without_url();
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!("the webhook at {url} did not answer: {cause}"),
                );
            }
        }
    }
    HttpResponse::Ok().json(json!({
        "status": statuses.last(),
        "deliveries": statuses,
        "activities": capture.finish(),
    }))
}
