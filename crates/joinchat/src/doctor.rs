//! `joinchat doctor`: the configuration `joinchat serve` would run with,
//! checked against the real services, one line per check with the fix.
//!
//! Checks, in order: the channel's OpenID metadata and signing keys; a token
//! for each scope the bot uses (Bot Connector, Graph, Dataverse); the Graph
//! application permissions in the Graph token's `roles` against
//! [`permissions::GRAPH_APPLICATION_PERMISSIONS`] (one line per permission, so
//! each missing one is named); Dataverse `WhoAmI` and read access to every
//! table the bot reads; the Dataverse webhook's registration when the bot is
//! configured to receive it (`webhook`); Redis when it is configured. It uses the bot's own
//! clients (auth, Dataverse, store), so it sees exactly what `serve` would.
//! Nothing is written anywhere, and no secret or token is printed.

use std::fmt;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

mod webhook;

use crate::{
    auth::{
        outbound::{CONNECTOR_SCOPE, GRAPH_SCOPE},
        KeySource, TokenError, TokenSource,
    },
    clients::dataverse::{DataverseClient, DataverseError, TABLES_READ},
    config::{Config, ServeArgs, StoreConfig},
    permissions::{self, GraphPermission},
    store::Store,
};

/// How long one check may take.
const CHECK_BUDGET: Duration = Duration::from_secs(10);

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// What was found (pass) or what is wrong (fail).
    pub detail: String,
    /// What to do about it; `None` when the check passed.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn passed(&self) -> bool {
        self.fix.is_none()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fix {
            None => write!(f, "ok    {}: {}", self.name, self.detail),
            Some(fix) => write!(f, "FAIL  {}: {}. Fix: {}", self.name, self.detail, fix),
        }
    }
}

/// Every check, in the order run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        let failed = self.checks.iter().filter(|c| !c.passed()).count();
        match failed {
            0 => writeln!(
                f,
                "joinchat doctor: all {} checks passed",
                self.checks.len()
            ),
            n => writeln!(
                f,
                "joinchat doctor: {n} of {} checks failed",
                self.checks.len()
            ),
        }
    }
}

/// The doctor for the configuration `serve` would read from these arguments
/// (and the environment); a configuration error is the one failing check.
pub async fn run_args(args: ServeArgs) -> Report {
    match Config::from_args(args) {
        Ok(config) => run(&config).await,
        Err(error) => Report {
            checks: vec![Check::fail(
                "configuration",
                error.to_string(),
                "set the variable as README's table describes (the same as for `joinchat serve`)",
            )],
        },
    }
}

pub async fn run(config: &Config) -> Report {
    let http = match reqwest::Client::builder()
        .timeout(CHECK_BUDGET)
        .connect_timeout(Duration::from_secs(3))
        .user_agent(concat!("joinchat-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(_) => {
            return Report {
                checks: vec![Check::fail(
                    "HTTP client",
                    "could not be built",
                    "check the system's TLS setup",
                )],
            }
        }
    };
    let mut checks = vec![signing_keys(&http, config).await];
    let tokens = TokenSource::for_app(http.clone(), config);
    let dataverse = DataverseClient::new(http.clone(), tokens.clone(), &config.dataverse_url);
    let mut graph_token = None;
    for scope in [CONNECTOR_SCOPE, GRAPH_SCOPE, dataverse.scope()] {
        let name = format!("token for {scope}");
        match tokens.token(scope).await {
            Ok(token) => {
                checks.push(Check::pass(name, "issued"));
                if scope == GRAPH_SCOPE {
                    graph_token = Some(token);
                }
            }
            Err(error) => checks.push(Check::fail(
                name,
                error.to_string(),
                token_fix(config, &error),
            )),
        }
    }
    match graph_token {
        Some(token) => checks.extend(graph_permissions(config, roles_of(&token).as_deref())),
        None => checks.push(Check::fail(
            "Graph application permissions",
            "not checked: no Graph token",
            "fix the Graph token first (above)",
        )),
    }
    checks.extend(dataverse_checks(&dataverse).await);
    // Only a bot set up to receive Dataverse's webhook has a registration to check.
    if config.dataverse_webhook.is_some() {
        checks.extend(webhook::checks(&dataverse).await);
    }
    if let Some(check) = redis(config).await {
        checks.push(check);
    }
    Report { checks }
}

