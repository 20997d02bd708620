//! Teams and Bot Framework wire types: the activities Teams sends, the
//! replies the bot posts, and invoke responses. Typed serde structs, parsed
//! once at the edge; unknown fields are tolerated and unknown activity types
//! are kept as `Other` so the bot can answer them without failing.

mod activity;
mod invoke;

pub use activity::*;
pub use invoke::*;
