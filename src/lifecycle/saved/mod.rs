//! Saved plans: `bulkops plan --out plan.json` records what a run would do,
//! exactly, and `bulkops apply plan.json` does that or refuses.
//!
//! Applying a plan checks, before anything changes, that the plan file is
//! as it was made, that its runs were never started, that each manifest and
//! input is unchanged, that the directory is the one it was made against,
//! and that a preview made now — with the filter steps pinned to the objects
//! the plan selected — records the same changes and finds every group and
//! device in the state the plan saw (member counts, the membership of the
//! members it changes, device states). The run is then held to the plan: a
//! chunk whose changes differ (the directory changed during the run) is
//! refused before it is journaled.

pub mod compare;
pub mod format;
pub mod review;

use std::path::Path;
use std::sync::Arc;

use super::{Finished, LifecycleError, Options, Paths, Session, check, lock_store, open};
use crate::manifest::{self, LoadedManifest};
use crate::runner::RunReport;
use crate::steps::guard::{Budget, Limits};
use crate::steps::pinned::{ObjectRef, Pins};
use crate::steps::{Effect, Selection};
use crate::store::{Charged, Create, JobStore, SavedRun, Status, StoreError};
use format::{PlanFile, SavedDirectory, SavedFile, SavedGuards, SavedStep, SavedWorkflow};

/// What a saved workflow is made of, besides its preview.
pub(super) struct Made<'a> {
    pub(super) loaded: &'a LoadedManifest,
    pub(super) run_id: &'a str,
    pub(super) identity: String,
    pub(super) limits: Limits,
    pub(super) input_base: &'a Path,
    pub(super) trigger_file: Option<&'a Path>,
}

/// A workflow's part of a plan, from a recording preview; `None` when a step
/// could not be previewed (the plan fails and nothing is saved). A step whose
/// effect cannot be known before the run cannot be saved.
pub(super) fn from_report(
    report: &RunReport,
    made: &Made<'_>,
) -> Result<Option<SavedWorkflow>, LifecycleError> {
    let mut steps = Vec::new();
    let mut inputs = Vec::new();
    for step in &report.steps {
        if step.state != crate::runner::StepState::Finished {
            return Ok(None);
        }
        if let Some(why) = step
            .effects
            .iter()
            .find_map(|effect| effect.unknown.as_ref())
        {
            return Err(LifecycleError::NotSaveable {
                step: step.id.clone(),
                why: why.clone(),
            });
        }
        inputs.extend(
            step.effects
                .iter()
                .filter_map(|effect| effect.input.as_ref())
                .map(|read| SavedFile {
                    path: relative(&read.path, made.input_base),
                    sha256: read.sha256.clone(),
                }),
        );
        steps.push(saved_step(step, &step.effects));
    }
    inputs.sort();
    inputs.dedup();
    let source = &made.loaded.source;
    Ok(Some(SavedWorkflow {
        workflow: made.loaded.plan.workflow.clone(),
        run_id: made.run_id.to_owned(),
        manifest: SavedFile {
            path: relative(&source.name, made.input_base),
            sha256: sha256_of_text(&source.text),
        },
        directory: SavedDirectory {
            name: made.loaded.plan.directory.clone(),
            identity: made.identity.clone(),
        },
        trigger_file: made
            .trigger_file
            .map(|file| relative(&file.display().to_string(), made.input_base)),
        guards: SavedGuards {
            max_removals: made.limits.removals,
            max_device_deletions: made.limits.device_deletions,
        },
        inputs,
        steps,
    }))
}

fn saved_step(step: &crate::runner::StepResult, effects: &[Effect]) -> SavedStep {
    let selection = step.selection.as_ref().map(|selection| match selection {
        Selection::Groups(groups) => groups.iter().map(ObjectRef::group).collect(),
        Selection::Devices(devices) => devices.iter().map(ObjectRef::device).collect(),
    });
    SavedStep {
        id: step.id.clone(),
        kind: step.kind.to_owned(),
        selection,
        jobs: effects
            .iter()
            .filter_map(|effect| effect.ops.clone())
            .collect(),
        files: effects
            .iter()
            .filter_map(|effect| effect.file.as_ref())
            .map(|(path, _)| path.clone())
            .collect(),
        deleted_jobs: effects
            .iter()
            .flat_map(|effect| effect.deleted_job_ids.iter().cloned())
            .collect(),
    }
}

/// A path relative to `base` when it is below it, so a plan made in one
/// checkout applies in another.
fn relative(path: &str, base: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| Path::new(path).to_path_buf());
    absolute
        .strip_prefix(base)
        .map_or_else(|_| path.to_owned(), |below| below.display().to_string())
}

/// The SHA-256 of a manifest's text.
pub(super) fn sha256_of_text(text: &str) -> String {
    crate::files::input::Fingerprint::of_bytes(text.as_bytes()).to_string()
}

