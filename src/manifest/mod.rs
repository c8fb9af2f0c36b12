//! Manifests: the YAML documents administrators write, their spec types, the
//! generated JSON Schema, and loading with every problem located in the source.

pub mod diagnostic;
pub mod duration;
pub mod filter;
pub mod folder;
pub mod load;
pub mod schema;
pub mod spec;
pub mod step;
pub mod target;
pub mod yaml;

pub use diagnostic::{ManifestDiagnostic, ManifestSource};
pub use folder::{FolderError, duplicate_names, manifest_files};
pub use load::{InvalidManifest, LoadError, LoadedManifest, load_bytes, load_file, read_file};
