//! `joinchat package`: writes the Teams app package, a zip of
//! `manifest.json`, `color.png` and `outline.png`, for an admin to upload
//! (Teams admin center → Manage apps → Upload, or Graph's app catalog).

mod icons;
mod manifest;

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Args;

pub use manifest::MANIFEST_VERSION;

#[derive(Args)]
pub(crate) struct PackageArgs {
    /// The bot's Entra application (client) id: the manifest's botId and webApplicationInfo.
    #[arg(long, env = "JOINCHAT_APP_ID")]
    app_id: String,
    /// The Teams app's id (the manifest `id`); default: a new random GUID.
    /// Keep it across versions of the package so an upload updates the app.
    #[arg(long)]
    teams_app_id: Option<String>,
    /// Where to write the zip.
    #[arg(long, default_value = "joinchat-teams-app.zip")]
    out: PathBuf,
    /// Publisher name shown in Teams' app details.
    #[arg(long, default_value = "joinchat")]
    developer_name: String,
    /// Publisher's website (https).
    #[arg(long, default_value = "https://joinchat.example.com")]
    website_url: String,
    /// Privacy statement (https).
    #[arg(long, default_value = "https://joinchat.example.com/privacy")]
    privacy_url: String,
    /// Terms of use (https).
    #[arg(long, default_value = "https://joinchat.example.com/terms")]
    terms_url: String,
}

pub(crate) fn run(args: PackageArgs) -> anyhow::Result<()> {
    let bot_app = manifest::guid(
        "--app-id",
        &args.app_id,
        "the bot's Entra application (client) id, JOINCHAT_APP_ID",
    )?;
    let teams_app = match &args.teams_app_id {
        Some(id) => manifest::guid("--teams-app-id", id, "the Teams app's id")?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    for (flag, url) in [
        ("--website-url", &args.website_url),
        ("--privacy-url", &args.privacy_url),
        ("--terms-url", &args.terms_url),
    ] {
        if !url.starts_with("https://") {
            anyhow::bail!("{flag} must be an https:// address, not {url:?}");
        }
    }
    let developer = manifest::Developer {
        name: args.developer_name.clone(),
        website_url: args.website_url.clone(),
        privacy_url: args.privacy_url.clone(),
        terms_url: args.terms_url.clone(),
    };
    let ids = manifest::Ids { teams_app, bot_app };
    let manifest = serde_json::to_vec_pretty(&manifest::manifest(&ids, &developer))?;
    write_zip(
        &args.out,
        &[
            ("manifest.json", manifest),
            ("color.png", icons::color_png()),
            ("outline.png", icons::outline_png()),
        ],
    )?;
    println!("wrote {}", args.out.display());
    println!(
        "  Teams app id: {} (manifest {MANIFEST_VERSION})",
        ids.teams_app
    );
    println!("  bot app id:   {}", ids.bot_app);
    if args.teams_app_id.is_none() {
        println!(
            "  pass --teams-app-id {} next time to update this app",
            ids.teams_app
        );
    }
    Ok(())
}

/// Writes the entries to `out` through a temporary file beside it, so a
/// failed run never leaves half a package. Entries carry the zip format's
/// earliest timestamp: the same inputs give the same bytes.
fn write_zip(out: &PathBuf, entries: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let mut partial = out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, bytes) in entries {
        zip.start_file(*name, options)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
