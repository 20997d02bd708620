//! Property tests: the parsers and the refusals on arbitrary and mutated
//! input. None may panic, and every refusal must be the documented one.
//!
//! Bounded in time: each property runs a fixed number of cases (see
//! [`cases`]), and nothing here waits on a clock, so the whole binary takes
//! seconds. A failing case is shrunk and printed; it is not written to disk.

mod actions;
mod activity;
mod commands;
mod jwt;
mod strategies;
mod world;

use proptest::test_runner::Config;

/// A run of `n` cases, without regression files.
pub fn cases(n: u32) -> Config {
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}
