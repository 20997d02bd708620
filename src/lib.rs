//! joinchat: a Microsoft Teams bot that lets Dynamics 365 Sales sellers join
//! the Teams chats connected to their records.

pub mod cards;
pub mod commands;
pub mod domain;
pub mod policy;
