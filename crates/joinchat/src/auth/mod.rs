//! Authentication, both ways: inbound channel tokens (Teams → bot) and
//! outbound client-credentials tokens (bot → Connector, Graph, Dataverse).

pub mod inbound;
pub mod keys;
pub mod outbound;

pub use inbound::{AuthFailure, ChannelAuth, VerifiedCaller};
pub use keys::KeySource;
pub use outbound::{TokenError, TokenSource};
