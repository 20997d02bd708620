//! Injected faults: a status code, a delay, or both, for the next requests to
//! one simulated service.
//!
//! A fault applies to requests in arrival order: `count` of them, or every one
//! until `DELETE /_sandbox/faults`. Faults with a `count` queue up per service
//! (a 429 then a 503 happen in that order); a new fault replaces a service's
//! fault that had no count. The error bodies are each service's own shape, so the
//! bot sees what Microsoft would send. Faults never touch the control API.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Deserialize;

use super::state::{Service, State};
use super::{connector, dataverse, entra, graph};

/// A fault as `POST /_sandbox/faults` describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRequest {
    pub service: Service,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub count: Option<u32>,
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub service: Service,
    pub status: Option<StatusCode>,
    pub retry_after: Option<u64>,
    /// `None`: until cleared.
    pub remaining: Option<u32>,
    pub latency: Duration,
}

/// What a fault does to one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effect {
    pub status: Option<StatusCode>,
    pub retry_after: Option<u64>,
    pub latency: Duration,
}

impl FaultRequest {
    pub fn into_fault(self) -> Result<Fault, String> {
        let status = match self.status {
            Some(code) => match StatusCode::from_u16(code) {
                Ok(status) if status.is_client_error() || status.is_server_error() => Some(status),
                _ => {
                    return Err(format!(
                        "status {code} is not an HTTP error status (400–599)"
                    ))
                }
            },
            None => None,
        };
        if status.is_none() && self.latency_ms.unwrap_or(0) == 0 {
            return Err("a fault needs a status, a latency_ms, or both".to_owned());
        }
        Ok(Fault {
            service: self.service,
            status,
            retry_after: self.retry_after,
            remaining: self.count,
            latency: Duration::from_millis(self.latency_ms.unwrap_or(0)),
        })
    }
}

impl State {
    pub fn set_fault(&mut self, fault: Fault) {
        self.faults
            .retain(|existing| existing.service != fault.service || existing.remaining.is_some());
        self.faults.push(fault);
    }

    /// The effect on the request that just arrived for `service`, counting it.
    pub fn take_fault(&mut self, service: Service) -> Option<Effect> {
        let index = self.faults.iter().position(|f| f.service == service)?;
        let fault = &mut self.faults[index];
        let effect = Effect {
            status: fault.status,
            retry_after: fault.retry_after,
            latency: fault.latency,
        };
        if let Some(remaining) = &mut fault.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.faults.remove(index);
            }
        }
        Some(effect)
    }
}

/// The answer a faulted request gets, in the service's own error shape.
pub(crate) fn response(
    service: Service,
    status: StatusCode,
    retry_after: Option<u64>,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    let retry_after = retry_after.or((status == StatusCode::TOO_MANY_REQUESTS).then_some(1));
    if let Some(seconds) = retry_after {
        builder.insert_header(("Retry-After", seconds.to_string()));
    }
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    let body = match service {
        Service::Graph => {
            let code = match status.as_u16() {
                429 => "TooManyRequests",
                403 => "Forbidden",
                503 => "serviceNotAvailable",
                500 => "generalException",
                _ => "BadRequest",
            };
            graph::error_body(code, "The simulated Graph was told to fail this request.")
        }
        Service::Dataverse => {
            let (code, message) = if throttled {
                (
                    "0x80072322",
                    "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                )
            } else if status == StatusCode::FORBIDDEN {
                // Dataverse's privilege error (the simulated application
                // user's role was told to lack one).
                (
                    "0x80040220",
                    "Principal user is missing a privilege for this request (the simulated Dataverse was told to refuse it).",
                )
            } else {
                ("0x80040216", "An unexpected error occurred.")
            };
            dataverse::error_body(code, message)
        }
        Service::Connector => {
            let code = match status.as_u16() {
                429 => "Throttled",
                503 => "ServiceUnavailable",
                _ => "ServiceError",
            };
            connector::error_body(
                code,
                "The simulated Bot Connector was told to fail this request.",
            )
        }
        Service::Entra => {
            let (error, code) = if throttled {
                ("temporarily_unavailable", 50196)
            } else {
                ("temporarily_unavailable", 90033)
            };
            entra::error_body(
                error,
                code,
                "The simulated Entra was told to fail this request.",
            )
        }
    };
    builder.json(body)
}
