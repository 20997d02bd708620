//! Which record a person meant: a typed id is taken as is; a typed name is
//! searched as that person (records they cannot read never come back), an
//! exact name wins, several matches are offered as a choice.

use std::time::Instant;

use crate::{
    cards::RecordSummary,
    clients::dataverse::{RecordRow, SEARCH_PAGE},
    commands::RecordQuery,
    context::Viewer,
    domain::{EntityType, RecordRef},
    facts::{Facts, FactsError},
};

/// What a typed record name or id resolved to.
#[derive(Clone)]
pub enum Resolution {
    Record(RecordRef),
    /// Several readable records match: the person picks one.
    Choose(Vec<RecordSummary>),
    NotFound,
}

pub async fn resolve(
    facts: &Facts,
    viewer: &Viewer,
    entity: EntityType,
    query: &RecordQuery,
    deadline: Instant,
) -> Result<Resolution, FactsError> {
    let text = match query {
        RecordQuery::Id(id) => {
            return Ok(Resolution::Record(RecordRef {
                entity,
                id: id.clone(),
            }))
        }
        RecordQuery::Name(text) => text,
    };
    // The search runs as the seller: records they cannot read never come back.
    let dataverse = facts.dataverse();
    let rows = dataverse
        .find_records(entity, text, &viewer.aad, deadline)
        .await?;
    // A full page may have left the exact match out: then ask for it by name.
    let named: Vec<RecordRow>;
    let exact_from: &[RecordRow] = if rows.len() >= SEARCH_PAGE {
        named = dataverse
            .records_named(entity, text.trim(), &viewer.aad, deadline)
            .await?;
        &named
    } else {
        &rows
    };
    let exact: Vec<&RecordRow> = exact_from
        .iter()
        .filter(|row| row.name.trim().eq_ignore_ascii_case(text.trim()))
        .collect();
    let chosen = match (exact.as_slice(), rows.as_slice()) {
        ([only], _) => Some(*only),
        ([], [only]) => Some(only),
        _ => None,
    };
    if let Some(row) = chosen {
        return Ok(Resolution::Record(RecordRef {
            entity,
            id: row.id.clone(),
        }));
    }
    if rows.is_empty() {
        return Ok(Resolution::NotFound);
    }
    let candidates = if exact.len() > 1 {
        exact
    } else {
        rows.iter().collect()
    };
    Ok(Resolution::Choose(
        candidates
            .into_iter()
            .map(|row| RecordSummary {
                record: RecordRef {
                    entity,
                    id: row.id.clone(),
                },
                name: row.name.clone(),
            })
            .collect(),
    ))
}