/// The pins of a run that applies a saved plan, if it does.
pub(super) fn pins_of_run(store: &JobStore, run_id: &str) -> Result<Option<Pins>, LifecycleError> {
    let Some((plan_id, body)) = store.saved_plan_of(run_id)? else {
        return Ok(None);
    };
    let saved: SavedWorkflow =
        serde_json::from_str(&body).map_err(|error| LifecycleError::RecordedPlan {
            run_id: run_id.to_owned(),
            plan_id,
            reason: error.to_string(),
        })?;
    Ok(Some(saved.pins()))
}

/// Applies a saved plan: each workflow's run in order, stopping at the first
/// that does not complete.
pub fn apply(
    plan_path: &Path,
    paths: &Paths,
    options: Options,
) -> Result<Vec<Finished>, LifecycleError> {
    let file =
        PlanFile::read(plan_path).map_err(|error| LifecycleError::PlanFile(Box::new(error)))?;
    super::runtime()?.block_on(async {
        let session = super::session(
            JobStore::open_at(&paths.state, Create::IfMissing)?,
            super::Hooks::default(),
        );
        let pending = pending_workflows(&lock_store(&session.store), &file)?;
        let mut finished = Vec::new();
        for workflow in pending {
            let done =
                match apply_workflow(&file.plan_id, workflow, plan_path, paths, options, &session)
                    .await
                {
                    Ok(done) => done,
                    Err(LifecycleError::StalePlan {
                        plan_id,
                        workflow,
                        changes,
                        replan,
                        ..
                    }) => {
                        return Err(LifecycleError::StalePlan {
                            plan_id,
                            workflow,
                            applied_before: completed_runs(&finished),
                            changes,
                            replan,
                        });
                    }
                    Err(error) => return Err(error),
                };
            let completed = done.report.status == Status::Completed;
            finished.push(done);
            if !completed {
                break;
            }
        }
        Ok(finished)
    })
}

/// The ids of the runs that completed.
fn completed_runs(finished: &[Finished]) -> Vec<String> {
    finished
        .iter()
        .filter(|done| done.report.status == Status::Completed)
        .map(|done| format!("`{}`", done.report.run_id))
        .collect()
}

/// The workflows of a plan still to run. A workflow whose run completed is
/// done (a plan of a folder whose first run was interrupted and resumed goes
/// on with the next); one whose run did not complete is refused with how to
/// resume it; a plan whose every run completed was applied before.
fn pending_workflows<'a>(
    store: &JobStore,
    file: &'a PlanFile,
) -> Result<Vec<&'a SavedWorkflow>, LifecycleError> {
    let mut pending = Vec::new();
    let mut last_done = None;
    for workflow in &file.body.workflows {
        match store.run(&workflow.run_id) {
            Err(StoreError::UnknownRun { .. }) => pending.push(workflow),
            Ok(run) if run.status == Status::Completed => {
                tracing::info!(run = %run.id, workflow = %workflow.workflow, "already applied by this plan");
                last_done = Some(run);
            }
            Ok(_) => refuse_started(store, &file.plan_id, workflow)?,
            Err(error) => return Err(error.into()),
        }
    }
    match (pending.is_empty(), last_done) {
        (true, Some(run)) => Err(LifecycleError::PlanApplied {
            plan_id: file.plan_id.clone(),
            run_id: run.id,
            status: run.status,
            next: "for new changes, plan again with `bulkops plan MANIFEST --out FILE`".to_owned(),
        }),
        _ => Ok(pending),
    }
}

