//! The emulated token endpoint, `POST /{tenant}/oauth2/v2.0/token`, for the
//! client credentials grant with a secret or a certificate assertion, and the
//! check of the bearer tokens it hands out. Error bodies follow the Microsoft
//! identity platform's shape (`error`, `error_description` with an AADSTS code).
//!
//! Tokens are JWTs signed with the emulator's key (see `identity`), each
//! recorded with the tenant and client it was issued to and checked whole
//! (so a token cannot be forged by editing claims); with `--tenant` and
//! `--client-id` only that tenant and client may sign in. The client secret
//! may come in the form or in HTTP Basic authentication
//! (`client_secret_basic`, as RFC 6749 section 2.3.1 says).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use serde_json::{Value as Json, json};

use super::answer::Answer;
use super::identity::{SigningKey, TokenClaims};
use crate::msgraph::url;

/// The grant type of a certificate assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the token endpoint accepts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The only secret accepted; any secret when `None`.
    pub secret: Option<String>,
    /// The certificate whose key must sign assertions (DER); assertions are
    /// checked for shape, audience and time only when `None`.
    pub certificate: Option<Vec<u8>>,
    /// The only tenant (in the token URL) that may sign in; any when `None`.
    pub tenant: Option<String>,
    /// The only client id that may sign in; any when `None`.
    pub client_id: Option<String>,
}

/// A token handed out: until when, and to whom.
#[derive(Debug, Clone)]
struct Issued {
    expires: Instant,
    tenant: String,
    client_id: String,
}

/// Tokens handed out, and the key that signs them.
#[derive(Debug, Default)]
pub struct Tokens {
    issued: HashMap<String, Issued>,
    signer: SigningKey,
    /// The emulated tenant's id (`tid`).
    tenant_id: String,
}

/// Where a token request came from and what it carried.
pub struct TokenRequest<'a> {
    /// The tenant as the URL names it.
    pub tenant: &'a str,
    pub token_url: &'a str,
    /// The emulator's address, for the issuer.
    pub base: &'a str,
    /// The `Authorization` header, for a secret sent in Basic authentication.
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// How long a token lives, as Entra's usual `expires_in`.
pub const LIFETIME: Duration = Duration::from_secs(3599);

impl Tokens {
    /// Tokens of the tenant with this id, signed by a new key.
    pub fn new(tenant_id: String) -> Self {
        Self {
            tenant_id,
            ..Self::default()
        }
    }

    /// The signing key set, published at `jwks_uri`.
    pub fn key_set(&self, issuer: &str) -> Json {
        self.signer.key_set(issuer)
    }

    /// Whether `Authorization` carries a live token; the answer to give if not.
    pub fn check(&self, authorization: Option<&str>, rid: &str) -> Result<(), Answer> {
        let token = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or_default();
        if token.is_empty() {
            return Err(Answer::error(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                rid,
            ));
        }
        match self.issued.get(token) {
            Some(issued) if issued.expires > Instant::now() => {
                tracing::debug!(tenant = %issued.tenant, client = %issued.client_id, "token accepted");
                Ok(())
            }
            Some(_) => Err(Answer::error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                rid,
            )),
            // SYNTHETIC: the text of Graph's answer varies with the defect found.
            None => Err(Answer::error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
                rid,
            )),
        }
    }

    /// Answers a token request.
    pub fn grant(&mut self, credentials: &Credentials, request: &TokenRequest<'_>) -> Answer {
        let TokenRequest {
            tenant, token_url, ..
        } = *request;
        let mut form: HashMap<String, String> =
            url::query_pairs(&String::from_utf8_lossy(request.body))
                .into_iter()
                .collect();
        if let Some((id, secret)) = request.authorization.and_then(basic_credentials) {
            let other_id = form.get("client_id").is_some_and(|form_id| *form_id != id);
            if other_id
                || form.contains_key("client_secret")
                || form.contains_key("client_assertion")
            {
                // SYNTHETIC: RFC 6749 allows one authentication method per
                // request; the identity platform's text for this varies.
                return oauth_error(
                    400,
                    "invalid_request",
                    90_014,
                    "The request authenticates the client in more than one way (HTTP Basic and the request body); use one.",
                );
            }
            form.insert("client_id".to_owned(), id);
            form.insert("client_secret".to_owned(), secret);
        }
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return oauth_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
        let client_id = field("client_id");
        if client_id.is_empty() {
            return oauth_error(
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        }
        if let Err(answer) = check_identity(credentials, tenant, client_id) {
            return answer;
        }
        if !field("scope").ends_with("/.default") {
            return oauth_error(
                400,
                "invalid_scope",
                70011,
                "The provided request must include a 'scope' input parameter ending in '/.default'.",
            );
        }
        let proof = if form.contains_key("client_assertion") {
            check_assertion(
                credentials,
                field("client_assertion_type"),
                field("client_assertion"),
                client_id,
                token_url,
            )
        } else {
            check_secret(credentials, field("client_secret"))
        };
        if let Err(answer) = proof {
            return answer;
        }
        let issued_at = jiff::Timestamp::now().as_second();
        let claims = TokenClaims {
            base: request.base,
            tenant_id: &self.tenant_id,
            client_id,
            issued_at,
            lifetime_seconds: i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX),
        };
        let token = self.signer.sign(&claims.to_json());
        let now = Instant::now();
        self.issued.retain(|_, issued| issued.expires > now);
        self.issued.insert(
            token.clone(),
            Issued {
                expires: now + LIFETIME,
                tenant: tenant.to_owned(),
                client_id: client_id.to_owned(),
            },
        );
        Answer::identity_json(
            200,
            json!({ "token_type": "Bearer", "expires_in": LIFETIME.as_secs(), "ext_expires_in": LIFETIME.as_secs(), "access_token": token }),
        )
    }
}

