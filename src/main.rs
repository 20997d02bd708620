//! The `joinchat` binary: parses the command line, sets up logging and runs
//! the bot (`serve`), the simulated Microsoft cloud (`cloud`) or both wired
//! together by URL only (`sandbox`).

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use joinchat::{
    config::{Config, Secret, ServeArgs, StoreConfig, Tunables},
    sandbox::{Cloud, CloudOptions, World},
    App,
};

#[derive(Parser)]
#[command(
    name = "joinchat",
    version,
    about = "Join the Teams chats connected to Dynamics 365 records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up; the size of the largest variant doesn't matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the production bot.
    Serve(ServeArgs),
    /// Run the simulated Microsoft cloud alone (for `serve` or another bot).
    Cloud(CloudArgs),
    /// Run the simulated cloud and the bot together: the whole product, no accounts.
    Sandbox(SandboxArgs),
    /// Print the version.
    Version,
}

#[derive(Args)]
struct CloudArgs {
    /// Address of the simulated cloud.
    #[arg(long, default_value = "127.0.0.1:3979")]
    listen: SocketAddr,
    /// World file (TOML); default: the built-in Contoso demo world.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Where simulated Teams posts activities.
    #[arg(
        long,
        env = "JOINCHAT_BOT_ENDPOINT",
        default_value = "http://127.0.0.1:3978/api/messages"
    )]
    bot_endpoint: String,
}

#[derive(Args)]
struct SandboxArgs {
    /// Address of the bot.
    #[arg(long, default_value = "127.0.0.1:3978")]
    listen: SocketAddr,
    /// Address of the simulated cloud (console and control API).
    #[arg(long, default_value = "127.0.0.1:3979")]
    cloud_listen: SocketAddr,
    /// World file (TOML); default: the built-in Contoso demo world.
    #[arg(long)]
    world: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Version => {
            println!("joinchat {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve(args) => match Config::from_args(args) {
            Ok(config) => run(serve(config)),
            Err(error) => Err(anyhow::anyhow!("configuration error: {error}")),
        },
        Command::Cloud(args) => run(cloud(args)),
        Command::Sandbox(args) => run(sandbox(args)),
    };
    if let Err(error) = result {
        eprintln!("joinchat: {error:#}");
        std::process::exit(2);
    }
}

fn run<F: std::future::Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(future)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    println!("joinchat bot listening on http://{}", app.local_addr());
    stop_on_ctrl_c(app.handle());
    app.run_until_stopped().await?;
    Ok(())
}

