//! The integration tests: one binary, one module per subject.

mod sandbox_connector;
mod sandbox_control;
mod sandbox_dataverse;
mod sandbox_entra;
mod sandbox_faults;
mod sandbox_graph;
mod sandbox_helpers;
mod sandbox_world;
