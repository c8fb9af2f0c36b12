//! Opening what a run uses: the job store, the directory its manifest names
//! (the local directory or a Microsoft Graph profile), and its output root.

use std::path::{Path, PathBuf};

use super::{LifecycleError, Paths};
use crate::directory::SharedLocal;
use crate::directory::any::AnyDirectory;
use crate::directory::local::LocalDirectory;
use crate::manifest::LoadedManifest;
use crate::msgraph::client::{ClientError, GraphClient};
use crate::msgraph::directory::GraphDirectory;
use crate::msgraph::profile;

/// The profiles file of a manifest: `--profiles`, else `bulkops.yaml` beside it.
pub fn profiles_path(loaded: &LoadedManifest, paths: &Paths) -> PathBuf {
    paths.profiles.clone().unwrap_or_else(|| {
        Path::new(&loaded.source.name)
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(profile::PROFILES_FILE)
    })
}

/// Whether the profiles file describes the manifest's directory profile.
pub fn profile_configured(loaded: &LoadedManifest, paths: &Paths) -> bool {
    profile::load(&profiles_path(loaded, paths))
        .is_ok_and(|profiles| profiles.contains_key(&loaded.plan.directory))
}

/// The profile the manifest's directory names (`None` for `local`), read
/// from the profiles file; a missing file or profile is an error.
pub fn chosen_profile(
    loaded: &LoadedManifest,
    paths: &Paths,
) -> Result<Option<profile::Profile>, LifecycleError> {
    let name = &loaded.plan.directory;
    if name == "local" {
        return Ok(None);
    }
    let path = profiles_path(loaded, paths);
    if !path.exists() {
        return Err(LifecycleError::UnknownDirectory {
            name: name.clone(),
            profiles: path,
        });
    }
    let profiles = profile::load(&path).map_err(ClientError::from)?;
    Ok(Some(
        profile::find(&profiles, name).map_err(ClientError::from)?,
    ))
}

/// Checks that every profile in `names` (`local` aside) is configured in the
/// manifest's profiles file, read once.
pub fn check_profiles(
    loaded: &LoadedManifest,
    paths: &Paths,
    names: &[String],
) -> Result<(), LifecycleError> {
    let mut wanted = names.iter().filter(|name| *name != "local").peekable();
    let Some(first) = wanted.peek() else {
        return Ok(());
    };
    let path = profiles_path(loaded, paths);
    if !path.exists() {
        return Err(LifecycleError::UnknownDirectory {
            name: (*first).clone(),
            profiles: path,
        });
    }
    let profiles = profile::load(&path).map_err(ClientError::from)?;
    for name in wanted {
        profile::find(&profiles, name).map_err(ClientError::from)?;
    }
    Ok(())
}

/// The directory the manifest names: `local`, or a profile of the profiles file.
pub fn directory(loaded: &LoadedManifest, paths: &Paths) -> Result<AnyDirectory, LifecycleError> {
    let Some(chosen) = chosen_profile(loaded, paths)? else {
        return Ok(AnyDirectory::Local(SharedLocal::new(LocalDirectory::open(
            &local_path(paths),
        )?)));
    };
    tracing::info!(profile = %chosen.name, tenant = %chosen.tenant, graph = %chosen.graph_url, "using Microsoft Graph");
    Ok(AnyDirectory::Graph(GraphDirectory::new(GraphClient::new(
        chosen,
    )?)))
}

/// The directory a preview reads, and how to name it: a local directory
/// that does not exist yet is previewed as the demo tenant held in memory,
/// creating nothing (unless `create`, for a plan that is saved).
pub fn directory_for_preview(
    loaded: &LoadedManifest,
    paths: &Paths,
    create: bool,
) -> Result<(AnyDirectory, String), LifecycleError> {
    let name = &loaded.plan.directory;
    if name != "local" {
        return Ok((directory(loaded, paths)?, format!("`{name}`")));
    }
    let path = local_path(paths);
    let pulling = crate::files::database::sibling(&path, ".pull").exists();
    if !create && !path.exists() && !pulling {
        let demo = LocalDirectory::demo_in_memory(&path)?;
        return Ok((
            AnyDirectory::Local(SharedLocal::new(demo)),
            format!(
                "`local` (the demo tenant, in memory: `{}` does not exist, and nothing was created)",
                path.display()
            ),
        ));
    }
    let opened = directory(loaded, paths)?;
    Ok((opened, format!("`local` (`{}`)", path.display())))
}

/// The local directory database a run uses.
pub fn local_path(paths: &Paths) -> PathBuf {
    paths
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::directory::local::DEFAULT_PATH))
}

/// What a run records of its directory, so that a resume goes to the same
/// one: the local database's absolute path, or Graph's tenant and address.
pub fn location(directory: &AnyDirectory, paths: &Paths) -> Result<String, LifecycleError> {
    Ok(match directory {
        AnyDirectory::Local(_) => {
            let path = local_path(paths);
            std::fs::canonicalize(&path)
                .or_else(|_| std::path::absolute(&path))
                .map_err(|source| LifecycleError::Io { path, source })?
                .display()
                .to_string()
        }
        AnyDirectory::Graph(graph) => {
            let profile = graph.client().profile();
            format!("tenant {} at {}", profile.tenant, profile.graph_url)
        }
    })
}

/// Which directory this is, for a saved plan: the local database's own id
/// (a copy of the file is the same directory, a fresh one is not), or the
/// Graph profile with its tenant and address.
pub fn identity(directory: &AnyDirectory) -> Result<String, LifecycleError> {
    Ok(match directory {
        AnyDirectory::Local(local) => format!(
            "local directory {}",
            local.id().map_err(|error| LifecycleError::Identity {
                source: Box::new(error)
            })?
        ),
        AnyDirectory::Graph(graph) => {
            let profile = graph.client().profile();
            format!(
                "profile `{}`: tenant {} at {}",
                profile.name, profile.tenant, profile.graph_url
            )
        }
    })
}

/// The output root as an absolute path, created if missing: every file a
/// run writes and every file `jobs delete` removes is below it.
pub fn output_root(path: &Path) -> Result<PathBuf, LifecycleError> {
    let failed = |source| LifecycleError::OutputRoot {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_dir()) {
        return Err(failed(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "it is a file, not a folder",
        )));
    }
    std::fs::create_dir_all(path).map_err(failed)?;
    std::fs::canonicalize(path).map_err(failed)
}

/// The output root as an absolute path without creating it (for a preview).
pub fn existing_root(path: &Path) -> Result<PathBuf, LifecycleError> {
    match std::fs::canonicalize(path) {
        Ok(root) => Ok(root),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => absolute(path),
        Err(source) => Err(LifecycleError::OutputRoot {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What a run with a watch trigger names as its trigger file, made absolute.
pub fn absolute(path: &Path) -> Result<PathBuf, LifecycleError> {
    std::path::absolute(path).map_err(|source| LifecycleError::OutputRoot {
        path: path.to_path_buf(),
        source,
    })
}
