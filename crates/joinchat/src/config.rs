//! Typed configuration for `joinchat serve`, parsed once at start-up.
//!
//! Every value comes from a `JOINCHAT_*` environment variable (flags mirror
//! them). A missing or malformed value stops the process with one line that
//! names the variable. Secrets live in [`Secret`], whose `Debug` and `Display`
//! never show the value.

use std::{fmt, net::SocketAddr, time::Duration};

use url::Url;

use crate::{domain::ChatId, store::Bucket};

/// The public Bot Framework OpenID metadata for channel tokens.
pub const BOT_FRAMEWORK_OPENID_METADATA: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// Entra's multi-tenant OpenID metadata, which signs Emulator tokens.
pub const EMULATOR_OPENID_METADATA: &str =
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";

/// The prefix of every store key unless `JOINCHAT_REDIS_PREFIX` says otherwise.
pub const DEFAULT_REDIS_PREFIX: &str = "jc:";
/// The Dataverse security role whose holders may flip the Join chat switch
/// unless `JOINCHAT_ADMIN_ROLE` says otherwise.
pub const DEFAULT_ADMIN_ROLE: &str = "System Administrator";

/// The header that carries the webhook key when Dataverse authenticates with
/// `HttpHeader`, unless `JOINCHAT_DATAVERSE_WEBHOOK_HEADER` says otherwise.
pub const DEFAULT_WEBHOOK_HEADER: &str = "x-joinchat-webhook-key";
/// Shorter webhook keys are refused: the key is all that stands between
/// anyone on the network and a card sent in the bot's name.
pub const MIN_WEBHOOK_KEY_CHARS: usize = 16;

/// A value that must never reach a log line, an error or a card.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The only way to read the value: call it where it is sent, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the bot keeps its cache, dedupe marks and locks.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// One replica, everything in this process.
    Memory,
    /// Shared by every replica. The URL may hold a password, hence `Secret`.
    Redis { url: Secret, prefix: String },
    /// A Redis Cluster, reached through any of its seed nodes (one
    /// `redis://` or `rediss://` URL each, credentials included).
    RedisCluster { nodes: Vec<Secret>, prefix: String },
}

/// How Dataverse's webhook calls (`POST /api/dataverse`) authenticate: the
/// key as `?code=` (Dataverse's WebhookKey) or in a header (HttpHeader).
#[derive(Clone, Debug)]
pub struct DataverseWebhook {
    pub key: Secret,
    /// The header's name, lower-case.
    pub header: String,
}

/// Everything `App::build` needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub app_id: String,
    pub app_password: Secret,
    pub tenant_id: String,
    pub openid_metadata_url: Url,
    pub emulator_openid_metadata_url: Url,
    pub login_url: Url,
    pub graph_url: Url,
    pub dataverse_url: Url,
    pub store: StoreConfig,
    pub allow_emulator: bool,
    /// The Dataverse security role whose holders may flip the Join chat switch.
    pub admin_role: String,
    /// The Teams app catalog id, used to install the bot into a chat.
    pub teams_app_id: Option<String>,
    /// A chat of the admins where "ask your admin" requests go (else 1:1s).
    pub admin_chat: Option<ChatId>,
    /// The Dataverse webhook endpoint's key; `None`: the endpoint is off.
    pub dataverse_webhook: Option<DataverseWebhook>,
    /// The Bot Connector for 1:1 chats found through Graph (people who never
    /// talked to the bot); `None`: the one learnt from activities.
    pub service_url: Option<String>,
    /// The anonymous local mode for the Microsoft 365 Agents Playground
    /// (`auth::local`). No variable or flag sets it: `from_args` always says
    /// no, so `joinchat serve` can never run in it; only `joinchat sandbox
    /// --playground` turns it on, and `App::build` refuses it off loopback.
    pub playground: bool,
    pub tunables: Tunables,
}

