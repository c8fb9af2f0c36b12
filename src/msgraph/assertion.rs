//! The signed client assertion of certificate credentials: a JSON web token
//! (RS256) whose header names the certificate by its SHA-1 and SHA-256
//! thumbprints, for the audience of the token endpoint, valid for ten minutes.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

/// Why a certificate credential cannot sign.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AssertionError {
    #[error("cannot read the certificate `{}`: {message}", path.display())]
    #[diagnostic(
        code(bulkops::graph::certificate),
        help("give the app registration's certificate as PEM (-----BEGIN CERTIFICATE-----)")
    )]
    Certificate {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("cannot read the private key `{}`: {message}", path.display())]
    #[diagnostic(
        code(bulkops::graph::key),
        help(
            "give the certificate's RSA private key as unencrypted PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`)"
        )
    )]
    Key {
        path: std::path::PathBuf,
        message: String,
    },
}

/// A certificate and its key, ready to sign assertions.
pub struct Signer {
    key: RsaKeyPair,
    sha1: String,
    sha256: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Signer")
            .field("x5t#S256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The largest PEM file read: keys and certificates are a few kilobytes.
const PEM_LIMIT: u64 = 1024 * 1024;

impl Signer {
    /// Reads the PEM files.
    pub fn from_files(key: &Path, certificate: &Path) -> Result<Self, AssertionError> {
        let cert_error = |message: String| AssertionError::Certificate {
            path: certificate.to_path_buf(),
            message,
        };
        let pem = crate::files::input::read_limited(certificate, PEM_LIMIT)
            .map_err(|error| cert_error(error.to_string()))?;
        let cert =
            CertificateDer::from_pem_slice(&pem).map_err(|error| cert_error(error.to_string()))?;
        let key_error = |message: String| AssertionError::Key {
            path: key.to_path_buf(),
            message,
        };
        let pem = crate::files::input::read_limited(key, PEM_LIMIT)
            .map_err(|error| key_error(error.to_string()))?;
        let pair = match PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|error| key_error(error.to_string()))?
        {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(key_error("the key is not an RSA key".to_owned())),
        }
        .map_err(|error| key_error(error.to_string()))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &cert);
        Ok(Self {
            key: pair,
            sha1: URL_SAFE_NO_PAD.encode(sha1),
            sha256: URL_SAFE_NO_PAD.encode(sha256),
        })
    }

    /// A signed assertion for `client_id` at the token endpoint `audience`.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> String {
        let header =
            json!({ "alg": "RS256", "typ": "JWT", "x5t": self.sha1, "x5t#S256": self.sha256 });
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut nonce)
            .expect("the system random source works");
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": STANDARD.encode(nonce),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .expect("an RSA key signs");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
