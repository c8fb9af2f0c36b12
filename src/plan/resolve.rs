//! Resolution: from a schema-valid workflow to a [`Plan`], checking everything
//! the schema cannot see.
//!
//! That is: unique step ids, `needs` and set references that name existing steps
//! of the right kind, no dependency cycles, templates that compile and use only
//! variables that exist where they are rendered, output paths that stay inside
//! the output root, and values that contradict each other. Every problem is
//! collected; resolution also runs on a partly invalid manifest (the steps that
//! failed the schema are left out) so that one run of `validate` shows all.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::dag::{Dag, EdgeReason};
use super::{Action, Plan, RetryPolicy, Step};
use crate::manifest::duration::DurationSpec;
use crate::manifest::filter::TimeWindowSpec;
use crate::manifest::spec::{RetrySpec, WatchSpec, WorkflowSpec};
use crate::manifest::step::{DownloadMembersSpec, MemberListSpec, StepKind, StepSpec};
use crate::manifest::target::{GroupSetSpec, SetSpec};
use crate::problem::{Pointer, Problem, ProblemKind};
use crate::suggest::did_you_mean;
use crate::template::{self, Scope, TemplateFacts, Usage};

/// The default number of steps that run at the same time.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// The parts of a workflow that passed the schema check.
#[derive(Debug, Default)]
pub struct DraftWorkflow<'a> {
    /// `spec.vars`, unless invalid.
    pub vars: Option<&'a BTreeMap<String, String>>,
    /// Whether `spec.trigger` is present (valid or not).
    pub has_trigger: bool,
    /// `spec.trigger.watch`, unless invalid.
    pub watch: Option<&'a WatchSpec>,
    /// `spec.retry`, unless invalid.
    pub retry: Option<&'a RetrySpec>,
    /// Every step, valid or not, in manifest order.
    pub steps: Vec<DraftStep<'a>>,
}

/// A step of a draft: checked fully when valid, by its id and kind otherwise.
#[derive(Debug)]
pub enum DraftStep<'a> {
    Valid(&'a StepSpec),
    Broken {
        id: Option<String>,
        kind: Option<StepKind>,
        /// The `needs` entries, when they passed the schema.
        needs: Vec<String>,
    },
}

impl DraftStep<'_> {
    fn id(&self) -> Option<&str> {
        match self {
            Self::Valid(step) => Some(&step.id),
            Self::Broken { id, .. } => id.as_deref(),
        }
    }

    fn kind(&self) -> Option<StepKind> {
        match self {
            Self::Valid(step) => step.kinds().first().copied(),
            Self::Broken { kind, .. } => *kind,
        }
    }
}

/// Resolves a schema-valid workflow into a plan, or returns every problem.
/// The spec is consumed: its step options move into the plan.
pub fn resolve(spec: WorkflowSpec) -> Result<Plan, Vec<Problem>> {
    let (problems, dag) = check_draft(&DraftWorkflow::of(&spec));
    if !problems.is_empty() {
        return Err(problems);
    }
    let WorkflowSpec {
        metadata,
        spec: body,
        ..
    } = spec;
    let default_retry = body
        .retry
        .as_ref()
        .map(RetryPolicy::from)
        .unwrap_or_default();
    let steps = body
        .steps
        .into_iter()
        .map(|step| build_step(step, default_retry))
        .collect();
    let directories = if body.directories.is_empty() {
        vec![body.directory]
    } else {
        body.directories
    };
    Ok(Plan {
        workflow: metadata.name,
        directory: directories[0].clone(),
        directories,
        steps,
        dag,
        guards: body.guards,
        concurrency: body.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        vars: body.vars,
        watch: body.trigger.map(|trigger| trigger.watch),
        csv: crate::bulkcsv::cells::CsvStyle {
            formulas: match body.csv.map(|csv| csv.formulas) {
                Some(crate::manifest::spec::FormulasSpec::Keep) => {
                    crate::bulkcsv::cells::Formulas::Keep
                }
                _ => crate::bulkcsv::cells::Formulas::Neutralize,
            },
            bom: body.csv.is_some_and(|csv| csv.bom),
        },
    })
}