/// Timings with production defaults; tests shorten some of them.
#[derive(Clone, Debug)]
pub struct Tunables {
    /// Full refresh of the signing keys.
    pub keys_refresh_interval: Duration,
    /// Minimum time between two refreshes caused by an unknown `kid`.
    pub unknown_kid_cooldown: Duration,
    /// Time budget for outbound calls made while answering one activity.
    pub outbound_budget: Duration,
    /// Time budget for the work of one Dataverse webhook call (Dataverse
    /// waits for the answer).
    pub webhook_budget: Duration,
    /// Timeout of one outbound HTTP request.
    pub http_timeout: Duration,
    /// Commands and card actions (refreshes aside) one person may send per
    /// minute: each reaches Dataverse, whose service protection limits are
    /// shared by everyone using the bot.
    pub actions_per_minute: u64,
    /// Cold card refreshes and shows (those that read Dataverse or Graph)
    /// one person may make: a bucket of this many, refilled at this rate a
    /// minute (`JOINCHAT_COLD_LOOKS_PER_MINUTE`). Warm ones are free.
    pub cold_looks_per_person: Bucket,
    /// The same for everyone in the tenant together
    /// (`JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE`): the app user's Dataverse
    /// quota (6,000 requests per 5 minutes) is shared by all.
    pub cold_looks_per_tenant: Bucket,
}

/// Default of `JOINCHAT_COLD_LOOKS_PER_MINUTE`.
pub const DEFAULT_COLD_LOOKS_PER_PERSON: u32 = 20;
/// Default of `JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE`: with about five
/// Dataverse requests a cold look, about half the app user's quota.
pub const DEFAULT_COLD_LOOKS_PER_TENANT: u32 = 120;

fn bucket(per_minute: u32) -> Bucket {
    Bucket {
        capacity: per_minute,
        per_minute,
    }
}

impl Default for Tunables {
    fn default() -> Tunables {
        Tunables {
            keys_refresh_interval: Duration::from_secs(24 * 3600),
            unknown_kid_cooldown: Duration::from_secs(30),
            outbound_budget: Duration::from_secs(8),
            webhook_budget: Duration::from_secs(5),
            http_timeout: Duration::from_secs(5),
            actions_per_minute: 60,
            cold_looks_per_person: bucket(DEFAULT_COLD_LOOKS_PER_PERSON),
            cold_looks_per_tenant: bucket(DEFAULT_COLD_LOOKS_PER_TENANT),
        }
    }
}

/// A configuration problem, always naming the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; it is required")]
    Missing(&'static str),
    #[error("{var} is invalid: {problem}")]
    Invalid { var: &'static str, problem: String },
}

/// The raw values, as the command line and environment gave them.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JOINCHAT_LISTEN")]
    pub listen: Option<String>,
    /// The bot's Microsoft App ID.
    #[arg(long, env = "JOINCHAT_APP_ID")]
    pub app_id: Option<String>,
    /// The bot's client secret (prefer the environment variable).
    #[arg(long, env = "JOINCHAT_APP_PASSWORD", hide_env_values = true)]
    pub app_password: Option<String>,
    /// The Entra tenant the bot serves.
    #[arg(long, env = "JOINCHAT_TENANT_ID")]
    pub tenant_id: Option<String>,
    #[arg(long, env = "JOINCHAT_OPENID_METADATA_URL")]
    pub openid_metadata_url: Option<String>,
    #[arg(long, env = "JOINCHAT_EMULATOR_OPENID_METADATA_URL")]
    pub emulator_openid_metadata_url: Option<String>,
    #[arg(long, env = "JOINCHAT_LOGIN_URL")]
    pub login_url: Option<String>,
    #[arg(long, env = "JOINCHAT_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// The Dataverse organisation URL, e.g. https://contoso.crm.dynamics.com
    #[arg(long, env = "JOINCHAT_DATAVERSE_URL")]
    pub dataverse_url: Option<String>,
    /// redis:// or rediss:// URL, or redis+cluster://host:port,host:port (or
    /// rediss+cluster://) for a Redis Cluster; absent means the in-process store.
    #[arg(long, env = "JOINCHAT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (default `jc:`).
    #[arg(long, env = "JOINCHAT_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Accept Bot Framework Emulator tokens as well (development only).
    #[arg(long, env = "JOINCHAT_ALLOW_EMULATOR")]
    pub allow_emulator: Option<String>,
    /// Security role that may change the Join chat switch.
    #[arg(long, env = "JOINCHAT_ADMIN_ROLE")]
    pub admin_role: Option<String>,
    /// Teams app catalog id, to install the bot into chats that lack it.
    #[arg(long, env = "JOINCHAT_TEAMS_APP_ID")]
    pub teams_app_id: Option<String>,
    /// Teams chat id (19:…) of the admins, where "ask your admin" requests go.
    #[arg(long, env = "JOINCHAT_ADMIN_CHAT")]
    pub admin_chat: Option<String>,
    /// Cold card refreshes and shows one person may make a minute (default 20).
    #[arg(long, env = "JOINCHAT_COLD_LOOKS_PER_MINUTE")]
    pub cold_looks_per_minute: Option<String>,
    /// Cold card refreshes and shows the whole tenant may make a minute (default 120).
    #[arg(long, env = "JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE")]
    pub tenant_cold_looks_per_minute: Option<String>,
    /// The key Dataverse's webhook registration sends (prefer the environment
    /// variable); absent, `POST /api/dataverse` is off.
    #[arg(long, env = "JOINCHAT_DATAVERSE_WEBHOOK_KEY", hide_env_values = true)]
    pub dataverse_webhook_key: Option<String>,
    /// The header carrying that key for HttpHeader authentication.
    #[arg(long, env = "JOINCHAT_DATAVERSE_WEBHOOK_HEADER")]
    pub dataverse_webhook_header: Option<String>,
    /// Bot Connector serviceUrl for reaching people who never talked to the bot.
    #[arg(long, env = "JOINCHAT_SERVICE_URL")]
    pub service_url: Option<String>,
}

