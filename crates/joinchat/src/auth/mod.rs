//! Authentication, both ways: inbound channel tokens (Teams → bot) and
//! outbound client-credentials tokens (bot → Connector, Graph, Dataverse),
//! the shared key of Dataverse's webhook calls, and the anonymous local mode
//! of `joinchat sandbox --playground`.

pub mod inbound;
pub mod keys;
pub mod local;
pub mod outbound;
pub mod webhook;

pub use inbound::{AuthFailure, ChannelAuth, VerifiedCaller};
pub use keys::KeySource;
pub use local::LocalConnectors;
pub use outbound::{TokenError, TokenSource};
