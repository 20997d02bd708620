//! The black-box suite: one binary, one way in (`helpers::spawn_app` for the
//! bot and its cloud, `sandbox_helpers` for the cloud alone).

mod admin;
mod audit;
mod card_schema;
mod cards;
mod chaos;
mod chaos_outages;
mod cli;
mod cluster;
mod cold;
mod doctor;
mod front_door;
mod group_chat;
mod join;
mod keys;
mod no_repeat;
mod observability;
mod offer;
mod package;
mod permissions_agree;
mod playground;
mod playground_cli;
mod redelivery;
mod sandbox_connector;
mod sandbox_control;
mod sandbox_dataverse;
mod sandbox_entra;
mod sandbox_faults;
mod sandbox_graph;
mod sandbox_install;
mod sandbox_offer;
mod sandbox_permissions;
mod sandbox_world;
mod scale;
mod tenant;
mod tidy;

// Shared by every test module; not each module uses each helper.
#[allow(dead_code)]
mod chaos_deployment;
#[allow(dead_code)]
mod helpers;
#[allow(dead_code)]
mod processes;
#[allow(dead_code)]
mod redis_watch;
#[allow(dead_code)]
mod sandbox_helpers;
