//! Prometheus metrics: requests by route and status, auth failures by reason,
//! request latency, activity outcomes, and the refusals that mean the tenant
//! has not granted the bot something (a 403 from Graph or Dataverse). One
//! registry per app, so tests can run apps side by side.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub latency: HistogramVec,
    pub outcomes: IntCounterVec,
    /// 403s from Graph or Dataverse to the bot itself, by service and call:
    /// a setup problem for an admin (`joinchat doctor` says what to fix).
    pub setup_refusals: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "joinchat_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("static metric definition");
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "joinchat_auth_failures_total",
                "Rejected channel tokens by reason",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "joinchat_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route"],
        )
        .expect("static metric definition");
        let outcomes = IntCounterVec::new(
            Opts::new(
                "joinchat_activity_outcomes_total",
                "Handled activities by kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .expect("static metric definition");
        let setup_refusals = IntCounterVec::new(
            Opts::new(
                "joinchat_setup_refusals_total",
                "Calls Graph or Dataverse refused with 403 because the bot lacks a permission or privilege",
            ),
            &["service", "call"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(auth_failures.clone()),
            Box::new(latency.clone()),
            Box::new(outcomes.clone()),
            Box::new(setup_refusals.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            auth_failures,
            latency,
            outcomes,
            setup_refusals,
        }
    }

    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