impl<'a> DraftWorkflow<'a> {
    /// The draft of a workflow that passed the schema as a whole.
    fn of(spec: &'a WorkflowSpec) -> Self {
        Self {
            vars: Some(&spec.spec.vars),
            has_trigger: spec.spec.trigger.is_some(),
            watch: spec.spec.trigger.as_ref().map(|trigger| &trigger.watch),
            retry: spec.spec.retry.as_ref(),
            steps: spec.spec.steps.iter().map(DraftStep::Valid).collect(),
        }
    }
}

fn build_step(spec: StepSpec, default_retry: RetryPolicy) -> Step {
    Step {
        retry: spec.retry.as_ref().map_or(default_retry, RetryPolicy::from),
        timeout: spec.timeout.map(DurationSpec::as_duration),
        continue_on_error: spec.continue_on_error,
        id: spec.id.clone(),
        action: action_of(spec),
    }
}

/// The step's one action. Resolution has checked there is exactly one.
fn action_of(step: StepSpec) -> Action {
    step.filter_groups
        .map(Action::FilterGroups)
        .or(step.download_groups.map(Action::DownloadGroups))
        .or(step.download_members.map(Action::DownloadMembers))
        .or(step.import_members.map(Action::ImportMembers))
        .or(step.remove_members.map(Action::RemoveMembers))
        .or(step.sync_members.map(Action::SyncMembers))
        .or(step.delete_jobs.map(Action::DeleteJobs))
        .or(step.filter_devices.map(Action::FilterDevices))
        .or(step.download_devices.map(Action::DownloadDevices))
        .or(step.disable_devices.map(Action::DisableDevices))
        .or(step.enable_devices.map(Action::EnableDevices))
        .or(step.delete_devices.map(Action::DeleteDevices))
        .expect("the schema requires exactly one action per step")
}

/// Checks everything the schema cannot, returning the problems and the dag of
/// the steps' dependencies.
pub fn check_draft(draft: &DraftWorkflow<'_>) -> (Vec<Problem>, Dag) {
    let mut checker = Checker::new(draft);
    checker.check_ids();
    checker.check_workflow_values();
    for (index, step) in draft.steps.iter().enumerate() {
        match step {
            DraftStep::Valid(step) => checker.check_step(index, step),
            DraftStep::Broken { needs, .. } => {
                checker.check_needs(index, needs, &step_pointer(index));
            }
        }
    }
    checker.check_cycles();
    (checker.problems, checker.dag)
}

fn step_pointer(index: usize) -> Pointer {
    Pointer::root().key("spec").key("steps").index(index)
}