async fn signing_keys(http: &reqwest::Client, config: &Config) -> Check {
    let name = "OpenID metadata and signing keys";
    let keys = KeySource::new(
        http.clone(),
        config.openid_metadata_url.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(30),
    );
    let fix = "check JOINCHAT_OPENID_METADATA_URL (default: Bot Framework's public metadata) and that this host reaches it";
    match keys.load().await {
        Ok((0, _)) => Check::fail(name, "the key set holds no usable RSA key", fix),
        Ok((count, teams)) => Check::pass(
            name,
            format!(
                "{count} key(s), {teams} endorsed for msteams, from {}",
                config.openid_metadata_url
            ),
        ),
        Err(error) => Check::fail(name, error.to_string(), fix),
    }
}

fn token_fix(config: &Config, error: &TokenError) -> String {
    match error {
        TokenError::Refused(code) if code == "invalid_client" => {
            "JOINCHAT_APP_PASSWORD is not a valid client secret of the app registration (expired, or the secret's id instead of its value): create a new client secret".to_owned()
        }
        TokenError::Refused(code) if code == "invalid_scope" => {
            "the resource is unknown to Entra: check JOINCHAT_DATAVERSE_URL (the organisation URL, e.g. https://contoso.crm.dynamics.com)".to_owned()
        }
        TokenError::Refused(_) => format!(
            "check JOINCHAT_APP_ID ({}) and JOINCHAT_TENANT_ID ({}): the app must be registered in that tenant",
            config.app_id, config.tenant_id
        ),
        TokenError::Unreachable | TokenError::Throttled(_) | TokenError::Failed(_) => {
            "check JOINCHAT_LOGIN_URL (default https://login.microsoftonline.com) and that this host reaches it".to_owned()
        }
    }
}

