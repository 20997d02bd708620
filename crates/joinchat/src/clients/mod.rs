//! One client per Microsoft service. Only these modules (and `auth`) know
//! Microsoft's paths and JSON; everything above them speaks joinchat's types.

pub mod connector;
pub mod dataverse;
pub mod graph;
pub mod retry;
