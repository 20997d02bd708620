//! joinchat: a Microsoft Teams bot that lets Dynamics 365 Sales sellers join
//! the Teams chats connected to their records.
//!
//! `App::build` wires everything from a [`config::Config`] and binds the
//! listener; `joinchat serve`, `joinchat sandbox` and the tests all start the
//! bot through it. See ARCHITECTURE.md for the map.

pub mod actions;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod bot;

pub mod cards;
pub mod clients;
pub mod commands;
pub mod config;
pub mod context;
pub mod doctor;
pub mod domain;
pub mod facts;
pub mod http;
pub mod join;
pub mod metrics;
pub mod offer;
pub mod permissions;
pub mod policy;
pub mod show;
pub mod store;
pub mod teams;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use crate::{
    auth::{ChannelAuth, KeySource, LocalConnectors, TokenSource},
    bot::Bot,
    clients::connector::ConnectorClient,
    clients::dataverse::DataverseClient,
    clients::graph::GraphClient,
    config::Config,
    facts::Facts,
    metrics::Metrics,
    store::Store,
};

/// How long a stopping bot waits for the joined notices on their way.
const FOLLOWUPS_GRACE: Duration = Duration::from_secs(10);

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub auth: ChannelAuth,
    /// The anonymous local mode's Connectors; `None` in every other mode.
    pub local: Option<LocalConnectors>,
    pub metrics: Metrics,
    pub bot: Bot,
}

/// A bound, not yet running, bot.
pub struct App {
    server: http::Server,
    local_addr: SocketAddr,
    state: Arc<AppState>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        if config.playground && !config.listen.ip().is_loopback() {
            anyhow::bail!(
                "the anonymous Playground mode listens on loopback only, not on {}",
                config.listen
            );
        }
        let http = reqwest::Client::builder()
            .timeout(config.tunables.http_timeout)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("joinchat/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let store = Store::connect(&config.store).await?;
        let channel_keys = KeySource::new(
            http.clone(),
            config.openid_metadata_url.clone(),
            config.tunables.keys_refresh_interval,
            config.tunables.unknown_kid_cooldown,
        );
        let emulator_keys = config.allow_emulator.then(|| {
            KeySource::new(
                http.clone(),
                config.emulator_openid_metadata_url.clone(),
                config.tunables.keys_refresh_interval,
                config.tunables.unknown_kid_cooldown,
            )
        });
        channel_keys.spawn_refresher();
        if let Some(keys) = &emulator_keys {
            keys.spawn_refresher();
        }
        let auth = ChannelAuth::new(
            config.app_id.clone(),
            channel_keys,
            emulator_keys.map(|keys| (keys, config.tenant_id.as_str())),
        );
        let tokens = TokenSource::for_app(http.clone(), &config);
        let metrics = Metrics::new();
        let local = config.playground.then(LocalConnectors::new);
        let connector = ConnectorClient::new(
            http.clone(),
            tokens.clone(),
            local.clone().unwrap_or_default(),
        );
        let dataverse = DataverseClient::new(http.clone(), tokens.clone(), &config.dataverse_url)
            .counting_refusals(metrics.setup_refusals.clone());
        let graph = GraphClient::new(http.clone(), tokens.clone(), &config.graph_url)
            .counting_refusals(metrics.setup_refusals.clone());
        // Every token the bot will need, fetched now and kept fresh: no
        // request waits on Entra.
        tokens.prefetch(&[
            auth::outbound::CONNECTOR_SCOPE,
            auth::outbound::GRAPH_SCOPE,
            dataverse.scope(),
        ]);
        let facts = Facts::new(store.clone(), dataverse, graph);
        let bot = Bot::new(&config, store.clone(), connector, facts, metrics.clone());
        let state = Arc::new(AppState {
            config: config.clone(),
            store,
            auth,
            local,
            metrics,
            bot,
        });

        let listener = std::net::TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        let server = http::server(state.clone(), listener)?;
        tracing::info!(listen = %local_addr, store = state.store.kind(), "joinchat bot listening");
        if state.local.is_some() {
            tracing::warn!(
                listen = %local_addr,
                "ANONYMOUS PLAYGROUND MODE: activities without a token are accepted from this \
                 machine when they name a Connector on this machine; never run this for real users"
            );
        }
        Ok(App {
            server,
            local_addr,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> http::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then lets the work that follows answers (the
    /// joined notices) finish, for a few seconds at most, and writes the
    /// audit's counted looks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if !self.state.bot.followups().drained(FOLLOWUPS_GRACE).await {
            tracing::warn!("stopped with joined notices still on their way");
        }
        self.state.bot.flush_audit().await;
        served
    }
}
