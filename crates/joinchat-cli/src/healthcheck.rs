//! `joinchat healthcheck`: GETs the local bot's `/healthz` and exits 0 on a
//! 200, non-zero otherwise: the container image's HEALTHCHECK (the image has
//! no shell and no curl). Plain HTTP/1.1 over std's TCP, nothing else.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use clap::Args;

#[derive(Args)]
pub(crate) struct HealthcheckArgs {
    /// The bot's listen address; an unspecified address (0.0.0.0, [::]) is
    /// checked on loopback.
    #[arg(long, env = "JOINCHAT_LISTEN", default_value = "127.0.0.1:3978")]
    listen: SocketAddr,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

pub(crate) fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let mut target = args.listen;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let status = get_status(target, "/healthz", timeout)
        .map_err(|error| anyhow::anyhow!("healthcheck: http://{target}/healthz: {error}"))?;
    if status != 200 {
        anyhow::bail!("healthcheck: http://{target}/healthz answered {status}");
    }
    Ok(())
}

fn get_status(target: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    // "HTTP/1.1 200 OK": the status is the second word of the first line.
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