impl Config {
    pub fn from_args(args: ServeArgs) -> Result<Config, ConfigError> {
        let listen = match non_empty(args.listen) {
            None => SocketAddr::from(([127, 0, 0, 1], 3978)),
            Some(raw) => raw.parse().map_err(|_| ConfigError::Invalid {
                var: "JOINCHAT_LISTEN",
                problem: format!("{raw:?} is not an address like 127.0.0.1:3978"),
            })?,
        };
        let app_id = required(args.app_id, "JOINCHAT_APP_ID")?;
        let app_password = Secret::new(required(args.app_password, "JOINCHAT_APP_PASSWORD")?);
        let tenant_id = required(args.tenant_id, "JOINCHAT_TENANT_ID")?;
        if tenant_id.contains(['/', '?', '#', ' ']) {
            return Err(ConfigError::Invalid {
                var: "JOINCHAT_TENANT_ID",
                problem: "expected a tenant id (GUID) or domain".into(),
            });
        }
        let store = StoreConfig::parse(args.redis_url, args.redis_prefix)?;
        let allow_emulator = match non_empty(args.allow_emulator).as_deref() {
            None => false,
            Some("1" | "true" | "on" | "yes") => true,
            Some("0" | "false" | "off" | "no") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "JOINCHAT_ALLOW_EMULATOR",
                    problem: format!("{other:?} is not true or false"),
                })
            }
        };
        Ok(Config {
            listen,
            app_id,
            app_password,
            tenant_id,
            openid_metadata_url: url_or(
                args.openid_metadata_url,
                "JOINCHAT_OPENID_METADATA_URL",
                BOT_FRAMEWORK_OPENID_METADATA,
            )?,
            emulator_openid_metadata_url: url_or(
                args.emulator_openid_metadata_url,
                "JOINCHAT_EMULATOR_OPENID_METADATA_URL",
                EMULATOR_OPENID_METADATA,
            )?,
            login_url: url_or(
                args.login_url,
                "JOINCHAT_LOGIN_URL",
                "https://login.microsoftonline.com",
            )?,
            graph_url: url_or(
                args.graph_url,
                "JOINCHAT_GRAPH_URL",
                "https://graph.microsoft.com",
            )?,
            dataverse_url: parse_url(
                required(args.dataverse_url, "JOINCHAT_DATAVERSE_URL")?,
                "JOINCHAT_DATAVERSE_URL",
            )?,
            store,
            allow_emulator,
            admin_role: non_empty(args.admin_role).unwrap_or_else(|| DEFAULT_ADMIN_ROLE.into()),
            teams_app_id: non_empty(args.teams_app_id),
            admin_chat: match non_empty(args.admin_chat) {
                None => None,
                Some(raw) => Some(ChatId::parse(&raw).map_err(|_| ConfigError::Invalid {
                    var: "JOINCHAT_ADMIN_CHAT",
                    problem: "expected a Teams chat id like 19:…@thread.v2".into(),
                })?),
            },
            dataverse_webhook: webhook(args.dataverse_webhook_key, args.dataverse_webhook_header)?,
            service_url: match non_empty(args.service_url) {
                None => None,
                Some(raw) => Some(parse_url(raw, "JOINCHAT_SERVICE_URL")?.to_string()),
            },
            playground: false,
            tunables: Tunables {
                cold_looks_per_person: bucket(per_minute(
                    args.cold_looks_per_minute,
                    "JOINCHAT_COLD_LOOKS_PER_MINUTE",
                    DEFAULT_COLD_LOOKS_PER_PERSON,
                )?),
                cold_looks_per_tenant: bucket(per_minute(
                    args.tenant_cold_looks_per_minute,
                    "JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE",
                    DEFAULT_COLD_LOOKS_PER_TENANT,
                )?),
                ..Tunables::default()
            },
        })
    }
}

