//! Calling a Microsoft service within a time budget: a bearer token for the
//! service's scope, then the request, retried while the budget allows the
//! wait — but never in a way that could repeat a side effect.
//!
//! Every call says how it may be repeated ([`Idempotency`]). Some failures
//! prove the request did nothing: a 429 (the service refused to process it;
//! `Retry-After` honoured), a 412, a 401 (the cached token is dropped and one
//! fresh one tried), a connection that could not be opened, a token that could
//! not be had. Those are retried for every call. Others leave the outcome
//! unknown — the request was sent and then a 5xx, a timeout or a broken
//! connection came back, and the service may well have done the work ("faults
//! that commit"). Those are retried with jittered backoff only for a
//! [`Idempotency::Safe`] call; any other call gets [`CallError::Uncertain`] at
//! once, and its caller looks before it repeats anything.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{RequestBuilder, Response};

use crate::auth::{outbound::retry_after, TokenError, TokenSource};

/// How a call may be repeated after a failure that leaves its outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, and writes whose repetition changes nothing more (a PUT or PATCH
    /// of the same content): repeated as often as the budget allows.
    Safe,
    /// A write that must not be repeated blindly, but whose effect can be
    /// looked up (a chat's members, the bot's presence in a chat): the caller
    /// gets [`CallError::Uncertain`], looks, and repeats only when the
    /// effect is absent.
    CheckFirst,
    /// A write whose effect cannot be looked up (a message posted through the
    /// Bot Connector, which takes no idempotency key): never repeated after an
    /// uncertain failure; the caller reports it as possibly done.
    Never,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("throttled; retry after {0:?}")]
    Throttled(Option<Duration>),
    #[error("service unavailable (status {0})")]
    Unavailable(u16),
    #[error("service unreachable")]
    Unreachable,
    #[error("could not get a token: {0}")]
    Token(#[from] TokenError),
    /// The request was sent and may have taken effect; not repeated.
    #[error("outcome unknown: {0}")]
    Uncertain(Uncertainty),
}

/// What left a sent request's outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Uncertainty {
    #[error("status {0} after the request was sent")]
    Status(u16),
    #[error("no answer within the budget")]
    Timeout,
    #[error("the connection failed after the request was sent")]
    Connection,
}

impl CallError {
    /// A short, fixed name for the kind of failure (audit events, logs):
    /// never a message from the service, never a token.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Throttled(_) => "throttled",
            CallError::Unavailable(_) => "unavailable",
            CallError::Unreachable => "unreachable",
            CallError::Token(_) => "token",
            CallError::Uncertain(Uncertainty::Status(_)) => "uncertain_status",
            CallError::Uncertain(Uncertainty::Timeout) => "uncertain_timeout",
            CallError::Uncertain(Uncertainty::Connection) => "uncertain_connection",
        }
    }

    /// Whether the request may have taken effect.
    pub fn is_uncertain(&self) -> bool {
        matches!(self, CallError::Uncertain(_))
    }
}

