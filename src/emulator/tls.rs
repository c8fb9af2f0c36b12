//! `bulkops emulate --tls DIR`: HTTPS with a local certificate authority, so
//! clients that refuse `http://` authorities (msal, azure-identity) can sign
//! in. The first start writes a CA (`ca.pem`) and a server certificate for
//! `localhost` and `127.0.0.1` signed by it (`server.pem`, key in
//! `server-key.pem`, readable by the owner only) into DIR; later starts reuse
//! them, so clients that trust the CA keep trusting the emulator. The server
//! offers HTTP/1.1 only (ALPN), which is what it speaks.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::EmulatorError;

/// The files of the emulator's certificate authority and server certificate.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients are told to trust.
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn in_folder(folder: &Path) -> Self {
        Self {
            ca: folder.join("ca.pem"),
            certificate: folder.join("server.pem"),
            key: folder.join("server-key.pem"),
        }
    }
}

/// The server configuration for the certificate in `folder`, made first if
/// the folder holds none.
pub fn prepare(folder: &Path) -> Result<(Arc<rustls::ServerConfig>, TlsFiles), EmulatorError> {
    let files = TlsFiles::in_folder(folder);
    let fail = |path: &Path, message: String| EmulatorError::Tls {
        path: path.to_path_buf(),
        message,
    };
    let present = [&files.ca, &files.certificate, &files.key].map(|path| path.exists());
    match present {
        [false, false, false] => generate(folder, &files)?,
        [true, true, true] => {}
        _ => {
            // Never a new CA beside a server certificate clients trust, or
            // the other way round.
            return Err(fail(
                folder,
                "it holds some of ca.pem, server.pem and server-key.pem, not all three".to_owned(),
            ));
        }
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|error| fail(&files.certificate, error.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|error| fail(&files.certificate, error.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| fail(&files.key, error.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    check_signed_by_ca(&files, &chain, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| fail(&files.certificate, error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| fail(&files.certificate, error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), files))
}

/// Refuses a server certificate that the CA clients are told to trust does
/// not sign for `localhost`: those clients would refuse every connection.
fn check_signed_by_ca(
    files: &TlsFiles,
    chain: &[CertificateDer<'static>],
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<(), EmulatorError> {
    let fail = |path: &Path, message: String| EmulatorError::Tls {
        path: path.to_path_buf(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(&files.ca)
        .map_err(|error| fail(&files.ca, format!("ca.pem: {error}")))?;
    roots
        .add(ca)
        .map_err(|error| fail(&files.ca, format!("ca.pem: {error}")))?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(provider),
    )
    .build()
    .map_err(|error| fail(&files.ca, error.to_string()))?;
    let (leaf, intermediates) = chain.split_first().ok_or_else(|| {
        fail(
            &files.certificate,
            "server.pem holds no certificate".to_owned(),
        )
    })?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a valid name");
    let now = rustls_pki_types::UnixTime::now();
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        leaf,
        intermediates,
        &name,
        &[],
        now,
    )
    .map_err(|error| {
        fail(
            &files.certificate,
            format!("server.pem is not signed for localhost by ca.pem: {error}"),
        )
    })?;
    Ok(())
}

/// Writes a new CA and a server certificate signed by it.
fn generate(folder: &Path, files: &TlsFiles) -> Result<(), EmulatorError> {
    let failed = |error: rcgen::Error| EmulatorError::Tls {
        path: folder.to_path_buf(),
        message: error.to_string(),
    };
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bulkops emulate local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_certificate = ca.self_signed(&ca_key).map_err(failed)?;
    let server_key = KeyPair::generate().map_err(failed)?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).map_err(failed)?;
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.use_authority_key_identifier_extension = true;
    let issuer = Issuer::new(ca, ca_key);
    let server_certificate = server.signed_by(&server_key, &issuer).map_err(failed)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error: std::io::Error| EmulatorError::Tls {
            path,
            message: error.to_string(),
        }
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    write_private(&files.key, server_key.serialize_pem().as_bytes()).map_err(io(&files.key))?;
    std::fs::write(&files.certificate, server_certificate.pem()).map_err(io(&files.certificate))?;
    std::fs::write(&files.ca, ca_certificate.pem()).map_err(io(&files.ca))?;
    Ok(())
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}
