//! The emulator as Microsoft's sign-in libraries see it: `OpenID` discovery,
//! the key set, instance discovery, JWT access tokens signed with the
//! published key, the client secret in HTTP Basic authentication, and HTTPS
//! with its own certificate authority (`--tls`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value as Json;

use crate::emulator_support::{Emulator, demo_database};
use crate::wire::send;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";

fn json(body: &str) -> Json {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn part(token: &str, index: usize) -> Json {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(index).unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn basic_token(emulator: &Emulator, secret: &str) -> crate::wire::RawAnswer {
    let credentials = STANDARD.encode(format!("{CLIENT}:{secret}"));
    send(
        emulator,
        "POST",
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[
            ("Authorization", &format!("Basic {credentials}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some("grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
    )
}

/// Checks the discovery document and that `token` verifies with the key its
/// `jwks_uri` publishes.
fn verify_with_published_key(emulator: &Emulator, token: &str) {
    let base = emulator.url();
    let header = part(token, 0);
    let discovery = send(
        emulator,
        "GET",
        &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
        &[],
        None,
    );
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    let document = json(&discovery.body);
    assert_eq!(
        document["token_endpoint"],
        format!("{base}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(document["issuer"], format!("{base}/{TENANT}/v2.0"));
    assert_eq!(
        document["authorization_endpoint"],
        format!("{base}/{TENANT}/oauth2/v2.0/authorize")
    );
    let jwks_uri = document["jwks_uri"].as_str().unwrap();
    let keys_path = jwks_uri.strip_prefix(&base).unwrap();
    let keys = json(&send(emulator, "GET", keys_path, &[], None).body);
    let key = &keys["keys"][0];
    assert_eq!(key["kid"], header["kid"]);
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("the token verifies with the published key");
}

#[test]
fn tokens_are_jwts_signed_with_the_key_the_discovery_document_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let emulator = Emulator::spawn(
        &db,
        &["--client-secret-env", "EMU_SECRET"],
        &[("EMU_SECRET", "s3cret:with+chars")],
    );
    let base = emulator.url();

    // The secret in HTTP Basic authentication, form-encoded as RFC 6749 says.
    let refused = basic_token(&emulator, "wrong");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(json(&refused.body)["error"], "invalid_client");
    let granted = basic_token(&emulator, "s3cret%3Awith%2Bchars");
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(
        granted.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(granted.header("cache-control"), Some("no-store, no-cache"));
    let answer = json(&granted.body);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 3599);
    let token = answer["access_token"].as_str().unwrap().to_owned();

    let header = part(&token, 0);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    let claims = part(&token, 1);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["appid"], CLIENT);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3599
    );
    let tid = claims["tid"].as_str().unwrap();
    assert_eq!(tid.len(), 36, "a tenant id: {tid}");
    assert!(
        claims["roles"]
            .as_array()
            .unwrap()
            .contains(&Json::from("GroupMember.ReadWrite.All"))
    );

    verify_with_published_key(&emulator, &token);

    // The token opens Graph; the same token with one claim changed does not.
    let groups = send(
        &emulator,
        "GET",
        "/v1.0/groups?$top=1",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(groups.status, 200, "{}", groups.body);
    let mut forged_claims = claims.clone();
    forged_claims["roles"] = Json::from(vec!["Directory.ReadWrite.All"]);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    let refused = send(
        &emulator,
        "GET",
        "/v1.0/groups?$top=1",
        &[("Authorization", &format!("Bearer {forged}"))],
        None,
    );
    assert_eq!(refused.status, 401, "{}", refused.body);

    let instance = send(
        &emulator,
        "GET",
        &format!(
            "/common/discovery/instance?api-version=1.1&authorization_endpoint={base}/{TENANT}/oauth2/v2.0/authorize"
        ),
        &[],
        None,
    );
    assert_eq!(instance.status, 200, "{}", instance.body);
    assert_eq!(
        json(&instance.body)["tenant_discovery_endpoint"],
        format!("{base}/{TENANT}/v2.0/.well-known/openid-configuration")
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tls_serves_graph_to_clients_that_trust_its_authority_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let tls = dir.path().join("tls");
    let tls_arg = tls.display().to_string();
    let emulator = Emulator::start(&db, &["--tls", &tls_arg]);
    assert!(
        emulator.address.starts_with("localhost:"),
        "{}",
        emulator.address
    );
    let base = format!("https://{}", emulator.address);
    let ca = std::fs::read(tls.join("ca.pem")).unwrap();
    let key_mode = std::fs::metadata(tls.join("server-key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600
    );
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let untrusting = reqwest::Client::new();
    runtime().block_on(async {
        let refused = untrusting
            .get(format!(
                "{base}/{TENANT}/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await;
        assert!(
            refused.is_err(),
            "a client without the CA refuses the certificate"
        );
        let document: Json = trusting
            .get(format!(
                "{base}/{TENANT}/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            document["token_endpoint"],
            format!("{base}/{TENANT}/oauth2/v2.0/token")
        );
        let token: Json = trusting
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .form(&[
                ("client_id", CLIENT),
                ("client_secret", "anything"),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bearer = token["access_token"].as_str().unwrap();
        let page: Json = trusting
            .get(format!("{base}/v1.0/groups?$top=2"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let next = page["@odata.nextLink"].as_str().unwrap();
        assert!(next.starts_with(&format!("{base}/v1.0/groups?")), "{next}");
    });
    drop(emulator);
    let again = Emulator::start(&db, &["--tls", &tls_arg]);
    assert_eq!(
        std::fs::read(tls.join("ca.pem")).unwrap(),
        ca,
        "the CA is kept"
    );
    drop(again);
}

#[test]
fn a_tls_folder_whose_ca_does_not_sign_its_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let tls = dir.path().join("tls");
    let tls_arg = tls.display().to_string();
    drop(Emulator::start(&db, &["--tls", &tls_arg]));
    // A CA that does not sign the server certificate is refused at start,
    // never offered to clients; so is a folder missing one of the files.
    let other = dir.path().join("other");
    drop(Emulator::start(
        &db,
        &["--tls", &other.display().to_string()],
    ));
    std::fs::copy(other.join("ca.pem"), tls.join("ca.pem")).unwrap();
    let refused = emulate_briefly(&db, &tls_arg);
    assert_eq!(refused.0, Some(66), "{}", refused.1);
    assert!(
        refused
            .1
            .contains("server.pem is not signed for localhost by ca.pem"),
        "{}",
        refused.1
    );
    std::fs::remove_file(tls.join("server.pem")).unwrap();
    let refused = emulate_briefly(&db, &tls_arg);
    assert_eq!(refused.0, Some(66), "{}", refused.1);
    assert!(refused.1.contains("not all three"), "{}", refused.1);
}

/// `emulate --tls DIR` expected to refuse at start: its exit code (`None`
/// when it had to be stopped) and what it printed.
fn emulate_briefly(db: &std::path::Path, tls: &str) -> (Option<i32>, String) {
    let output = std::process::Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_bulkops"))
        .args(["emulate", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(["--tls", tls])
        .output()
        .unwrap();
    let code = output.status.code().filter(|code| *code != 124);
    (
        code,
        crate::support::unwrap_lines(&String::from_utf8_lossy(&output.stderr)),
    )
}