/// Sends the request `build` makes with a fresh token, retrying as described
/// above until `deadline`. Any other status is the caller's to interpret.
pub async fn send(
    tokens: &TokenSource,
    scope: &str,
    idempotency: Idempotency,
    deadline: Instant,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, CallError> {
    send_as(Some((tokens, scope)), idempotency, deadline, build).await
}

/// The same with no `Authorization` header at all, for a local Connector that
/// takes none (`auth::local`) and must never be handed a token.
pub async fn send_without_token(
    idempotency: Idempotency,
    deadline: Instant,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, CallError> {
    send_as(None, idempotency, deadline, build).await
}

/// Waits before the `attempt`-th repetition of a call whose first outcome was
/// looked up and found absent; false (without waiting) when the budget does
/// not allow it.
pub async fn pause_before_repeat(attempt: u32, deadline: Instant) -> bool {
    let wait = backoff(attempt);
    if !fits(deadline, wait) {
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}

/// What one answer (or failure) means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The caller's to interpret.
    Done,
    /// Surely not processed: try again after this long (or the backoff).
    Retry(Option<Duration>),
    /// The token was refused: drop it and try once with a fresh one.
    FreshToken,
    /// Maybe processed: repeat only a safe call.
    Uncertain(Uncertainty),
}

/// The table behind the module comment; `status` is `None` for a transport
/// error, `connected` whether the request had a connection to go out on.
fn verdict(status: Option<u16>, connected: bool, timed_out: bool) -> Verdict {
    match status {
        Some(401) => Verdict::FreshToken,
        Some(429) | Some(412) => Verdict::Retry(None),
        Some(code @ (500 | 502 | 503 | 504)) => Verdict::Uncertain(Uncertainty::Status(code)),
        Some(_) => Verdict::Done,
        None if !connected => Verdict::Retry(None),
        None if timed_out => Verdict::Uncertain(Uncertainty::Timeout),
        None => Verdict::Uncertain(Uncertainty::Connection),
    }
}

async fn send_as(
    credentials: Option<(&TokenSource, &str)>,
    idempotency: Idempotency,
    deadline: Instant,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, CallError> {
    let mut attempt = 0u32;
    let mut refreshed_token = false;
    loop {
        attempt += 1;
        let token = match credentials {
            None => None,
            Some((tokens, scope)) => match tokens.token(scope).await {
                Ok(token) => Some((tokens, scope, token)),
                Err(error) => {
                    // The token endpoint throttles and fails like any service;
                    // nothing was sent yet, so every call may wait for it.
                    let wait = match &error {
                        TokenError::Throttled(asked) => asked.unwrap_or_else(|| backoff(attempt)),
                        TokenError::Unreachable => backoff(attempt),
                        TokenError::Failed(status) if *status >= 500 => backoff(attempt),
                        _ => return Err(error.into()),
                    };
                    if !fits(deadline, wait) {
                        return Err(error.into());
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            },
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(CallError::Unreachable);
        }
        let request = match &token {
            Some((_, _, token)) => build().bearer_auth(&**token),
            None => build(),
        };
        let (verdict, response) = match request.timeout(remaining).send().await {
            Ok(response) => {
                let verdict = verdict(Some(response.status().as_u16()), true, false);
                (verdict, Some(response))
            }
            Err(error) => {
                let sent = !error.is_connect() && !error.is_builder();
                (verdict(None, sent, error.is_timeout()), None)
            }
        };
        let asked = response.as_ref().and_then(|r| retry_after(r.headers()));
        let status = response.as_ref().map(|r| r.status().as_u16());
        let wait = match verdict {
            Verdict::Done => {
                return response.ok_or(CallError::Unreachable);
            }
            Verdict::FreshToken => match &token {
                Some((tokens, scope, _)) if !refreshed_token => {
                    tokens.forget(scope);
                    refreshed_token = true;
                    continue;
                }
                // No token to refresh, or a fresh one refused too.
                _ => return response.ok_or(CallError::Unreachable),
            },
            Verdict::Retry(_) => {
                let wait = asked.unwrap_or_else(|| backoff(attempt));
                if !fits(deadline, wait) {
                    return Err(match status {
                        Some(429) => CallError::Throttled(asked),
                        Some(code) => CallError::Unavailable(code),
                        None => CallError::Unreachable,
                    });
                }
                wait
            }
            Verdict::Uncertain(uncertainty) => {
                if idempotency != Idempotency::Safe {
                    return Err(CallError::Uncertain(uncertainty));
                }
                let wait = asked.unwrap_or_else(|| backoff(attempt));
                if !fits(deadline, wait) {
                    return Err(match uncertainty {
                        Uncertainty::Status(code) => CallError::Unavailable(code),
                        Uncertainty::Timeout | Uncertainty::Connection => CallError::Unreachable,
                    });
                }
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn fits(deadline: Instant, wait: Duration) -> bool {
    Instant::now() + wait + Duration::from_millis(50) < deadline
}

/// 100 ms, 200 ms, 400 ms … capped at 2 s, with up to 50 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(5)).min(2000);
    let jitter = rand::thread_rng().gen_range(0..=base / 2);
    Duration::from_millis(base / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn only_a_failure_that_proves_nothing_happened_is_retried_for_every_call() {
        use Uncertainty::*;
        let table = [
            // status     connected timed out  verdict
            (Some(200),  true,     false,     Verdict::Done),
            (Some(201),  true,     false,     Verdict::Done),
            (Some(400),  true,     false,     Verdict::Done),
            (Some(403),  true,     false,     Verdict::Done),
            (Some(404),  true,     false,     Verdict::Done),
            (Some(401),  true,     false,     Verdict::FreshToken),
            (Some(429),  true,     false,     Verdict::Retry(None)),
            (Some(412),  true,     false,     Verdict::Retry(None)),
            (Some(500),  true,     false,     Verdict::Uncertain(Status(500))),
            (Some(502),  true,     false,     Verdict::Uncertain(Status(502))),
            (Some(503),  true,     false,     Verdict::Uncertain(Status(503))),
            (Some(504),  true,     false,     Verdict::Uncertain(Status(504))),
            // A connection refused: the request never left.
            (None,       false,    false,     Verdict::Retry(None)),
            (None,       false,    true,      Verdict::Retry(None)),
            (None,       true,     true,      Verdict::Uncertain(Timeout)),
            (None,       true,     false,     Verdict::Uncertain(Connection)),
        ];
        for (status, connected, timed_out, expected) in table {
            assert_eq!(verdict(status, connected, timed_out), expected, "{status:?} {connected} {timed_out}");
        }
    }

    #[test]
    fn failure_kinds_are_fixed_words() {
        let kinds = [
            CallError::Throttled(None).kind(),
            CallError::Unavailable(503).kind(),
            CallError::Unreachable.kind(),
            CallError::Uncertain(Uncertainty::Status(503)).kind(),
            CallError::Uncertain(Uncertainty::Timeout).kind(),
            CallError::Uncertain(Uncertainty::Connection).kind(),
        ];
        assert_eq!(
            kinds,
            [
                "throttled",
                "unavailable",
                "unreachable",
                "uncertain_status",
                "uncertain_timeout",
                "uncertain_connection"
            ]
        );
        assert!(CallError::Uncertain(Uncertainty::Timeout).is_uncertain());
        assert!(!CallError::Unavailable(503).is_uncertain());
    }

    #[tokio::test]
    async fn no_pause_when_the_budget_has_no_room_for_it() {
        let now = Instant::now();
        assert!(!pause_before_repeat(1, now + Duration::from_millis(60)).await);
        assert!(pause_before_repeat(1, now + Duration::from_secs(5)).await);
    }
}
