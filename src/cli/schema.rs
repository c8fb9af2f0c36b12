//! `bulkops schema`: prints the manifest JSON Schema, for editors and CI.

use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::manifest::schema;

/// Arguments of `bulkops schema`.
#[derive(Debug, clap::Args)]
pub(super) struct SchemaArgs {}

/// Prints the schema, exactly as committed in `schemas/manifest.schema.json`.
pub(super) fn run(_args: &SchemaArgs) -> Result<Outcome, Error> {
    write_stdout(&schema::generate_text())?;
    Ok(Outcome::Success)
}
