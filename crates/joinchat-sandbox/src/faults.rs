//! Injected faults: a status code, a delay, or both, for the next requests to
//! one simulated service.
//!
//! A fault applies to requests in arrival order: `count` of them, or every one
//! until `DELETE /_sandbox/faults`. Faults with a `count` queue up per service
//! (a 429 then a 503 happen in that order); a new fault replaces a service's
//! fault that had no count. The error bodies are each service's own shape, so the
//! bot sees what Microsoft would send. Faults never touch the control API.
//!
//! A fault with `"commit": true` lets the request take effect (the member is
//! added, the message posted, the row written) and still answers with the
//! fault's status and body: a service that committed and whose answer was then
//! lost. It needs a status (a committed request with nothing wrong with its
//! answer is no fault).

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
    /// The request takes effect before the fault's answer replaces the real one.
    #[serde(default)]
    pub commit: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub service: Service,
    pub status: Option<StatusCode>,
    pub retry_after: Option<u64>,
    /// `None`: until cleared.
    pub remaining: Option<u32>,
    pub latency: Duration,
    pub commit: bool,
}

/// What a fault does to one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effect {
    pub status: Option<StatusCode>,
    pub retry_after: Option<u64>,
    pub latency: Duration,
    /// Serve the request, then answer with `status` anyway.
    pub commit: bool,
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
        if self.commit && status.is_none() {
            return Err(
                "a fault that commits needs a status: the answer that replaces the real one"
                    .to_owned(),
            );
        }
        Ok(Fault {
            service: self.service,
            status,
            retry_after: self.retry_after,
            remaining: self.count,
            latency: Duration::from_millis(self.latency_ms.unwrap_or(0)),
            commit: self.commit,
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
            commit: fault.commit,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: Option<u16>, latency_ms: Option<u64>, commit: bool) -> FaultRequest {
        FaultRequest {
            service: Service::Graph,
            status,
            retry_after: None,
            count: Some(1),
            latency_ms,
            commit,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_fault_is_accepted_exactly_when_it_says_what_goes_wrong() {
        let table = [
            // status     latency    commit  accepted
            (Some(503),  None,      false,  true),
            (Some(503),  None,      true,   true),
            (Some(429),  Some(50),  true,   true),
            (None,       Some(50),  false,  true),
            // Committing with nothing wrong with the answer is no fault.
            (None,       Some(50),  true,   false),
            (None,       None,      true,   false),
            (None,       None,      false,  false),
            (Some(200),  None,      true,   false),
        ];
        for (status, latency_ms, commit, accepted) in table {
            let fault = request(status, latency_ms, commit).into_fault();
            assert_eq!(fault.is_ok(), accepted, "{status:?} {latency_ms:?} {commit}: {fault:?}");
            if let Ok(fault) = fault {
                assert_eq!(fault.commit, commit);
            }
        }
    }

    #[test]
    fn a_committing_fault_says_so_to_the_request_it_meets() {
        let world = crate::World::demo();
        let mut state = State::new(&world, String::new());
        state.set_fault(request(Some(503), None, true).into_fault().unwrap());
        let effect = state.take_fault(Service::Graph).expect("the fault applies");
        assert!(effect.commit);
        assert_eq!(effect.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert!(
            state.take_fault(Service::Graph).is_none(),
            "count 1 is spent"
        );
    }
}