/// Refuses a workflow whose run was started before.
fn refuse_started(
    store: &JobStore,
    plan_id: &str,
    workflow: &SavedWorkflow,
) -> Result<(), LifecycleError> {
    {
        match store.run(&workflow.run_id) {
            Err(StoreError::UnknownRun { .. }) => {}
            Ok(run) => {
                let next = match run.status {
                    Status::Interrupted | Status::Cancelled => {
                        format!("its run continues with `bulkops apply --resume {}`", run.id)
                    }
                    Status::Running => "its run is going on now".to_owned(),
                    _ => "for new changes, plan again with `bulkops plan MANIFEST --out FILE`"
                        .to_owned(),
                };
                return Err(LifecycleError::PlanApplied {
                    plan_id: plan_id.to_owned(),
                    run_id: run.id,
                    status: run.status,
                    next,
                });
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

async fn apply_workflow(
    plan_id: &str,
    saved: &SavedWorkflow,
    plan_path: &Path,
    paths: &Paths,
    options: Options,
    session: &Session,
) -> Result<Finished, LifecycleError> {
    let stale = |changes: Vec<String>| LifecycleError::StalePlan {
        plan_id: plan_id.to_owned(),
        workflow: format!(
            "{}` on directory `{}",
            saved.workflow,
            crate::text::printable(&saved.directory.name)
        ),
        applied_before: Vec::new(),
        changes,
        replan: format!(
            "bulkops plan {} --out {}",
            saved.manifest.path,
            plan_path.display()
        ),
    };
    let (loaded, paths) = load_unchanged(saved, paths, &stale)?;
    let directory = open::directory(&loaded, &paths)?;
    let identity = open::identity(&directory)?;
    if identity != saved.directory.identity {
        return Err(stale(vec![format!(
            "the plan was made against {}, this is {identity}",
            saved.directory.identity
        )]));
    }
    let limits = super::limits_of(&loaded, options.allow_removals);
    let lock = lock_store(&session.store).lock_run(&saved.run_id)?;
    *super::lock_current(&session.current) = Some(saved.run_id.clone());
    let _directory_lock =
        match super::directory_lock::for_run(&directory, &paths, &saved.run_id, options, session) {
            Ok(held) => held,
            Err(error) => {
                lock.release();
                return Err(error);
            }
        };
    let plan = Arc::new(loaded.plan.clone());
    let held = Held {
        plan_id,
        saved,
        loaded: &loaded,
        paths: &paths,
        directory: &directory,
        identity,
        limits,
    };
    let (mut context, checked) = match still_holds(&held, &plan, session, &stale).await {
        Ok(ready) => ready,
        Err(error) => {
            lock.release();
            return Err(error);
        }
    };
    let body = serde_json::to_string(saved).expect("a plan serializes");
    let planned = super::Planned {
        source: &loaded.source,
        plan: &plan,
        context: &context,
        location: open::location(&directory, &paths)?,
        limits,
        inputs: &checked.inputs,
        ledger: None,
        saved: Some(SavedRun {
            plan_id,
            body: &body,
        }),
    };
    if let Err(error) = super::record_run(&session.store, &planned) {
        lock.release();
        return Err(error);
    }
    tracing::info!(run = %saved.run_id, workflow = %saved.workflow, plan = %plan_id, "run of a saved plan started");
    context.dry_run = false;
    context.record = false;
    context.counted_steps = checked.counted;
    super::execute(
        plan,
        context,
        directory.clone(),
        Budget::new(limits, Charged::default()),
        std::collections::HashMap::new(),
        options,
        session,
        lock,
    )
    .await
}

/// The manifest of a saved workflow, refused unless unchanged, with the
/// paths its run uses (the plan's trigger file).
fn load_unchanged(
    saved: &SavedWorkflow,
    paths: &Paths,
    stale: &impl Fn(Vec<String>) -> LifecycleError,
) -> Result<(LoadedManifest, Paths), LifecycleError> {
    let loaded = manifest::load_file(Path::new(&saved.manifest.path))?;
    let sha256 = sha256_of_text(&loaded.source.text);
    if sha256 != saved.manifest.sha256 {
        let now = SavedWorkflow {
            manifest: SavedFile {
                path: saved.manifest.path.clone(),
                sha256,
            },
            ..saved.clone()
        };
        return Err(stale(compare::differences(saved, &now)));
    }
    if !loaded.plan.directories.contains(&saved.directory.name) {
        return Err(stale(vec![format!(
            "the manifest does not run against directory `{}`",
            crate::text::printable(&saved.directory.name)
        )]));
    }
    // A manifest with several directories: the part planned for this one.
    let loaded = loaded.for_directory(&saved.directory.name);
    let mut paths = paths.clone();
    paths.trigger_file = saved.trigger_file.as_ref().map(Into::into);
    super::check_trigger(&loaded, &paths)?;
    Ok((loaded, paths))
}

/// What a saved workflow's run is checked with.
struct Held<'a> {
    plan_id: &'a str,
    saved: &'a SavedWorkflow,
    loaded: &'a LoadedManifest,
    paths: &'a Paths,
    directory: &'a crate::directory::any::AnyDirectory,
    identity: String,
    limits: Limits,
}

/// Checks, under the run's lock, that the plan was not applied meanwhile
/// and that a preview made now, pinned to the plan, records the same work
/// from the same state; returns the run's context and the check.
async fn still_holds(
    held: &Held<'_>,
    plan: &Arc<crate::plan::Plan>,
    session: &Session,
    stale: &impl Fn(Vec<String>) -> LifecycleError,
) -> Result<(crate::runner::context::RunContext, check::Checked), LifecycleError> {
    let saved = held.saved;
    // Another process may have started this run since the plan was read.
    refuse_started(&lock_store(&session.store), held.plan_id, saved)?;
    let mut context = super::context_for(plan, held.paths, saved.run_id.clone(), true)?;
    context.check_only = false;
    context.record = true;
    context.pins = Some(Arc::new(saved.pins()));
    let checked = check::before_run(
        plan,
        context.clone(),
        held.directory,
        &session.store,
        &session.stop,
        held.limits,
    )
    .await?
    .ok_or(LifecycleError::StoppedBeforeRun)?;
    let made = Made {
        loaded: held.loaded,
        run_id: &saved.run_id,
        identity: held.identity.clone(),
        limits: held.limits,
        input_base: &context.input_base,
        trigger_file: context.trigger_file.as_deref(),
    };
    let now = from_report(&checked.report, &made)?
        .ok_or_else(|| stale(vec!["a step can no longer be previewed".to_owned()]))?;
    let changes = compare::differences(saved, &now);
    if !changes.is_empty() {
        return Err(stale(changes));
    }
    Ok((context, checked))
}
