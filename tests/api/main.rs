//! The black-box suite: one binary, one way in (`helpers::spawn_app`).

mod cli;
mod front_door;
// Shared by every test module; not each module uses each helper.
#[allow(dead_code)]
mod helpers;