/// The client id and secret of HTTP Basic authentication: base64 of the
/// form-encoded id, `:`, and the form-encoded secret.
fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let encoded = authorization
        .strip_prefix("Basic ")
        .or_else(|| authorization.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((url::decode(id, true), url::decode(secret, true)))
}

/// Refuses a tenant or client other than the ones the emulator was told to accept.
fn check_identity(credentials: &Credentials, tenant: &str, client_id: &str) -> Result<(), Answer> {
    if credentials
        .tenant
        .as_deref()
        .is_some_and(|expected| !expected.eq_ignore_ascii_case(tenant))
    {
        return Err(oauth_error(
            400,
            "invalid_request",
            90_002,
            &format!("Tenant '{tenant}' not found."),
        ));
    }
    if credentials
        .client_id
        .as_deref()
        .is_some_and(|expected| !expected.eq_ignore_ascii_case(client_id))
    {
        return Err(oauth_error(
            400,
            "unauthorized_client",
            700_016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        ));
    }
    Ok(())
}

fn oauth_error(status: u16, error: &str, code: u32, text: &str) -> Answer {
    Answer::identity_json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}"),
            "error_codes": [code],
            "timestamp": jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        }),
    )
}

fn check_secret(credentials: &Credentials, secret: &str) -> Result<(), Answer> {
    let accepted = match &credentials.secret {
        Some(expected) => expected == secret,
        None => !secret.is_empty(),
    };
    if accepted {
        Ok(())
    } else {
        Err(oauth_error(
            401,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ))
    }
}

fn check_assertion(
    credentials: &Credentials,
    kind: &str,
    assertion: &str,
    client_id: &str,
    token_url: &str,
) -> Result<(), Answer> {
    let invalid = |text: &str| {
        oauth_error(
            401,
            "invalid_client",
            700_027,
            &format!("Client assertion failed signature validation or is malformed: {text}"),
        )
    };
    if kind != ASSERTION_TYPE {
        return Err(oauth_error(
            400,
            "invalid_request",
            50_027,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        ));
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(invalid("not a JSON web token"));
    };
    let decode = |part: &str| -> Option<Json> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header_json), Some(claims_json)) = (decode(header), decode(claims)) else {
        return Err(invalid("the header or claims are not base64url JSON"));
    };
    if header_json["alg"] != "RS256" && header_json["alg"] != "PS256" {
        return Err(invalid("the algorithm must be RS256 or PS256"));
    }
    if claims_json["iss"] != client_id || claims_json["sub"] != client_id {
        return Err(invalid("iss and sub must be the client id"));
    }
    if claims_json["aud"] != token_url {
        return Err(invalid("aud must be the token endpoint"));
    }
    let now = jiff::Timestamp::now().as_second();
    if claims_json["exp"].as_i64().is_none_or(|exp| exp <= now) {
        return Err(oauth_error(
            401,
            "invalid_client",
            700_024,
            "Client assertion is not within its valid time range.",
        ));
    }
    if let Some(certificate) = &credentials.certificate {
        let signed = format!("{header}.{claims}");
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| invalid("the signature is not base64url"))?;
        let der = CertificateDer::from(certificate.as_slice());
        let certificate = webpki::EndEntityCert::try_from(&der)
            .map_err(|_| invalid("the registered certificate cannot be read"))?;
        let algorithm = if header_json["alg"] == "RS256" {
            webpki::ring::RSA_PKCS1_2048_8192_SHA256
        } else {
            webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY
        };
        certificate
            .verify_signature(algorithm, signed.as_bytes(), &signature)
            .map_err(|_| invalid("the signature does not match the registered certificate"))?;
    }
    Ok(())
}
