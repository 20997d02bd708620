//! The black-box suite: one binary, one way in (`helpers::spawn_app`).

mod front_door;
mod helpers;
