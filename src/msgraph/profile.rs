//! Directory profiles: how bulkops reaches a tenant's Microsoft Graph. They live
//! in `bulkops.yaml` beside the manifests, and a manifest names one with
//! `spec.directory`. Secrets never appear in the file: a profile names the
//! environment variable that holds the client secret, or the files of a
//! certificate.
//!
//! ```yaml
//! profiles:
//!   contoso-prod:
//!     tenant: contoso.onmicrosoft.com
//!     clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
//!     secret: { env: CONTOSO_GRAPH_SECRET }
//!   contoso-gov:
//!     tenant: 2f6e4b8a-0c1d-4e5f-9a7b-3c2d1e0f9a8b
//!     clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
//!     cloud: usGov
//!     certificate: { key: keys/graph.key.pem, certificate: keys/graph.cert.pem }
//!   rehearsal:                      # `bulkops emulate --time-scale 100`
//!     tenant: contoso.onmicrosoft.com
//!     clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
//!     secret: { env: REHEARSAL_SECRET }
//!     loginUrl: http://127.0.0.1:8337
//!     graphUrl: http://127.0.0.1:8337
//!     pacing: { timeScale: 100, bindWriteCost: request, concurrency: 4, deadlineSeconds: 900 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::pace::BindWriteCost;

/// The file that holds directory profiles.
pub const PROFILES_FILE: &str = "bulkops.yaml";

/// Why profiles could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProfileError {
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(
        code(bulkops::profile::read),
        help("create `bulkops.yaml` beside the manifests with a `profiles:` mapping")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}`: {message}", path.display())]
    #[diagnostic(
        code(bulkops::profile::invalid),
        help(
            "a profile has `tenant`, `clientId`, and exactly one of `secret: {{ env: NAME }}` or `certificate: {{ key, certificate }}`"
        )
    )]
    Invalid { path: PathBuf, message: String },
    #[error("no directory profile is called `{name}`")]
    #[diagnostic(
        code(bulkops::profile::unknown),
        help("the profiles in bulkops.yaml are: {known}")
    )]
    Unknown { name: String, known: String },
    #[error(
        "the environment variable `{variable}` that holds the secret of profile `{profile}` is not set"
    )]
    #[diagnostic(
        code(bulkops::profile::secret),
        help("set it in the environment of bulkops (a CI secret, a service's environment file)")
    )]
    MissingSecret { profile: String, variable: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFileSpec {
    profiles: BTreeMap<String, ProfileSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileSpec {
    tenant: String,
    client_id: String,
    #[serde(default)]
    cloud: Cloud,
    secret: Option<SecretSpec>,
    certificate: Option<CertificateSpec>,
    login_url: Option<String>,
    graph_url: Option<String>,
    #[serde(default)]
    pacing: PacingSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PacingSpec {
    time_scale: Option<u32>,
    bind_write_cost: Option<BindWriteCost>,
    concurrency: Option<u32>,
    deadline_seconds: Option<u64>,
}

/// How the client paces itself: quota windows, the cost of a bind PATCH, how
/// many requests are in flight, and how long a run may wait for Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Divides quota windows and backoff delays: for an emulator started with
    /// the same `--time-scale`. 1 for Microsoft Graph.
    pub time_scale: u32,
    /// The write cost assumed at first for a bind PATCH; a write throttle
    /// below the assumed quota switches to ceil(n/3).
    pub bind_write_cost: BindWriteCost,
    /// `$batch` requests in flight at most.
    pub concurrency: u32,
    /// How long one request may keep being retried.
    pub deadline: std::time::Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            time_scale: 1,
            bind_write_cost: BindWriteCost::Request,
            concurrency: 4,
            deadline: std::time::Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    env: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateSpec {
    key: PathBuf,
    certificate: PathBuf,
}

/// A national cloud, which decides the login and Graph hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cloud {
    /// The global service (also GCC Moderate).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5, for the Department of Defense.
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// The token host and the Graph host.
    pub fn hosts(self) -> (&'static str, &'static str) {
        match self {
            Self::Global => (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
            ),
            Self::UsGov => (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
            ),
            Self::UsGovDod => (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
            ),
            Self::China => (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
        }
    }
}

/// How the app proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client secret, read from this environment variable when needed.
    SecretFromEnv(String),
    /// A certificate: private key and certificate files (PEM), relative to `bulkops.yaml`.
    Certificate { key: PathBuf, certificate: PathBuf },
}

/// A resolved directory profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub tenant: String,
    pub client_id: String,
    pub credential: Credential,
    /// `https://login.microsoftonline.com` or an override (the emulator).
    pub login_url: String,
    /// `https://graph.microsoft.com` or an override (the emulator).
    pub graph_url: String,
    pub pacing: Pacing,
}

impl Profile {
    /// The token endpoint of the profile's tenant.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login_url, self.tenant)
    }

    /// The OAuth scope for Graph in the profile's cloud.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_url)
    }

    /// The client secret, read from the environment now; never logged.
    pub fn secret(&self) -> Result<Option<String>, ProfileError> {
        match &self.credential {
            Credential::SecretFromEnv(variable) => {
                std::env::var(variable)
                    .map(Some)
                    .map_err(|_| ProfileError::MissingSecret {
                        profile: self.name.clone(),
                        variable: variable.clone(),
                    })
            }
            Credential::Certificate { .. } => Ok(None),
        }
    }
}

/// Every profile of a profiles file.
pub fn load(path: &Path) -> Result<BTreeMap<String, Profile>, ProfileError> {
    let text = crate::files::input::read_limited(path, 1024 * 1024)
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "the text is not UTF-8")
            })
        })
        .map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse(path, &text)
}

