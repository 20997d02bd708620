//! Calling a Microsoft service within a time budget: a bearer token for the
//! service's scope, then the request, retried on throttling (429, honouring
//! `Retry-After`) and on transient failures (412, 500, 502, 503, 504) with
//! jittered backoff — but only while the budget allows the wait. A 401 drops
//! the cached token and tries once more with a fresh one.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{RequestBuilder, Response};

use crate::auth::{outbound::retry_after, TokenError, TokenSource};

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
}

/// Sends the request `build` makes with a fresh token, retrying as described
/// above until `deadline`. Any other status is the caller's to interpret.
pub async fn send(
    tokens: &TokenSource,
    scope: &str,
    deadline: Instant,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, CallError> {
    send_as(Some((tokens, scope)), deadline, build).await
}

/// The same with no `Authorization` header at all, for a local Connector that
/// takes none (`auth::local`) and must never be handed a token.
pub async fn send_without_token(
    deadline: Instant,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, CallError> {
    send_as(None, deadline, build).await
}

async fn send_as(
    credentials: Option<(&TokenSource, &str)>,
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
                    // The token endpoint throttles and fails like any service.
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
        let outcome = request.timeout(remaining).send().await;
        let wait = match outcome {
            Err(_) => {
                // Connection failures and timeouts: try again while time remains.
                let wait = backoff(attempt);
                if !fits(deadline, wait) {
                    return Err(CallError::Unreachable);
                }
                wait
            }
            Ok(response) => {
                let status = response.status();
                match status.as_u16() {
                    401 if !refreshed_token && token.is_some() => {
                        if let Some((tokens, scope, _)) = &token {
                            tokens.forget(scope);
                        }
                        refreshed_token = true;
                        continue;
                    }
                    429 => {
                        let asked = retry_after(response.headers());
                        let wait = asked.unwrap_or_else(|| backoff(attempt));
                        if !fits(deadline, wait) {
                            return Err(CallError::Throttled(asked));
                        }
                        wait
                    }
                    412 | 500 | 502 | 503 | 504 => {
                        let wait =
                            retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                        if !fits(deadline, wait) {
                            return Err(CallError::Unavailable(status.as_u16()));
                        }
                        wait
                    }
                    _ => return Ok(response),
                }
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
