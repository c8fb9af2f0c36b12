//! `bulkops emulate`: serves a local directory database as Microsoft Graph
//! v1.0 on loopback, with throttling and injected faults on request, until
//! stopped with Ctrl-C. The first line on stdout gives the address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::Outcome;
use crate::directory::local::{self, LocalDirectory};
use crate::emulator::faults::{FailRate, Faults, parse_rate};
use crate::emulator::quota::BindWriteCost;
use crate::emulator::token::Credentials;
use crate::emulator::{self, EmulatorError, Options, ServerLimits, State};
use crate::error::Error;

/// Arguments of `bulkops emulate`.
#[derive(Debug, Args)]
pub(super) struct EmulateArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8337")]
    listen: SocketAddr,
    /// Listen on an address other than loopback: the emulator has no real authentication.
    #[arg(long)]
    allow_remote: bool,
    /// The local directory database served.
    #[arg(long = "db", alias = "directory", value_name = "FILE", default_value = local::DEFAULT_PATH)]
    directory: PathBuf,
    /// Serve HTTPS, with a certificate authority and server certificate kept
    /// in DIR (made on first use): for clients that refuse `http://`
    /// authorities, such as msal and azure-identity.
    #[arg(long, value_name = "DIR")]
    tls: Option<std::path::PathBuf>,
    /// Create the database with the demo tenant when it does not exist.
    #[arg(long)]
    init: bool,
    /// `graph` throttles by Microsoft Graph's published quotas for this tenant's size.
    #[arg(long, value_enum, default_value_t = Throttling::None)]
    throttle: Throttling,
    /// Divides quota windows (and injected Retry-After values) by K, to meet the limits sooner.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    time_scale: u32,
    /// How a members@odata.bind PATCH is charged: one write, or ceil(n/3) writes.
    #[arg(long, value_enum, default_value_t = BindWriteCost::Request)]
    bind_write_cost: BindWriteCost,
    /// Answer this status at this rate, e.g. `429:0.1`; repeat for several.
    #[arg(long, value_name = "STATUS:RATE")]
    fail_rate: Vec<FailRate>,
    /// Delay every HTTP request, e.g. `20ms` or `1s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_latency, default_value = "0ms")]
    latency: Duration,
    /// Drop this share of connections, half before and half after carrying out the request.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value_t = 0.0)]
    drop_rate: f64,
    /// Refuse writes to groups created less than this long ago, as Graph does before they replicate.
    #[arg(long, value_name = "DURATION", value_parser = parse_latency, default_value = "0ms")]
    replication_lag: Duration,
    /// The status of a `$batch` holding throttled requests: 200 (current Graph) or 424 (older Graph).
    #[arg(long, value_name = "STATUS", default_value_t = 200, value_parser = parse_batch_status)]
    throttled_batch_status: u16,
    /// Seed of the injected faults: the same seed, the same faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The environment variable holding the only client secret accepted (any secret when unset).
    #[arg(long, value_name = "NAME")]
    client_secret_env: Option<String>,
    /// The app's certificate (PEM): client assertions must be signed by its key.
    #[arg(long, value_name = "FILE")]
    client_certificate: Option<PathBuf>,
    /// The only tenant that may sign in (any when unset).
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// The only client id that may sign in (any when unset).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// How long a client may take to send a request's headers; idle
    /// connections are closed after it too.
    #[arg(long, value_name = "DURATION", value_parser = parse_latency, default_value = "10s")]
    header_timeout: Duration,
    /// Connections served at once; more wait until one ends.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: u32,
}

/// Throttling models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Throttling {
    None,
    Graph,
}

fn parse_latency(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "ms"), |at| text.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: write a duration such as 20ms or 1s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        _ => Err(format!("`{text}`: the unit is ms or s")),
    }
}

fn parse_batch_status(text: &str) -> Result<u16, String> {
    match text {
        "200" => Ok(200),
        "424" => Ok(424),
        _ => Err(format!("`{text}`: the status is 200 or 424")),
    }
}

