//! The `joinchat` binary: parses the command line, sets up logging and runs
//! the bot (`serve`), the simulated Microsoft cloud (`cloud`) or both wired
//! together (`sandbox`).

use clap::{Parser, Subcommand};
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
    /// Print the version.
    Version,
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
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    println!("joinchat bot listening on http://{}", app.local_addr());
    app.run_until_stopped().await?;
    Ok(())
}

fn init_logging() {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}