struct Checker<'a> {
    draft: &'a DraftWorkflow<'a>,
    /// The first step with each id.
    index_of: HashMap<&'a str, usize>,
    dag: Dag,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    fn new(draft: &'a DraftWorkflow<'a>) -> Self {
        Self {
            draft,
            index_of: HashMap::with_capacity(draft.steps.len()),
            dag: Dag::with_steps(draft.steps.len()),
            problems: Vec::new(),
        }
    }

    fn check_ids(&mut self) {
        for (index, step) in self.draft.steps.iter().enumerate() {
            let Some(id) = step.id() else { continue };
            if let Some(first) = self.index_of.get(id) {
                let problem = Problem::at(ProblemKind::DuplicateId, step_pointer(index).key("id"), format!("duplicate step id `{id}`"))
                    .label("used again here")
                    .help(format!("step ids must be unique; `{id}` is already the id of step {} (`spec.steps[{first}]`)", first + 1));
                self.problems.push(problem);
            } else {
                self.index_of.insert(id, index);
            }
        }
    }

    fn check_workflow_values(&mut self) {
        let spec = Pointer::root().key("spec");
        if let Some(retry) = self.draft.retry {
            self.check_retry(retry, &spec.key("retry"));
        }
        if let Some(watch) = self.draft.watch {
            let settle = watch.settle.as_duration();
            let pointer = spec.key("trigger").key("watch").key("settle");
            self.check_duration_range(
                settle,
                &pointer,
                Duration::from_millis(100),
                Duration::from_secs(600),
            );
        }
    }

    fn check_step(&mut self, index: usize, step: &StepSpec) {
        let pointer = step_pointer(index);
        self.check_needs(index, &step.needs, &pointer);
        if let Some(retry) = &step.retry {
            self.check_retry(retry, &pointer.key("retry"));
        }
        if let Some(timeout) = step.timeout {
            let minimum = Duration::from_secs(1);
            self.check_duration_range(
                timeout.as_duration(),
                &pointer.key("timeout"),
                minimum,
                Duration::from_secs(7 * 86_400),
            );
        }
        self.check_action(index, step, &pointer);
    }

    fn check_needs(&mut self, index: usize, needs: &[String], pointer: &Pointer) {
        for (position, needed) in needs.iter().enumerate() {
            let at = || pointer.key("needs").index(position);
            if let Some(dependency) = self.find_step(needed, at, "a `needs` entry") {
                self.dag.add_edge(dependency, index, EdgeReason::Needs);
            }
        }
    }

    /// The index of the step called `id`, or a problem at `at` if there is none.
    /// The pointer is only built for the problem, keeping the common case cheap.
    fn find_step(&mut self, id: &str, at: impl FnOnce() -> Pointer, what: &str) -> Option<usize> {
        if let Some(index) = self.index_of.get(id) {
            return Some(*index);
        }
        let known = self.draft.steps.iter().filter_map(DraftStep::id);
        let help = match did_you_mean(id, known) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("{what} must be the id of a step of this workflow"),
        };
        let problem = Problem::at(
            ProblemKind::UnknownStep,
            at(),
            format!("no step has the id `{id}`"),
        )
        .label("unknown step")
        .help(help);
        self.problems.push(problem);
        None
    }

    /// The template scope of a step: `group.*` only where it runs per group.
    fn scope(&self, group: bool) -> Scope<'a> {
        Scope {
            vars: self.draft.vars,
            trigger: self.draft.has_trigger,
            group,
        }
    }

    fn check_action(&mut self, index: usize, step: &StepSpec, pointer: &Pointer) {
        self.check_filters(step, pointer);
        if let Some(download) = &step.download_groups {
            let at = pointer.key("downloadGroups");
            if let Some(groups) = &download.groups {
                self.check_set(index, groups, &at.key("groups"), StepKind::FilterGroups);
            }
            let scope = self.scope(false);
            self.check_template(&download.output, &at.key("output"), scope, Usage::Output);
        }
        if let Some(download) = &step.download_members {
            self.check_download_members(index, download, &pointer.key("downloadMembers"));
        }
        let lists = [
            ("importMembers", &step.import_members),
            ("removeMembers", &step.remove_members),
        ];
        for (key, list) in lists {
            if let Some(list) = list {
                self.check_member_list(index, list, &pointer.key(key));
            }
        }
        if let Some(sync) = &step.sync_members {
            self.check_sync(index, sync, &pointer.key("syncMembers"));
        }
        self.check_device_steps(index, step, pointer, self.scope(false));
        if let Some(older_than) = step
            .delete_jobs
            .as_ref()
            .and_then(|delete| delete.older_than)
        {
            let at = pointer.key("deleteJobs").key("olderThan");
            let (minimum, maximum) = (
                Duration::from_secs(60),
                Duration::from_secs(100 * 365 * 86_400),
            );
            self.check_duration_range(older_than.as_duration(), &at, minimum, maximum);
        }
    }

    fn check_filters(&mut self, step: &StepSpec, pointer: &Pointer) {
        if let Some(filter) = &step.filter_groups {
            let at = pointer.key("filterGroups").key("created");
            self.check_window(filter.created.as_ref(), &at);
        }
        if let Some(filter) = &step.filter_devices {
            let at = pointer.key("filterDevices");
            self.check_window(filter.last_sign_in.as_ref(), &at.key("lastSignIn"));
            self.check_window(filter.registered.as_ref(), &at.key("registered"));
        }
    }

    /// Per-group files need a file name that tells the groups apart.
    fn check_download_members(
        &mut self,
        index: usize,
        download: &DownloadMembersSpec,
        at: &Pointer,
    ) {
        self.check_set(
            index,
            &download.groups,
            &at.key("groups"),
            StepKind::FilterGroups,
        );
        let per_group = !download.combined;
        let scope = self.scope(per_group);
        let facts = self.check_template(&download.output, &at.key("output"), scope, Usage::Output);
        let shared = facts.is_some_and(|facts| !facts.uses_group());
        if per_group && shared && !is_single_group(&download.groups) {
            self.problems.push(shared_output(&at.key("output")));
        }
    }

    fn check_member_list(&mut self, index: usize, list: &MemberListSpec, at: &Pointer) {
        if let Some(groups) = &list.groups {
            self.check_set(index, groups, &at.key("groups"), StepKind::FilterGroups);
        }
        let input_scope = self.scope(false);
        self.check_template(&list.input, &at.key("input"), input_scope, Usage::Input);
        if let Some(results) = &list.results {
            let results_scope = self.scope(true);
            self.check_template(results, &at.key("results"), results_scope, Usage::Output);
        }
    }

    fn check_sync(
        &mut self,
        index: usize,
        sync: &crate::manifest::step::SyncMembersSpec,
        at: &Pointer,
    ) {
        if let Some(groups) = &sync.groups {
            self.check_set(index, groups, &at.key("groups"), StepKind::FilterGroups);
        }
        if let Some(input) = &sync.input {
            let input_scope = self.scope(false);
            self.check_template(input, &at.key("input"), input_scope, Usage::Input);
        }
        if let Some(results) = &sync.results {
            let results_scope = self.scope(true);
            self.check_template(results, &at.key("results"), results_scope, Usage::Output);
        }
    }

    fn check_device_steps(
        &mut self,
        index: usize,
        step: &StepSpec,
        pointer: &Pointer,
        scope: Scope<'_>,
    ) {
        if let Some(download) = &step.download_devices {
            let at = pointer.key("downloadDevices");
            if let Some(devices) = &download.devices {
                self.check_set(index, devices, &at.key("devices"), StepKind::FilterDevices);
            }
            self.check_template(&download.output, &at.key("output"), scope, Usage::Output);
        }
        let changes = [
            (
                "disableDevices",
                step.disable_devices
                    .as_ref()
                    .map(|c| (&c.devices, &c.input, &c.results)),
            ),
            (
                "enableDevices",
                step.enable_devices
                    .as_ref()
                    .map(|c| (&c.devices, &c.input, &c.results)),
            ),
            (
                "deleteDevices",
                step.delete_devices
                    .as_ref()
                    .map(|c| (&c.devices, &c.input, &c.results)),
            ),
        ];
        for (key, change) in changes {
            let Some((devices, input, results)) = change else {
                continue;
            };
            let at = pointer.key(key);
            if let Some(devices) = devices {
                self.check_set(index, devices, &at.key("devices"), StepKind::FilterDevices);
            }
            if let Some(input) = input {
                self.check_template(input, &at.key("input"), scope, Usage::Input);
            }
            if let Some(results) = results {
                self.check_template(results, &at.key("results"), scope, Usage::Output);
            }
        }
    }

    /// A set given by step id must name a filter step of the expected kind.
    fn check_set<T>(&mut self, index: usize, set: &SetSpec<T>, at: &Pointer, expected: StepKind) {
        let SetSpec::Step(id) = set else { return };
        let what = format!(
            "a {} set",
            if expected == StepKind::FilterGroups {
                "group"
            } else {
                "device"
            }
        );
        let Some(source) = self.find_step(id, || at.clone(), &what) else {
            return;
        };
        let reason = if expected == StepKind::FilterGroups {
            EdgeReason::GroupSet
        } else {
            EdgeReason::DeviceSet
        };
        match self.draft.steps[source].kind() {
            Some(kind) if kind != expected => {
                let problem = Problem::at(ProblemKind::WrongStepKind, at.clone(), format!("`{id}` is a `{kind}` step, not a `{expected}` step"))
                    .label(format!("expected a `{expected}` step"))
                    .help(format!("{what} comes from a `{expected}` step; point this at one, or list the objects here"));
                self.problems.push(problem);
            }
            _ => self.dag.add_edge(source, index, reason),
        }
    }

    fn check_template(
        &mut self,
        source: &str,
        at: &Pointer,
        scope: Scope<'_>,
        usage: Usage,
    ) -> Option<TemplateFacts> {
        match template::check(source, at, scope, usage) {
            Ok(facts) => Some(facts),
            Err(problems) => {
                self.problems.extend(problems);
                None
            }
        }
    }

    fn check_retry(&mut self, retry: &RetrySpec, at: &Pointer) {
        let hour = Duration::from_secs(3_600);
        self.check_duration_range(
            retry.delay.as_duration(),
            &at.key("delay"),
            Duration::ZERO,
            hour,
        );
        self.check_duration_range(
            retry.max_delay.as_duration(),
            &at.key("maxDelay"),
            Duration::ZERO,
            hour,
        );
        if retry.delay.as_duration() > retry.max_delay.as_duration() {
            let problem = Problem::at(
                ProblemKind::Conflict,
                at.key("delay"),
                format!(
                    "`delay` ({}) is longer than `maxDelay` ({})",
                    retry.delay, retry.max_delay
                ),
            )
            .label("longer than maxDelay")
            .help("make `delay` the first, shortest wait and `maxDelay` the longest");
            self.problems.push(problem);
        }
    }

    fn check_duration_range(
        &mut self,
        value: Duration,
        at: &Pointer,
        minimum: Duration,
        maximum: Duration,
    ) {
        let problem = if value < minimum {
            Some(("too short", format!("the minimum is {}", human(minimum))))
        } else if value > maximum {
            Some(("too long", format!("the maximum is {}", human(maximum))))
        } else {
            None
        };
        if let Some((what, limit)) = problem {
            let problem = Problem::at(
                ProblemKind::OutOfRange,
                at.clone(),
                format!("this duration is {what}"),
            )
            .label(limit)
            .help(format!(
                "use a duration from {} to {}",
                human(minimum),
                human(maximum)
            ));
            self.problems.push(problem);
        }
    }

    fn check_window(&mut self, window: Option<&TimeWindowSpec>, at: &Pointer) {
        let Some(window) = window else { return };
        if let (Some(older), Some(newer)) = (window.older_than, window.newer_than)
            && older.as_duration() >= newer.as_duration()
        {
            let problem = Problem::at(ProblemKind::Conflict, at.key("newerThan"), "this window is empty: nothing is both older and newer")
                    .label(format!("`newerThan` must be longer than `olderThan` ({older})"))
                    .help("`olderThan: 90d` keeps what is more than 90 days old; `newerThan: 180d` then keeps what is less than 180 days old");
            self.problems.push(problem);
        }
        if let (Some(before), Some(after)) = (&window.before, &window.after)
            && before.as_str().len() == after.as_str().len()
            && before.as_str() <= after.as_str()
        {
            let problem = Problem::at(
                ProblemKind::Conflict,
                at.key("before"),
                "this window is empty: `before` is not later than `after`",
            )
            .label("not later than `after`")
            .help("`after` is the start of the window and `before` its end");
            self.problems.push(problem);
        }
    }

    fn check_cycles(&mut self) {
        for cycle in self.dag.cycles() {
            let path: Vec<&str> = cycle
                .iter()
                .map(|index| self.draft.steps[*index].id().unwrap_or("?"))
                .collect();
            let message = format!("dependency cycle: {}", path.join(" -> "));
            let first = cycle[0];
            let problem = Problem::at(ProblemKind::Cycle, step_pointer(first).key("id"), message)
                .label("this step depends on itself through the cycle")
                .help("remove one of these dependencies; both `needs` and group or device set references count");
            self.problems.push(problem);
        }
    }
}

fn is_single_group(groups: &GroupSetSpec) -> bool {
    matches!(groups, SetSpec::List(list) if list.len() == 1)
}

fn shared_output(at: &Pointer) -> Problem {
    Problem::at(ProblemKind::Conflict, at.clone(), "every group would be written to the same file")
        .label("the same for every group")
        .help("add `{{group.displayName}}` or `{{group.id}}` to `output`, or set `combined: true` for one file with a group column")
}

/// A duration for messages: `1h`, `7d`, `100ms`.
fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in units {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}
