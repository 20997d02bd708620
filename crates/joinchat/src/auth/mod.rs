//! Authentication, both ways: inbound channel tokens (Teams → bot) and
//! outbound client-credentials tokens (bot → Connector, Graph, Dataverse), and
//! the anonymous local mode of `joinchat sandbox --playground`.

pub mod inbound;
pub mod keys;
pub mod local;
pub mod outbound;

pub use inbound::{AuthFailure, ChannelAuth, VerifiedCaller};
pub use keys::KeySource;
pub use local::LocalConnectors;
pub use outbound::{TokenError, TokenSource};