/// A positive count a minute, or the default when unset.
fn per_minute(value: Option<String>, var: &'static str, default: u32) -> Result<u32, ConfigError> {
    match non_empty(value) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                problem: format!("{raw:?} is not a whole number above 0"),
            }),
        },
    }
}

/// From `JOINCHAT_DATAVERSE_WEBHOOK_KEY` and `JOINCHAT_DATAVERSE_WEBHOOK_HEADER`.
fn webhook(
    key: Option<String>,
    header: Option<String>,
) -> Result<Option<DataverseWebhook>, ConfigError> {
    let header = match non_empty(header) {
        None => DEFAULT_WEBHOOK_HEADER.to_owned(),
        Some(raw) => {
            let name = raw.to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::Invalid {
                    var: "JOINCHAT_DATAVERSE_WEBHOOK_HEADER",
                    problem: format!("{raw:?} is not an HTTP header name"),
                });
            }
            name
        }
    };
    let Some(key) = non_empty(key) else {
        return Ok(None);
    };
    if key.chars().count() < MIN_WEBHOOK_KEY_CHARS {
        return Err(ConfigError::Invalid {
            var: "JOINCHAT_DATAVERSE_WEBHOOK_KEY",
            problem: format!("shorter than {MIN_WEBHOOK_KEY_CHARS} characters"),
        });
    }
    Ok(Some(DataverseWebhook {
        key: Secret::new(key),
        header,
    }))
}

const REDIS_URL_FORMS: &str =
    "expected redis://host:port/db, rediss://…, or redis+cluster://host:port,host:port (rediss+cluster:// with TLS) for a Redis Cluster";

impl StoreConfig {
    /// From `JOINCHAT_REDIS_URL` and `JOINCHAT_REDIS_PREFIX`.
    pub fn parse(url: Option<String>, prefix: Option<String>) -> Result<StoreConfig, ConfigError> {
        store_config(url, prefix)
    }
}

fn store_config(url: Option<String>, prefix: Option<String>) -> Result<StoreConfig, ConfigError> {
    let Some(raw) = non_empty(url) else {
        return Ok(StoreConfig::Memory);
    };
    let invalid = |problem: String| ConfigError::Invalid {
        var: "JOINCHAT_REDIS_URL",
        problem,
    };
    let prefix = non_empty(prefix).unwrap_or_else(|| DEFAULT_REDIS_PREFIX.into());
    let scheme = raw.split_once("://").map(|(scheme, _)| scheme);
    if let Some(scheme @ ("redis+cluster" | "rediss+cluster")) = scheme {
        let nodes = cluster_nodes(&raw)
            .map_err(|problem| invalid(format!("{problem} ({REDIS_URL_FORMS})")))?;
        if crate::store::keys::cluster_prefix(&prefix).is_none() {
            return Err(ConfigError::Invalid {
                var: "JOINCHAT_REDIS_PREFIX",
                problem: format!(
                    "with {scheme}:// the prefix becomes a hash tag: it needs a name and no braces, like jc:"
                ),
            });
        }
        return Ok(StoreConfig::RedisCluster { nodes, prefix });
    }
    let parsed = Url::parse(&raw).map_err(|_| invalid(format!("not a URL ({REDIS_URL_FORMS})")))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(invalid(format!(
            "scheme {:?} is not redis, rediss, redis+cluster or rediss+cluster",
            parsed.scheme()
        )));
    }
    Ok(StoreConfig::Redis {
        url: Secret::new(raw),
        prefix,
    })
}

