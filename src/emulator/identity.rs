//! What Microsoft's own sign-in libraries ask of an identity provider before
//! and after the token request: the `OpenID` Connect discovery document
//! (`/{tenant}/v2.0/.well-known/openid-configuration`), the signing keys
//! (`/{tenant}/discovery/v2.0/keys`), MSAL's instance discovery
//! (`/common/discovery/instance`), and access tokens in JWT form.
//!
//! Tokens carry the claims of an Entra app-only access token for Microsoft
//! Graph (`aud`, `iss`, `iat`, `nbf`, `exp`, `appid`, `appidacr`, `idp`,
//! `oid`, `sub`, `tid`, `roles`, `uti`, `ver`, `idtyp`) and are signed with a
//! key the emulator makes at start and publishes in its key set. SYNTHETIC:
//! the emulator signs with ES256 (ECDSA P-256), where Entra uses RS256; the
//! issuer is the emulator's own address; `tid` is the emulated directory's
//! id; `oid` and `sub` are derived from the client id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value as Json, json};

/// The application permissions the emulated app holds (its `roles`).
pub const ROLES: [&str; 4] = [
    "GroupMember.ReadWrite.All",
    "Device.ReadWrite.All",
    "User.Read.All",
    "Application.Read.All",
];

/// The emulator's token signing key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Default for SigningKey {
    fn default() -> Self {
        Self::generate()
    }
}

impl SigningKey {
    /// A new P-256 key.
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system random number generator works");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("a key just made reads back");
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..20]);
        Self { pair, kid, rng }
    }

    /// A signed JWT with these claims.
    pub fn sign(&self, claims: &Json) -> String {
        let header = json!({ "typ": "JWT", "alg": "ES256", "kid": self.kid });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, signed.as_bytes())
            .expect("signing with a valid key works");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// The key set that verifies the tokens (`jwks_uri`).
    pub fn key_set(&self, issuer: &str) -> Json {
        // An uncompressed P-256 point: 0x04, then x and y, 32 bytes each.
        let point = self.pair.public_key().as_ref();
        json!({
            "keys": [{
                "kty": "EC",
                "use": "sig",
                "alg": "ES256",
                "crv": "P-256",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                "issuer": issuer,
            }]
        })
    }
}

/// The claims of an app-only access token for Microsoft Graph.
pub struct TokenClaims<'a> {
    pub base: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub issued_at: i64,
    pub lifetime_seconds: i64,
}

impl TokenClaims<'_> {
    /// The claims as JSON.
    pub fn to_json(&self) -> Json {
        let issuer = format!("{}/{}/", self.base, self.tenant_id);
        let principal = guid_of(&format!("service principal of {}", self.client_id));
        json!({
            "aud": "https://graph.microsoft.com",
            "iss": issuer,
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.issued_at + self.lifetime_seconds,
            "appid": self.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": principal,
            "sub": principal,
            "roles": ROLES,
            "tid": self.tenant_id,
            "uti": URL_SAFE_NO_PAD.encode(&random_bytes()[..16]),
            "ver": "1.0",
        })
    }
}

/// The `OpenID` Connect discovery document of `tenant` (as written in the URL).
pub fn openid_configuration(base: &str, tenant: &str) -> Json {
    let host = base.split("://").nth(1).unwrap_or(base);
    json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
    })
}

/// MSAL's instance discovery answer for an `authorization_endpoint` on the
/// emulator: the emulator is its own cloud, known by its own host only.
pub fn instance_discovery(base: &str, authorization_endpoint: Option<&str>) -> Json {
    let host = base.split("://").nth(1).unwrap_or(base);
    let tenant = authorization_endpoint
        .and_then(|endpoint| endpoint.split("://").nth(1))
        .and_then(|rest| rest.split('/').nth(1))
        .filter(|tenant| !tenant.is_empty())
        .unwrap_or("common");
    json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    })
}

/// A stable GUID for a text.
pub fn guid_of(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format_guid(&digest.as_ref()[..16])
}

/// 16 bytes as a GUID, `8-4-4-4-12` lowercase hex.
pub fn format_guid(bytes: &[u8]) -> String {
    let hex = crate::files::input::hex(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn random_bytes() -> [u8; 32] {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    bytes
}