/// Serves until Ctrl-C.
pub(super) fn run(args: &EmulateArgs) -> Result<Outcome, Error> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(Error::RemoteEmulator {
            address: args.listen,
        });
    }
    let credentials = Credentials {
        secret: args
            .client_secret_env
            .as_ref()
            .map(|name| {
                std::env::var(name).map_err(|_| Error::MissingEnvironment { name: name.clone() })
            })
            .transpose()?,
        certificate: args
            .client_certificate
            .as_ref()
            .map(|path| read_certificate(path))
            .transpose()?,
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
    };
    let tls = args
        .tls
        .as_deref()
        .map(crate::emulator::tls::prepare)
        .transpose()?;
    let options = Options {
        tls: tls.as_ref().map(|(config, _)| Arc::clone(config)),
        throttle: args.throttle == Throttling::Graph,
        time_scale: args.time_scale,
        bind_write_cost: args.bind_write_cost,
        faults: Faults {
            fail: args.fail_rate.clone(),
            latency: args.latency,
            drop_rate: args.drop_rate,
            replication_lag: args.replication_lag,
            throttled_batch_status: args.throttled_batch_status,
        },
        credentials,
        seed: args.seed,
        limits: ServerLimits {
            header_timeout: args.header_timeout,
            max_connections: usize::try_from(args.max_connections).unwrap_or(1),
            ..ServerLimits::default()
        },
    };
    if crate::files::database::sibling(&args.directory, ".pull").exists() {
        return Err(crate::directory::local::LocalError::PullUnfinished {
            path: args.directory.clone(),
        }
        .into());
    }
    if !args.init && !args.directory.exists() {
        return Err(Error::EmulatedDirectoryMissing {
            path: args.directory.clone(),
        });
    }
    let directory = LocalDirectory::open(&args.directory)?;
    let state = Arc::new(State::new(directory, options).map_err(Error::from)?);
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| EmulatorError::Listen {
                address: args.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| EmulatorError::Listen {
            address: args.listen,
            source,
        })?;
        let root = match &tls {
            Some(_) => format!("https://localhost:{}", bound.port()),
            None => format!("http://{bound}"),
        };
        super::write_stdout(&format!(
            "bulkops emulate: Microsoft Graph v1.0 on {root}/v1.0, tokens at {root}/{{tenant}}/oauth2/v2.0/token\n\
             a profile to add under `profiles:` in bulkops.yaml (any client id and secret are accepted unless --client-secret-env or --client-certificate says otherwise):\n\
             \x20 rehearsal:\n    tenant: contoso.onmicrosoft.com\n    clientId: 00000000-0000-0000-0000-000000000000\n\
             \x20   secret: {{ env: REHEARSAL_SECRET }}\n    loginUrl: {root}\n    graphUrl: {root}\n\
             \x20   pacing: {{ timeScale: {} }}\n{}",
            args.time_scale,
            tls.as_ref().map_or_else(String::new, |(_, files)| trust_hint(&root, &files.ca)),
        ))?;
        tokio::select! {
            served = emulator::serve(listener, state) => served.map_err(Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(Outcome::Success)
}

/// How clients come to trust the emulator's certificate authority.
fn trust_hint(root: &str, ca: &std::path::Path) -> String {
    let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.to_path_buf());
    let ca = ca.display();
    format!(
        "TLS: the certificate authority is {ca}; trust it with\n\
         \x20 export REQUESTS_CA_BUNDLE={ca}   # msal, azure-identity (requests)\n\
         \x20 export SSL_CERT_FILE={ca}        # msgraph-sdk (httpx), aiohttp, OpenSSL\n\
         \x20 export NODE_EXTRA_CA_CERTS={ca}  # Node.js (@azure/msal-node, @azure/identity)\n\
         authority for msal: {root}/TENANT (instance_discovery=False); for azure-identity: authority={root}, disable_instance_discovery=True\n"
    )
}

fn read_certificate(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    let failed = |message: String| -> Error {
        EmulatorError::Certificate {
            path: path.to_path_buf(),
            message,
        }
        .into()
    };
    let pem = crate::files::input::read_limited(path, 1024 * 1024)
        .map_err(|error| failed(error.to_string()))?;
    CertificateDer::from_pem_slice(&pem)
        .map(|certificate| certificate.to_vec())
        .map_err(|error| failed(error.to_string()))
}
