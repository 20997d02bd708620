//! The `joinchat` binary: parses the command line, sets up logging and runs
//! the bot (`serve`), checks its configuration against the real services
//! (`doctor`), the simulated Microsoft cloud (`cloud`) or both wired
//! together by URL only (`sandbox`); writes the Teams app package
//! (`package`); checks a running bot (`healthcheck`). The simulator is built
//! in by the cargo feature `sandbox` (on by default); production builds leave
//! it out.

mod healthcheck;
mod package;
#[cfg(feature = "sandbox")]
mod playground;
#[cfg(feature = "sandbox")]
mod sandbox;

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use joinchat::{
    config::{Config, ServeArgs},
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
    /// Check `serve`'s configuration against the real services (exit 0: all passed).
    Doctor(ServeArgs),
    /// Run the simulated Microsoft cloud alone (for `serve` or another bot).
    Cloud(CloudArgs),
    /// Run the simulated cloud and the bot together: the whole product, no accounts.
    Sandbox(SandboxArgs),
    /// Write the Teams app package (manifest.json and icons) for this bot.
    Package(package::PackageArgs),
    /// Exit 0 when the bot on this machine answers /healthz (container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Print the version.
    Version,
}

#[derive(Args)]
pub(crate) struct CloudArgs {
    /// Address of the simulated cloud.
    #[arg(long, default_value = "127.0.0.1:3979")]
    pub(crate) listen: SocketAddr,
    /// World file (TOML); default: the built-in Contoso demo world.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Where simulated Teams posts activities.
    #[arg(
        long,
        env = "JOINCHAT_BOT_ENDPOINT",
        default_value = "http://127.0.0.1:3978/api/messages"
    )]
    pub(crate) bot_endpoint: String,
}

#[derive(Args)]
pub(crate) struct SandboxArgs {
    /// Address of the bot.
    #[arg(long, default_value = "127.0.0.1:3978")]
    pub(crate) listen: SocketAddr,
    /// Address of the simulated cloud (console and control API).
    #[arg(long, default_value = "127.0.0.1:3979")]
    pub(crate) cloud_listen: SocketAddr,
    /// World file (TOML); default: the built-in Contoso demo world.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Anonymous local mode for Microsoft 365 Agents Playground (README: "Microsoft's own client").
    #[arg(long)]
    pub(crate) playground: bool,
    /// The world user the Playground's current user is (default: the world's first user).
    #[arg(long, value_name = "KEY", requires = "playground")]
    pub(crate) playground_user: Option<String>,
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
        Command::Package(args) => package::run(args),
        Command::Healthcheck(args) => healthcheck::run(args),
        Command::Doctor(args) => {
            let report = actix_web::rt::System::new().block_on(joinchat::doctor::run_args(args));
            print!("{report}");
            std::process::exit(if report.passed() { 0 } else { 1 });
        }
        Command::Cloud(args) => simulator(|| run(sandbox::cloud(args))),
        Command::Sandbox(args) => simulator(|| run(sandbox::sandbox(args))),
    };
    if let Err(error) = result {
        eprintln!("joinchat: {error:#}");
        std::process::exit(2);
    }
}

/// Runs a simulator command, or says in one line that this build has none.
#[cfg(feature = "sandbox")]
fn simulator(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    command()
}

#[cfg(not(feature = "sandbox"))]
fn simulator(_command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    anyhow::bail!("this joinchat was built without the simulator (cargo feature `sandbox`)")
}

#[cfg(not(feature = "sandbox"))]
mod sandbox {
    pub async fn cloud(_: super::CloudArgs) -> anyhow::Result<()> {
        unreachable!("built without the simulator")
    }
    pub async fn sandbox(_: super::SandboxArgs) -> anyhow::Result<()> {
        unreachable!("built without the simulator")
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

pub(crate) fn stop_on_ctrl_c(handle: actix_web::dev::ServerHandle) {
    actix_web::rt::spawn(async move {
        wait_for_ctrl_c().await;
        handle.stop(true).await;
    });
}

pub(crate) async fn wait_for_ctrl_c() {
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
