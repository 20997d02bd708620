//! The anonymous local mode for the Microsoft 365 Agents Playground, which
//! sends activities with no `Authorization` header and hosts its own mock
//! Connector on localhost.
//!
//! Only `joinchat sandbox --playground` turns it on (never `serve`: no
//! variable or flag reaches it). Even then an activity without a header is
//! taken only when it came from a loopback peer and names a loopback
//! `serviceUrl`; an activity with a header goes through the full channel-token
//! rules, as in every other mode. The Connector URLs learnt from anonymous
//! activities are remembered so the bot never sends a token to them: a local
//! process must not be able to collect one by naming itself as the Connector.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use url::{Host, Url};

use super::AuthFailure;

/// More distinct local Connectors than one Playground session ever uses;
/// past this, anonymous activities naming a new one are refused.
const MAX_LOCAL_CONNECTORS: usize = 16;

/// The Connectors the bot reaches without a token: those named by accepted
/// anonymous activities. Shared by the front door and the Connector client.
#[derive(Clone, Debug, Default)]
pub struct LocalConnectors {
    known: Arc<Mutex<HashSet<String>>>,
}

impl LocalConnectors {
    pub fn new() -> LocalConnectors {
        LocalConnectors::default()
    }

    /// The per-activity rule of the anonymous mode: the activity must name a
    /// loopback `serviceUrl`. Remembers it so replies carry no token.
    pub fn admit(&self, service_url: &str) -> Result<(), AuthFailure> {
        if !is_loopback_url(service_url) {
            return Err(AuthFailure::NotLoopbackServiceUrl);
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let key = normalise(service_url);
        if !known.contains(&key) && known.len() >= MAX_LOCAL_CONNECTORS {
            return Err(AuthFailure::NotLoopbackServiceUrl);
        }
        known.insert(key);
        Ok(())
    }

    /// Whether calls to this Connector go without a token.
    pub fn is_local(&self, service_url: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&normalise(service_url))
    }
}

/// Whether an anonymous request may be considered at all: it came over a
/// loopback connection (the TCP peer, never a forwarding header).
pub fn is_loopback_peer(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|peer| peer.ip().is_loopback())
}

/// `http(s)://localhost…`, `127.x.x.x` or `[::1]`, with no user info.
pub fn is_loopback_url(raw: &str) -> bool {
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One spelling per Connector, with or without its trailing slash.
fn normalise(service_url: &str) -> String {
    service_url.trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn only_loopback_urls_count_as_local() {
        let cases = [
            ("http://localhost:56150/_connector", true),
            ("http://localhost:56150/_connector/", true),
            ("http://LOCALHOST:56150/_connector", true),
            ("http://127.0.0.1:56150/_connector", true),
            ("http://127.8.9.10/", true),
            ("http://[::1]:56150/_connector", true),
            ("https://localhost/", true),
            ("https://smba.trafficmanager.net/amer/", false),
            ("http://localhost.evil.example/", false),
            ("http://localhost@evil.example/", false),
            ("http://user:pw@localhost/", false),
            ("http://10.0.0.1/", false),
            ("http://[::ffff:10.0.0.1]/", false),
            ("http://0.0.0.0/", false),
            ("ftp://localhost/", false),
            ("file:///etc/passwd", false),
            ("localhost:56150", false),
            ("", false),
        ];
        for (url, local) in cases {
            assert_eq!(is_loopback_url(url), local, "{url:?}");
        }
    }

    #[test]
    fn only_loopback_peers_may_go_without_a_token() {
        assert!(is_loopback_peer(Some("127.0.0.1:5000".parse().unwrap())));
        assert!(is_loopback_peer(Some("[::1]:5000".parse().unwrap())));
        assert!(!is_loopback_peer(Some("192.168.1.9:5000".parse().unwrap())));
        assert!(!is_loopback_peer(None));
    }

    #[test]
    fn admitted_connectors_are_local_with_or_without_the_slash() {
        let local = LocalConnectors::new();
        assert!(!local.is_local("http://localhost:56150/_connector"));
        local.admit("http://localhost:56150/_connector").unwrap();
        assert!(local.is_local("http://localhost:56150/_connector"));
        assert!(local.is_local("http://localhost:56150/_connector/"));
        assert!(!local.is_local("http://127.0.0.1:3979/connector/"));
        assert_eq!(
            local.admit("https://smba.trafficmanager.net/amer/"),
            Err(AuthFailure::NotLoopbackServiceUrl)
        );
    }

    #[test]
    fn the_set_of_local_connectors_is_bounded() {
        let local = LocalConnectors::new();
        for port in 0..MAX_LOCAL_CONNECTORS {
            local
                .admit(&format!("http://localhost:{}/c", 1000 + port))
                .unwrap();
        }
        assert!(
            local.admit("http://localhost:1000/c").is_ok(),
            "known ones still pass"
        );
        assert!(local.admit("http://localhost:9999/c").is_err());
    }
}
