//! Simulated Entra and the Bot Framework channel issuer.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{start_demo, TestCloud, CONNECTOR_SCOPE, GRAPH_SCOPE};

/// Verifies `token` RS256 against the key `kid` of the JWKS at `jwks_url`.
async fn verify(
    app: &TestCloud,
    jwks_url: &str,
    token: &str,
    audience: &str,
    issuer: &str,
) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    let (_, jwks) = app.get(jwks_url, None).await;
    let kid = header.kid.expect("a kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["kid"] == kid.as_str())
        .expect("the signing key is published")
        .clone();
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies")
        .claims
}

#[tokio::test]
async fn the_openid_metadata_points_at_a_jwks_with_endorsed_keys() {
    let app = start_demo().await;
    let (status, metadata) = app.get(&app.cloud.urls().openid_metadata, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(metadata["issuer"], "https://api.botframework.com");
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, app.url("/botframework/v1/.well-known/keys"));
    let (_, jwks) = app.get(jwks_uri, None).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(
        key["kid"],
        app.cloud.channel_issuer().current_kid().as_str()
    );
    assert_eq!(key["endorsements"], json!(["msteams", "emulator"]));
    let issuer = app.cloud.channel_issuer();
    assert_eq!((issuer.metadata_fetches(), issuer.jwks_fetches()), (1, 1));
}

#[tokio::test]
async fn a_channel_token_from_the_control_api_verifies_against_the_jwks() {
    let app = start_demo().await;
    let connector = app.cloud.urls().connector;
    let (status, body) = app
        .post(
            &app.url("/_sandbox/tokens/channel"),
            None,
            &json!({"service_url": connector, "channel_id": "msteams"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 3600);
    let jwks = app.url("/botframework/v1/.well-known/keys");
    let claims = verify(
        &app,
        &jwks,
        body["token"].as_str().unwrap(),
        &app.cloud.app_id(),
        "https://api.botframework.com",
    )
    .await;
    assert_eq!(claims["serviceurl"], connector.as_str());
    assert!(claims["nbf"].is_i64() && claims["exp"].is_i64());
}

#[tokio::test]
async fn the_token_endpoint_issues_a_token_per_resource_signed_by_the_entra_key() {
    let app = start_demo().await;
    let tenant = app.cloud.tenant_id();
    let jwks = format!("{}/{tenant}/discovery/v2.0/keys", app.cloud.urls().login);
    let issuer = format!("https://sts.windows.net/{tenant}/");
    let dataverse_scope = app.dataverse_scope();
    for (scope, audience) in [
        (CONNECTOR_SCOPE, "https://api.botframework.com".to_owned()),
        (GRAPH_SCOPE, "https://graph.microsoft.com".to_owned()),
        (dataverse_scope.as_str(), app.cloud.urls().dataverse),
    ] {
        let token = app.token(scope).await;
        let claims = verify(&app, &jwks, &token, &audience, &issuer).await;
        assert_eq!(claims["appid"], app.cloud.app_id().as_str());
        assert_eq!(claims["tid"], tenant.as_str());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_ne!(
            header.kid.unwrap(),
            app.cloud.channel_issuer().current_kid(),
            "Entra has its own key"
        );
    }
}

#[tokio::test]
async fn token_requests_are_refused_as_entra_refuses_them() {
    let app = start_demo().await;
    let (id, secret) = (app.cloud.app_id(), app.cloud.app_password());
    // (form fields besides grant_type, status, error, description prefix)
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("client_id", &id),
                ("client_secret", "wrong"),
                ("scope", GRAPH_SCOPE),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215",
        ),
        (
            vec![
                ("client_id", "someone-else"),
                ("client_secret", &secret),
                ("scope", GRAPH_SCOPE),
            ],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016",
        ),
        (
            vec![
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "https://vault.azure.net/.default"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011",
        ),
    ];
    for (fields, status, error, code) in cases {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(fields);
        let (got, body) = crate::sandbox_helpers::json_of(app.request_token(&form).await).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"], error);
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(code),
            "{body}"
        );
        assert!(body["error_codes"].is_array() && body["trace_id"].is_string());
    }
    let url = format!(
        "{}/contoso.onmicrosoft.com/oauth2/v2.0/token",
        app.cloud.urls().login
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", GRAPH_SCOPE),
    ];
    let (status, body) =
        crate::sandbox_helpers::json_of(app.http.post(url).form(&form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found"));
}

#[tokio::test]
async fn a_rotated_key_appears_in_the_jwks_only_once_published() {
    let app = start_demo().await;
    let issuer = app.cloud.channel_issuer();
    let kid = issuer.add_key(&["msteams"], false);
    let jwks_url = app.url("/botframework/v1/.well-known/keys");
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, before) = app.get(&jwks_url, None).await;
    assert!(!kids(&before).contains(&kid));
    issuer.publish(&kid);
    let (_, after) = app.get(&jwks_url, None).await;
    assert!(kids(&after).contains(&kid));
    let published = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(published["endorsements"], json!(["msteams"]));
    assert_eq!(issuer.jwks_fetches(), 2);

    let token = issuer.sign(&kid, &issuer.claims("https://elsewhere.test/"));
    let claims = verify(
        &app,
        &jwks_url,
        &token,
        &app.cloud.app_id(),
        "https://api.botframework.com",
    )
    .await;
    assert_eq!(claims["serviceurl"], "https://elsewhere.test/");
}

#[tokio::test]
async fn a_forged_header_is_kept_as_written_and_signed_with_the_chosen_key() {
    let app = start_demo().await;
    let issuer = app.cloud.channel_issuer();
    let kid = issuer.current_kid();
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT", "x5u": "https://evil.test/key"});
    let token = issuer.sign_with_header(header, &issuer.claims("https://x.test/"), &kid);
    let decoded = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(decoded.x5u.as_deref(), Some("https://evil.test/key"));
    let jwks = app.url("/botframework/v1/.well-known/keys");
    verify(
        &app,
        &jwks,
        &token,
        &app.cloud.app_id(),
        "https://api.botframework.com",
    )
    .await;
}
