//! The black-box suite: one binary, one way in (`helpers::spawn_app`).

mod cards;
mod cli;
mod front_door;
mod join;
// Shared by every test module; not each module uses each helper.
#[allow(dead_code)]
mod helpers;