fn load_world(path: Option<&PathBuf>) -> anyhow::Result<World> {
    let Some(path) = path else {
        return Ok(World::demo());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the world file {}", path.display()))?;
    World::parse(&text, &path.display().to_string()).map_err(|error| anyhow::anyhow!("{error}"))
}

/// The app registration the cloud holds: from the environment when set.
fn app_registration() -> (Option<String>, Option<String>) {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    (read("JOINCHAT_APP_ID"), read("JOINCHAT_APP_PASSWORD"))
}

/// Starts the simulated cloud with the app registration from the
/// environment (generated when absent); true when the password was generated.
async fn start_cloud(
    world: Option<&PathBuf>,
    listen: SocketAddr,
    bot_endpoint: Option<String>,
) -> anyhow::Result<(Cloud, bool)> {
    let world = load_world(world)?;
    let (app_id, app_password) = app_registration();
    let generated_password = app_password.is_none();
    let options = CloudOptions {
        listen,
        app_id,
        app_password,
        bot_endpoint,
    };
    Ok((Cloud::start(world, options).await?, generated_password))
}

async fn cloud(args: CloudArgs) -> anyhow::Result<()> {
    let (cloud, generated_password) = start_cloud(
        args.world.as_ref(),
        args.listen,
        Some(args.bot_endpoint.clone()),
    )
    .await?;
    let urls = cloud.urls();
    println!("joinchat simulated cloud on {}", cloud.base_url());
    println!("  console:          {}/console", cloud.base_url());
    println!("  world:            {}/_sandbox/world", cloud.base_url());
    println!("  activities go to: {}", args.bot_endpoint);
    println!();
    println!("Run a bot against it with:");
    println!("  JOINCHAT_APP_ID={} \\", cloud.app_id());
    if generated_password {
        // Printed once, to this terminal only, so a separate `serve` can use it.
        println!("  JOINCHAT_APP_PASSWORD='{}' \\", cloud.app_password());
    } else {
        println!("  JOINCHAT_APP_PASSWORD=(as set) \\");
    }
    println!("  JOINCHAT_TENANT_ID={} \\", cloud.tenant_id());
    println!("  JOINCHAT_OPENID_METADATA_URL={} \\", urls.openid_metadata);
    println!("  JOINCHAT_LOGIN_URL={} \\", urls.login);
    println!("  JOINCHAT_GRAPH_URL={} \\", urls.graph);
    println!("  JOINCHAT_DATAVERSE_URL={} \\", urls.dataverse);
    println!("  JOINCHAT_TEAMS_APP_ID={} \\", cloud.teams_app_id());
    println!("  joinchat serve");
    wait_for_ctrl_c().await;
    cloud.stop().await;
    Ok(())
}

async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let (cloud, generated_password) =
        start_cloud(args.world.as_ref(), args.cloud_listen, None).await?;
    let urls = cloud.urls();
    let store = match std::env::var("JOINCHAT_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => StoreConfig::Redis {
            url: Secret::new(url),
            prefix: std::env::var("JOINCHAT_REDIS_PREFIX").unwrap_or_else(|_| "jc:".into()),
        },
        None => StoreConfig::Memory,
    };
    // The bot learns only URLs and credentials, exactly as in production.
    let config = Config {
        listen: args.listen,
        app_id: cloud.app_id(),
        app_password: Secret::new(cloud.app_password()),
        tenant_id: cloud.tenant_id(),
        openid_metadata_url: urls.openid_metadata.parse()?,
        emulator_openid_metadata_url: urls.openid_metadata.parse()?,
        login_url: urls.login.parse()?,
        graph_url: urls.graph.parse()?,
        dataverse_url: urls.dataverse.parse()?,
        store,
        allow_emulator: false,
        admin_role: "System Administrator".into(),
        teams_app_id: Some(
            std::env::var("JOINCHAT_TEAMS_APP_ID")
                .ok()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| cloud.teams_app_id()),
        ),
        admin_chat: None,
        tunables: Tunables::default(),
    };
    let app = App::build(config).await?;
    let bot_url = format!("http://{}", app.local_addr());
    cloud.set_bot_endpoint(format!("{bot_url}/api/messages"));
    // The console's audit view reads the bot's audit stream (empty while the store is down).
    let state = app.state();
    cloud.set_audit_source(Arc::new(move || {
        let state = state.clone();
        Box::pin(async move {
            state
                .store
                .recent_events("audit", 200)
                .await
                .unwrap_or_default()
        })
    }));
    let base = cloud.base_url();
    println!("joinchat sandbox is running");
    println!("  bot:      {bot_url}/api/messages");
    println!("  cloud:    {base}");
    println!("  app id:   {}", cloud.app_id());
    if generated_password {
        // Shown once, here, for running another bot against this cloud; never logged.
        println!(
            "  app password (generated, shown once): {}",
            cloud.app_password()
        );
    }
    println!();
    println!("Open the console to talk to the bot as anyone in the world:");
    println!("  {base}/console");
    println!();
    println!("Or drive it with curl:");
    println!("  curl -s {base}/_sandbox/world");
    println!(
        "  curl -s -X POST {base}/_sandbox/users/alex/say -H 'content-type: application/json' -d '{{\"text\":\"join chat for lead Contoso Coffee expansion\"}}'"
    );
    println!(
        "  curl -s -X POST {base}/_sandbox/users/jo/say -H 'content-type: application/json' -d '{{\"text\":\"join chat for lead Contoso Coffee expansion\"}}'"
    );
    println!();
    println!("Press Ctrl-C to stop.");
    let handle = app.handle();
    let server = actix_web::rt::spawn(app.run_until_stopped());
    wait_for_ctrl_c().await;
    handle.stop(true).await;
    let _ = server.await;
    cloud.stop().await;
    Ok(())
}

fn stop_on_ctrl_c(handle: actix_web::dev::ServerHandle) {
    actix_web::rt::spawn(async move {
        wait_for_ctrl_c().await;
        handle.stop(true).await;
    });
}

async fn wait_for_ctrl_c() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Logs go to stderr: human-readable (colours only on a terminal), or one
/// JSON object a line with `JOINCHAT_LOG_FORMAT=json`. `RUST_LOG` filters.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if std::env::var("JOINCHAT_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}