/// `redis+cluster://[user[:password]@]host[:port][,host[:port]…][/]` → one
/// seed URL per node, `redis://` (or `rediss://` from `rediss+cluster://`),
/// each with the credentials. A cluster has no database number.
fn cluster_nodes(raw: &str) -> Result<Vec<Secret>, String> {
    let (scheme, rest) = raw.split_once("://").ok_or("not a URL")?;
    let scheme = scheme.strip_suffix("+cluster").ok_or("not a cluster URL")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err("a cluster URL names nodes only: no database, path or options".into());
    }
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (Some(credentials), hosts),
        None => (None, rest),
    };
    let mut nodes = Vec::new();
    for host in hosts.split(',').map(str::trim) {
        if host.is_empty() {
            return Err("an empty node in the list".into());
        }
        let node = match credentials {
            Some(credentials) => format!("{scheme}://{credentials}@{host}"),
            None => format!("{scheme}://{host}"),
        };
        let url = Url::parse(&node).map_err(|_| "a node is not host:port".to_owned())?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("a node is not host:port".into());
        }
        nodes.push(Secret::new(node));
    }
    Ok(nodes)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(value: Option<String>, var: &'static str) -> Result<String, ConfigError> {
    non_empty(value).ok_or(ConfigError::Missing(var))
}

fn url_or(value: Option<String>, var: &'static str, default: &str) -> Result<Url, ConfigError> {
    parse_url(non_empty(value).unwrap_or_else(|| default.to_owned()), var)
}