/// The `roles` claim of an access token, read without verifying it (the
/// token is ours, fresh from Entra; the claim is what Graph will check).
/// `None` when the token cannot be read at all.
pub fn roles_of(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims
            .get("roles")
            .and_then(serde_json::Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(|role| role.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// One line per permission joinchat needs, from the Graph token's roles.
pub fn graph_permissions(config: &Config, roles: Option<&[String]>) -> Vec<Check> {
    let Some(roles) = roles else {
        return vec![Check::fail(
            "Graph application permissions",
            "the Graph token is not a JWT whose claims can be read",
            "check JOINCHAT_LOGIN_URL: it must be Entra's token endpoint",
        )];
    };
    let missing = permissions::missing_from(roles);
    permissions::GRAPH_APPLICATION_PERMISSIONS
        .iter()
        .map(|permission| permission_check(config, permission, roles, &missing))
        .collect()
}

fn permission_check(
    config: &Config,
    permission: &GraphPermission,
    roles: &[String],
    missing: &[&GraphPermission],
) -> Check {
    let name = format!(
        "Graph permission {} (for {})",
        permission.name,
        permission.used_for.join(", ")
    );
    if !missing.iter().any(|m| m.name == permission.name) {
        let held = if roles.iter().any(|role| role == permission.name) {
            "granted".to_owned()
        } else {
            let broader = permission
                .or_broader
                .iter()
                .find(|b| roles.iter().any(|role| role == *b))
                .copied()
                .unwrap_or_default();
            format!("covered by the broader {broader}")
        };
        return Check::pass(name, held);
    }
    let shown = if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(", ")
    };
    Check::fail(
        name,
        format!("missing from the Graph token's roles (granted: {shown})"),
        format!(
            "in Entra ID, app registration {} → API permissions → Add a permission → Microsoft Graph → Application permissions → {}, then Grant admin consent",
            config.app_id, permission.name
        ),
    )
}

async fn dataverse_checks(dataverse: &DataverseClient) -> Vec<Check> {
    let deadline = || Instant::now() + CHECK_BUDGET;
    let mut checks = Vec::new();
    match dataverse.who_am_i(deadline()).await {
        Ok(me) => checks.push(Check::pass(
            "Dataverse WhoAmI",
            format!("application user {}", me.user_id),
        )),
        Err(error) => {
            checks.push(Check::fail(
                "Dataverse WhoAmI",
                error.to_string(),
                dataverse_fix(&error, "the organisation"),
            ));
            // Without an application user no table can be read either.
            return checks;
        }
    }
    for (table, set, key) in TABLES_READ {
        let name = format!("Dataverse read access to {table}");
        match dataverse.can_read(set, key, deadline()).await {
            Ok(()) => checks.push(Check::pass(name, "readable")),
            Err(error) => checks.push(Check::fail(
                name,
                error.to_string(),
                dataverse_fix(&error, table),
            )),
        }
    }
    checks
}

fn dataverse_fix(error: &DataverseError, table: &str) -> String {
    match error {
        DataverseError::Forbidden(_) | DataverseError::Status(401) => format!(
            "in the Power Platform admin center, give the application user of this app a security role with Read on {table}"
        ),
        DataverseError::Status(404) => format!(
            "check JOINCHAT_DATAVERSE_URL, and that the Teams chat solutions of Dynamics 365 Sales (which hold {table}) are installed"
        ),
        _ => "check JOINCHAT_DATAVERSE_URL and that this host reaches it".to_owned(),
    }
}

async fn redis(config: &Config) -> Option<Check> {
    // The URL may hold a password: it is never shown.
    let (name, fix) = match &config.store {
        StoreConfig::Memory => return None,
        StoreConfig::Redis { .. } => (
            "Redis (JOINCHAT_REDIS_URL)",
            "check JOINCHAT_REDIS_URL (redis:// or rediss://, with the password if one is set) and that this host reaches it",
        ),
        // PING goes to every primary: the check passes when all of them answer.
        StoreConfig::RedisCluster { .. } => (
            "Redis Cluster (JOINCHAT_REDIS_URL)",
            "check JOINCHAT_REDIS_URL (redis+cluster://host:port,host:port, with the password if one is set) and that this host reaches every node",
        ),
    };
    let store = match Store::connect(&config.store).await {
        Ok(store) => store,
        Err(error) => return Some(Check::fail(name, error.to_string(), fix)),
    };
    Some(match store.ping().await {
        Ok(()) => Check::pass(name, "answers PING"),
        Err(error) => Check::fail(name, error.to_string(), fix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_args(ServeArgs {
            app_id: Some("6f1c2d3e-4a5b-4c6d-8e7f-901234567890".into()),
            app_password: Some("secret".into()),
            tenant_id: Some("contoso.test".into()),
            dataverse_url: Some("https://contoso.crm.dynamics.com".into()),
            ..ServeArgs::default()
        })
        .unwrap()
    }

    fn token_with(claims: serde_json::Value) -> String {
        let part = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        format!(
            "{}.{}.signature",
            part(&serde_json::json!({"alg": "RS256"})),
            part(&claims)
        )
    }

    #[test]
    fn roles_are_read_from_the_token() {
        let token = token_with(serde_json::json!({"roles": ["Chat.ReadBasic.All"]}));
        assert_eq!(
            roles_of(&token),
            Some(vec!["Chat.ReadBasic.All".to_owned()])
        );
        assert_eq!(
            roles_of(&token_with(serde_json::json!({"aud": "x"}))),
            Some(vec![])
        );
        assert_eq!(roles_of("not a token"), None);
    }

    #[test]
    fn each_missing_permission_is_its_own_failing_line_with_the_fix() {
        let granted = vec!["ChatMember.ReadWrite.All".to_owned()];
        let checks = graph_permissions(&config(), Some(&granted));
        assert_eq!(
            checks.len(),
            permissions::GRAPH_APPLICATION_PERMISSIONS.len()
        );
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed()).collect();
        assert_eq!(
            failed.len(),
            permissions::GRAPH_APPLICATION_PERMISSIONS.len() - 1
        );
        for check in &failed {
            let line = check.to_string();
            assert!(line.starts_with("FAIL  Graph permission "), "{line}");
            assert!(line.contains("Grant admin consent"), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
        assert!(failed[0].name.contains("Chat.ReadBasic.All"));
        let passed = checks.iter().find(|c| c.passed()).unwrap();
        assert!(passed
            .to_string()
            .starts_with("ok    Graph permission ChatMember.ReadWrite.All"));
    }

    #[test]
    fn a_broader_permission_passes_and_says_so() {
        let granted: Vec<String> = [
            "Chat.ReadWrite.All",
            "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
            "TeamsAppInstallation.ReadWriteForUser.All",
        ]
        .map(str::to_owned)
        .to_vec();
        let checks = graph_permissions(&config(), Some(&granted));
        assert!(checks.iter().all(Check::passed), "{checks:?}");
        assert!(checks[0].detail.contains("broader Chat.ReadWrite.All"));
    }

    #[test]
    fn a_report_passes_only_when_every_check_does() {
        let mut report = Report {
            checks: vec![Check::pass("a", "fine")],
        };
        assert!(report.passed());
        assert!(report.to_string().contains("all 1 checks passed"));
        report.checks.push(Check::fail("b", "broken", "mend it"));
        assert!(!report.passed());
        assert!(report.to_string().contains("FAIL  b: broken. Fix: mend it"));
    }
}
