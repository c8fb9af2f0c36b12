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

/// Input is invalid: a manifest fails validation (YAML syntax, schema,
/// references, cycles, templates), or a data file such as a tenant CSV is malformed.
pub const INVALID_INPUT: i32 = 65;

/// An input could not be read: a missing path, a folder without manifests, a
/// missing tenant file, no permission.
pub const INPUT_UNREADABLE: i32 = 66;

/// An output could not be written (for example stdout closed early).
pub const OUTPUT_FAILED: i32 = 74;

/// `plan --detailed-exitcode`: the run would change something.
pub const CHANGES_PENDING: i32 = 2;

/// A guard refused the run before anything changed (for example more removals
/// than `guards.maxRemovals`).
pub const GUARD_REFUSED: i32 = 3;

/// A saved plan cannot be applied: something it was made from changed (a
/// manifest, an input, a group's members, a device's state, the directory),
/// or it was applied before. Nothing was changed; plan again.
pub const STALE_PLAN: i32 = 4;

/// Another process's run kept the directory busy past `--lock-timeout`;
/// nothing was changed (`EX_TEMPFAIL`: try again later).
pub const BUSY: i32 = 75;

/// A run was stopped with Ctrl-C; `bulkops apply --resume RUN_ID` finishes it.
pub const CANCELLED: i32 = 130;
