//! The process exit codes of `bulkops`, documented in README.md.
//!
//! Scripts and CI pipelines branch on these numbers, so they never change meaning.
//! The values follow the BSD `sysexits.h` convention where one applies.

/// Everything succeeded.
pub const SUCCESS: i32 = 0;

/// An operation failed at run time for a reason not covered by a more specific code.
pub const FAILURE: i32 = 1;

/// The command line was wrong: an unknown flag, a missing argument.
pub const USAGE: i32 = 64;

/// A manifest failed validation: YAML syntax, schema, references, cycles or templates.
pub const INVALID_MANIFEST: i32 = 65;

/// A manifest path could not be read: missing, a directory without manifests, no permission.
pub const INPUT_UNREADABLE: i32 = 66;

/// An output could not be written (for example stdout closed early).
pub const OUTPUT_FAILED: i32 = 74;
