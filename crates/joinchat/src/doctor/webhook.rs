//! The Dataverse webhook's registration, checked when the bot is configured
//! to receive it (`JOINCHAT_DATAVERSE_WEBHOOK_KEY`): a webhook
//! `serviceendpoint` whose URL ends in `/api/dataverse`, with enabled steps
//! for `Update` (on `ownerid`, or every attribute), `GrantAccess` and
//! `ModifyAccess`. One line each, so a missing step is named.

use std::time::Instant;

use super::{dataverse_fix, Check, CHECK_BUDGET};
use crate::clients::dataverse::{DataverseClient, WebhookEndpoint, WebhookStep};
use crate::http::DATAVERSE_WEBHOOK_PATH as WEBHOOK_PATH;

/// The steps the offer needs: (message, what it is for).
const NEEDED_STEPS: &[(&str, &str)] = &[
    ("Update", "ownerid: a record assigned"),
    ("GrantAccess", "a record shared"),
    ("ModifyAccess", "a share changed"),
];

const SETUP: &str = "README, \"Dataverse webhook\"";

pub(super) async fn checks(dataverse: &DataverseClient) -> Vec<Check> {
    let deadline = || Instant::now() + CHECK_BUDGET;
    let endpoint_name = "Dataverse webhook (serviceendpoint)";
    let endpoints = match dataverse.webhook_endpoints(deadline()).await {
        Ok(endpoints) => endpoints,
        Err(error) => {
            return vec![Check::fail(
                endpoint_name,
                error.to_string(),
                dataverse_fix(&error, "serviceendpoint and sdkmessageprocessingstep"),
            )]
        }
    };
    let Some(endpoint) = endpoints.iter().find(|e| points_at_the_bot(e)) else {
        return vec![Check::fail(
            endpoint_name,
            format!("no webhook service endpoint has a URL ending in {WEBHOOK_PATH}"),
            format!("register a webhook to https://<the bot's public host>{WEBHOOK_PATH} with authentication WebhookKey = JOINCHAT_DATAVERSE_WEBHOOK_KEY ({SETUP})"),
        )];
    };
    let mut checks = vec![Check::pass(
        endpoint_name,
        format!(
            "{} → {} ({})",
            endpoint.name.as_deref().unwrap_or("unnamed"),
            endpoint.url.as_deref().unwrap_or_default(),
            authentication(endpoint.authtype)
        ),
    )];
    match dataverse.webhook_steps(&endpoint.id, deadline()).await {
        Ok(steps) => checks.extend(step_checks(&steps)),
        Err(error) => checks.push(Check::fail(
            "Dataverse webhook steps",
            error.to_string(),
            dataverse_fix(&error, "sdkmessageprocessingstep"),
        )),
    }
    checks
}

fn points_at_the_bot(endpoint: &WebhookEndpoint) -> bool {
    endpoint
        .url
        .as_deref()
        .is_some_and(|url| url.trim_end_matches('/').ends_with(WEBHOOK_PATH))
}

fn authentication(authtype: Option<i64>) -> &'static str {
    match authtype {
        Some(4) => "HttpHeader",
        Some(5) => "WebhookKey",
        Some(6) => "HttpQueryString",
        _ => "unknown authentication",
    }
}

/// One line per needed step, from the steps registered on the endpoint.
pub(super) fn step_checks(steps: &[WebhookStep]) -> Vec<Check> {
    NEEDED_STEPS
        .iter()
        .map(|(message, purpose)| {
            let name = format!("Dataverse webhook step {message} ({purpose})");
            let registered = steps.iter().filter(|step| step.message == *message);
            let usable = registered.clone().any(|step| {
                step.enabled && (*message != "Update" || watches_owner(step.filtering.as_deref()))
            });
            if usable {
                return Check::pass(name, "registered");
            }
            let found = if registered.count() == 0 {
                "not registered on the webhook".to_owned()
            } else if *message == "Update" {
                "registered, but disabled or not filtered on ownerid".to_owned()
            } else {
                "registered, but disabled".to_owned()
            };
            let filter = if *message == "Update" {
                ", filtering attribute ownerid"
            } else {
                ""
            };
            Check::fail(
                name,
                found,
                format!("register a step for {message} on each record type with connected chats, on this webhook, post-operation, asynchronous{filter} ({SETUP})"),
            )
        })
        .collect()
}

/// An `Update` step fires on an assign when it watches `ownerid` (or every
/// attribute, when no filter is set).
fn watches_owner(filtering: Option<&str>) -> bool {
    filtering.is_none_or(|list| {
        list.split(',')
            .any(|a| a.trim().eq_ignore_ascii_case("ownerid"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(message: &str, filtering: Option<&str>, enabled: bool) -> WebhookStep {
        WebhookStep {
            message: message.into(),
            filtering: filtering.map(str::to_owned),
            enabled,
        }
    }

    #[test]
    fn each_needed_step_is_its_own_line() {
        let all = [
            step("Update", Some("ownerid"), true),
            step("GrantAccess", None, true),
            step("ModifyAccess", None, true),
        ];
        assert!(step_checks(&all).iter().all(Check::passed));
        #[rustfmt::skip]
        let table: &[(&[WebhookStep], &[bool])] = &[
            (&[], &[false, false, false]),
            (&[step("Update", None, true), step("GrantAccess", None, true)], &[true, true, false]),
            (&[step("Update", Some("name,statecode"), true)], &[false, false, false]),
            (&[step("Update", Some("statecode, ownerid"), true)], &[true, false, false]),
            (&[step("GrantAccess", None, false), step("ModifyAccess", None, true)], &[false, false, true]),
        ];
        for (steps, expected) in table {
            let passed: Vec<bool> = step_checks(steps).iter().map(Check::passed).collect();
            assert_eq!(&passed, expected, "{steps:?}");
        }
        let lines = step_checks(&[]);
        assert!(lines[1].to_string().contains("GrantAccess"));
        assert!(lines[0].fix.as_deref().unwrap().contains("ownerid"));
    }
}