/// Reads profiles from the text of a profiles file.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Profile>, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let document =
        crate::manifest::yaml::parse(text).map_err(|problem| invalid(problem.message))?;
    let spec: ProfilesFileSpec = serde_path_to_error::deserialize(&document.root.to_json())
        .map_err(|error| invalid(format!("{}: {}", error.path(), error.inner())))?;
    let base = path.parent().unwrap_or_else(|| Path::new(""));
    spec.profiles
        .into_iter()
        .map(|(name, profile)| {
            resolve(&name, profile, base)
                .map(|resolved| (name, resolved))
                .map_err(invalid)
        })
        .collect()
}

fn resolve(name: &str, spec: ProfileSpec, base: &Path) -> Result<Profile, String> {
    let credential = match (spec.secret, spec.certificate) {
        (Some(secret), None) => Credential::SecretFromEnv(secret.env),
        (None, Some(certificate)) => Credential::Certificate {
            key: base.join(certificate.key),
            certificate: base.join(certificate.certificate),
        },
        _ => {
            return Err(format!(
                "profiles.{name}: set exactly one of `secret` or `certificate`"
            ));
        }
    };
    let (login, graph) = spec.cloud.hosts();
    let trim = |url: String| url.trim_end_matches('/').to_owned();
    Ok(Profile {
        name: name.to_owned(),
        tenant: spec.tenant,
        client_id: spec.client_id,
        credential,
        login_url: spec.login_url.map_or_else(|| login.to_owned(), trim),
        graph_url: spec.graph_url.map_or_else(|| graph.to_owned(), trim),
        pacing: pacing(&spec.pacing)?,
    })
}

fn pacing(spec: &PacingSpec) -> Result<Pacing, String> {
    let defaults = Pacing::default();
    let pacing = Pacing {
        time_scale: spec.time_scale.unwrap_or(defaults.time_scale),
        bind_write_cost: spec.bind_write_cost.unwrap_or(defaults.bind_write_cost),
        concurrency: spec.concurrency.unwrap_or(defaults.concurrency),
        deadline: spec
            .deadline_seconds
            .map_or(defaults.deadline, std::time::Duration::from_secs),
    };
    if pacing.time_scale == 0 || !(1..=64).contains(&pacing.concurrency) {
        return Err("pacing: timeScale is at least 1 and concurrency between 1 and 64".to_owned());
    }
    Ok(pacing)
}

/// The profile a manifest names.
pub fn find(profiles: &BTreeMap<String, Profile>, name: &str) -> Result<Profile, ProfileError> {
    profiles
        .get(name)
        .cloned()
        .ok_or_else(|| ProfileError::Unknown {
            name: name.to_owned(),
            known: profiles
                .keys()
                .map(|known| format!("`{known}`"))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "profiles:
  contoso-prod:
    tenant: contoso.onmicrosoft.com
    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
    secret: { env: BULKOPS_TEST_SECRET_THAT_IS_NOT_SET }
  contoso-gov:
    tenant: 2f6e4b8a-0c1d-4e5f-9a7b-3c2d1e0f9a8b
    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
    cloud: usGovDod
    certificate: { key: keys/graph.key.pem, certificate: keys/graph.cert.pem }
  rehearsal:
    tenant: contoso.onmicrosoft.com
    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e
    secret: { env: REHEARSAL_SECRET }
    loginUrl: http://127.0.0.1:8765/
    graphUrl: http://127.0.0.1:8765
";

    #[test]
    fn reads_profiles_with_clouds_and_overrides() {
        let profiles = parse(Path::new("ops/bulkops.yaml"), FILE).unwrap();
        let prod = find(&profiles, "contoso-prod").unwrap();
        assert_eq!(
            prod.token_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(prod.scope(), "https://graph.microsoft.com/.default");
        let gov = find(&profiles, "contoso-gov").unwrap();
        assert_eq!(gov.graph_url, "https://dod-graph.microsoft.us");
        assert_eq!(
            gov.credential,
            Credential::Certificate {
                key: "ops/keys/graph.key.pem".into(),
                certificate: "ops/keys/graph.cert.pem".into()
            }
        );
        let rehearsal = find(&profiles, "rehearsal").unwrap();
        assert_eq!(
            rehearsal.token_url(),
            "http://127.0.0.1:8765/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }

    #[test]
    fn a_missing_secret_names_the_variable_only() {
        let profiles = parse(Path::new("bulkops.yaml"), FILE).unwrap();
        let error = find(&profiles, "contoso-prod")
            .unwrap()
            .secret()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the environment variable `BULKOPS_TEST_SECRET_THAT_IS_NOT_SET` that holds the secret of profile `contoso-prod` is not set"
        );
    }

    #[test]
    fn refuses_ambiguous_or_unknown_profiles() {
        let both = "profiles:\n  x:\n    tenant: t\n    clientId: c\n    secret: { env: A }\n    certificate: { key: k, certificate: c }\n";
        let error = parse(Path::new("bulkops.yaml"), both).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`bulkops.yaml`: profiles.x: set exactly one of `secret` or `certificate`"
        );
        let typo = "profiles:\n  x:\n    tenant: t\n    clientID: c\n";
        let error = parse(Path::new("bulkops.yaml"), typo).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `clientID`"),
            "{error}"
        );
        let profiles = parse(Path::new("bulkops.yaml"), FILE).unwrap();
        let unknown = find(&profiles, "contoso-test").unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "no directory profile is called `contoso-test`"
        );
    }
}
