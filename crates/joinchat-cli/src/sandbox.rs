//! `joinchat cloud` and `joinchat sandbox`: the simulated Microsoft cloud,
//! alone or with the bot wired to it by URL only, exactly as in production.
//! `joinchat sandbox --playground` adds the anonymous local mode for the
//! Microsoft 365 Agents Playground (`playground`).

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use joinchat::{
    config::{Config, ServeArgs},
    App,
};
use joinchat_sandbox::{Cloud, CloudOptions, World};

use crate::{playground, wait_for_ctrl_c, CloudArgs, SandboxArgs};

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

/// The variable both the cloud's webhook registration and the bot read.
const WEBHOOK_KEY: &str = "JOINCHAT_DATAVERSE_WEBHOOK_KEY";

/// What `start_cloud` generated because the environment left it out.
struct Generated {
    password: bool,
    webhook_key: bool,
}

/// Starts the simulated cloud with the app registration and the Dataverse
/// webhook key from the environment (each generated when absent).
async fn start_cloud(
    world: Option<&PathBuf>,
    listen: SocketAddr,
    bot_endpoint: Option<String>,
) -> anyhow::Result<(Cloud, Generated)> {
    let world = load_world(world)?;
    let (app_id, app_password) = app_registration();
    let webhook_key = std::env::var(WEBHOOK_KEY)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let generated = Generated {
        password: app_password.is_none(),
        webhook_key: webhook_key.is_none(),
    };
    let options = CloudOptions {
        listen,
        app_id,
        app_password,
        bot_endpoint,
        dataverse_webhook_key: webhook_key,
    };
    Ok((Cloud::start(world, options).await?, generated))
}

pub async fn cloud(args: CloudArgs) -> anyhow::Result<()> {
    let (cloud, generated) = start_cloud(
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
    if generated.password {
        // Printed once, to this terminal only, so a separate `serve` can use it.
        println!("  JOINCHAT_APP_PASSWORD='{}' \\", cloud.app_password());
    } else {
        println!("  JOINCHAT_APP_PASSWORD=(as set) \\");
    }
    if generated.webhook_key {
        // The key the simulated Dataverse's webhook sends as `?code=`: once, here.
        println!("  {WEBHOOK_KEY}='{}' \\", cloud.dataverse_webhook_key());
    } else {
        println!("  {WEBHOOK_KEY}=(as set) \\");
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

pub async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    if args.playground {
        playground::refuse_unsafe_setup(args.listen, app_registration().1.is_some())?;
    }
    let (cloud, generated) = start_cloud(args.world.as_ref(), args.cloud_listen, None).await?;
    if generated.webhook_key {
        // The bot reads the key from the environment, as `serve` does: the
        // one the cloud generated is put there before the bot's config is
        // read, while nothing else reads the environment yet.
        std::env::set_var(WEBHOOK_KEY, cloud.dataverse_webhook_key());
    }
    // The Playground reads its people from this file when it starts, so it
    // is in place before the bot listens.
    let mock_tenant = if args.playground {
        let (yaml, cast) = playground::mock_tenant(
            cloud.world(),
            &cloud.app_id(),
            args.playground_user.as_deref(),
        )?;
        let dir = std::env::current_dir().context("no working directory")?;
        Some((playground::write_mock_tenant(&dir, &yaml)?, cast))
    } else {
        None
    };
    let urls = cloud.urls();
    // The bot learns only URLs and credentials, exactly as in production;
    // everything else comes from the environment as for `joinchat serve`.
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = Config::from_args(ServeArgs {
        listen: Some(args.listen.to_string()),
        app_id: Some(cloud.app_id()),
        app_password: Some(cloud.app_password()),
        tenant_id: Some(cloud.tenant_id()),
        openid_metadata_url: Some(urls.openid_metadata.clone()),
        emulator_openid_metadata_url: Some(urls.openid_metadata.clone()),
        login_url: Some(urls.login.clone()),
        graph_url: Some(urls.graph.clone()),
        dataverse_url: Some(urls.dataverse.clone()),
        redis_url: env("JOINCHAT_REDIS_URL"),
        redis_prefix: env("JOINCHAT_REDIS_PREFIX"),
        allow_emulator: None,
        admin_role: env("JOINCHAT_ADMIN_ROLE"),
        teams_app_id: Some(env("JOINCHAT_TEAMS_APP_ID").unwrap_or_else(|| cloud.teams_app_id())),
        admin_chat: env("JOINCHAT_ADMIN_CHAT"),
        cold_looks_per_minute: env("JOINCHAT_COLD_LOOKS_PER_MINUTE"),
        tenant_cold_looks_per_minute: env("JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE"),
        dataverse_webhook_key: env("JOINCHAT_DATAVERSE_WEBHOOK_KEY"),
        dataverse_webhook_header: env("JOINCHAT_DATAVERSE_WEBHOOK_HEADER"),
        // People the bot reaches through Graph get their 1:1 chat on the
        // simulated Connector, as they would on Teams' own.
        service_url: Some(urls.connector.clone()),
    })?;
    config.playground = args.playground;
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
    if let Some((path, cast)) = &mock_tenant {
        print_playground(&bot_url, &base, path, cast);
    } else {
        print_sandbox(&bot_url, &cloud, generated.password);
    }
    let handle = app.handle();
    let server = actix_web::rt::spawn(app.run_until_stopped());
    wait_for_ctrl_c().await;
    handle.stop(true).await;
    let _ = server.await;
    cloud.stop().await;
    Ok(())
}

fn print_playground(bot_url: &str, base: &str, mock_tenant: &std::path::Path, cast: &str) {
    println!("joinchat sandbox is running in the ANONYMOUS PLAYGROUND MODE");
    println!("  bot:      {bot_url}/api/messages  (takes activities without a token, from this machine only)");
    println!("  cloud:    {base}");
    println!(
        "  mock tenant for the Playground: {}",
        mock_tenant.display()
    );
    println!("            ({cast})");
    println!();
    println!("Start Microsoft 365 Agents Playground from this directory (evaluation licence; telemetry off):");
    println!(
        "  TEAMSAPPTESTER_BROWSER=none APPLICATION_INSIGHTS_NO_STATSBEAT=true \\\n    \
         npx -y @microsoft/m365agentsplayground@{} -e {bot_url}/api/messages -c msteams --disable-telemetry",
        playground::PLAYGROUND_VERSION
    );
    println!("then open the address it prints (http://localhost:56150) and type: join chat for lead Contoso Coffee expansion");
    println!("Watch the chat's members change in the console: {base}/console");
    println!();
    println!("Press Ctrl-C to stop.");
}

fn print_sandbox(bot_url: &str, cloud: &Cloud, generated_password: bool) {
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
}