fn parse_url(raw: String, var: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(&raw).map_err(|e| ConfigError::Invalid {
        var,
        problem: format!("{raw:?} is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid {
            var,
            problem: format!("{raw:?} is not an http(s) URL"),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> ServeArgs {
        ServeArgs {
            app_id: Some("app".into()),
            app_password: Some("hunter2-secret".into()),
            tenant_id: Some("tenant".into()),
            dataverse_url: Some("https://contoso.crm.dynamics.com".into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn defaults_fill_everything_optional() {
        let config = Config::from_args(complete()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3978");
        assert_eq!(
            config.tunables.cold_looks_per_person,
            bucket(DEFAULT_COLD_LOOKS_PER_PERSON)
        );
        let tuned = Config::from_args(ServeArgs {
            cold_looks_per_minute: Some("5".into()),
            tenant_cold_looks_per_minute: Some(" 900 ".into()),
            ..complete()
        })
        .unwrap();
        assert_eq!(tuned.tunables.cold_looks_per_person, bucket(5));
        assert_eq!(tuned.tunables.cold_looks_per_tenant, bucket(900));
        assert_eq!(
            config.openid_metadata_url.as_str(),
            BOT_FRAMEWORK_OPENID_METADATA
        );
        assert_eq!(
            config.login_url.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert!(matches!(config.store, StoreConfig::Memory));
        assert!(config.dataverse_webhook.is_none(), "the webhook is off");
        assert!(config.service_url.is_none());
        assert!(!config.allow_emulator);
        assert!(!config.playground, "serve never runs the anonymous mode");
    }

    #[test]
    #[rustfmt::skip]
    fn every_bad_value_names_its_variable() {
        type Breakage = fn(&mut ServeArgs);
        let cases: [(Breakage, &str); 20] = [
            (|a| a.dataverse_webhook_key = Some("short".into()), "JOINCHAT_DATAVERSE_WEBHOOK_KEY"),
            (|a| a.dataverse_webhook_header = Some("x bad".into()), "JOINCHAT_DATAVERSE_WEBHOOK_HEADER"),
            (|a| a.service_url = Some("smba".into()), "JOINCHAT_SERVICE_URL"),
            (|a| a.redis_url = Some("redis+cluster://".into()), "JOINCHAT_REDIS_URL"),
            (|a| a.redis_url = Some("redis+cluster://a:1,,b:2".into()), "JOINCHAT_REDIS_URL"),
            (|a| a.redis_url = Some("redis+cluster://a:1/0".into()), "JOINCHAT_REDIS_URL"),
            (|a| a.redis_url = Some("redis+cluster://a:port".into()), "JOINCHAT_REDIS_URL"),
            (|a| a.redis_url = Some("memcached://a:1".into()), "JOINCHAT_REDIS_URL"),
            (|a| {
                a.redis_url = Some("redis+cluster://a:1".into());
                a.redis_prefix = Some("{jc}:".into());
            }, "JOINCHAT_REDIS_PREFIX"),
            (|a| a.app_id = None, "JOINCHAT_APP_ID"),
            (|a| a.app_password = Some("  ".into()), "JOINCHAT_APP_PASSWORD"),
            (|a| a.tenant_id = None, "JOINCHAT_TENANT_ID"),
            (|a| a.dataverse_url = None, "JOINCHAT_DATAVERSE_URL"),
            (|a| a.listen = Some("localhost".into()), "JOINCHAT_LISTEN"),
            (|a| a.cold_looks_per_minute = Some("0".into()), "JOINCHAT_COLD_LOOKS_PER_MINUTE"),
            (|a| a.cold_looks_per_minute = Some("-3".into()), "JOINCHAT_COLD_LOOKS_PER_MINUTE"),
            (|a| a.tenant_cold_looks_per_minute = Some("many".into()), "JOINCHAT_TENANT_COLD_LOOKS_PER_MINUTE"),
            (|a| a.graph_url = Some("ftp://x".into()), "JOINCHAT_GRAPH_URL"),
            (|a| a.redis_url = Some("http://x".into()), "JOINCHAT_REDIS_URL"),
            (|a| a.allow_emulator = Some("maybe".into()), "JOINCHAT_ALLOW_EMULATOR"),
        ];
        for (break_it, var) in cases {
            let mut args = complete();
            break_it(&mut args);
            let message = Config::from_args(args).unwrap_err().to_string();
            assert!(message.contains(var), "{message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn a_cluster_url_names_its_seed_nodes_each_with_the_credentials() {
        let mut args = complete();
        args.redis_url =
            Some("rediss+cluster://:s3cret@10.0.0.1:7000, [::1]:7001,redis.local".into());
        let config = Config::from_args(args).unwrap();
        let StoreConfig::RedisCluster { nodes, prefix } = config.store else {
            panic!("not a cluster: {:?}", config.store);
        };
        let nodes: Vec<&str> = nodes.iter().map(Secret::expose).collect();
        assert_eq!(
            nodes,
            [
                "rediss://:s3cret@10.0.0.1:7000",
                "rediss://:s3cret@[::1]:7001",
                "rediss://:s3cret@redis.local"
            ]
        );
        assert_eq!(prefix, DEFAULT_REDIS_PREFIX);
        let shown = format!(
            "{:?}",
            Config::from_args(ServeArgs {
                redis_url: Some("redis+cluster://:s3cret@h:1".into()),
                ..complete()
            })
            .unwrap()
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut args = complete();
        args.redis_url = Some("redis://:p4ssw0rd@127.0.0.1:6379/0".into());
        args.dataverse_webhook_key = Some("w3bh00k-k3y-0123456789".into());
        let config = Config::from_args(args).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2-secret"));
        assert!(!shown.contains("p4ssw0rd"));
        assert!(!shown.contains("w3bh00k"));
    }

    #[test]
    fn a_webhook_key_turns_the_endpoint_on_with_its_header() {
        let mut args = complete();
        args.dataverse_webhook_key = Some("  0123456789abcdef  ".into());
        let webhook = Config::from_args(args.clone())
            .unwrap()
            .dataverse_webhook
            .unwrap();
        assert_eq!(webhook.key.expose(), "0123456789abcdef");
        assert_eq!(webhook.header, DEFAULT_WEBHOOK_HEADER);
        args.dataverse_webhook_header = Some("X-Dataverse-Key".into());
        let webhook = Config::from_args(args).unwrap().dataverse_webhook.unwrap();
        assert_eq!(webhook.header, "x-dataverse-key");
    }
}
