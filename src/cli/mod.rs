//! The command line: argument parsing with clap, one file per command, and the
//! mapping from results to exit codes.

mod apply;
mod directory;
mod emulate;
mod jobs;
mod listing;
mod plan;
mod plan_folder;
mod report;
mod runs;
mod schema;
mod serve;
mod submit;
mod validate;
mod watch;
mod worker;

use clap::{Parser, Subcommand};

pub use report::{MessageFormat, Reporter};

use crate::error::Error;
use crate::exit_code;

/// Declarative, resumable bulk operations for Microsoft Entra ID groups and devices.
#[derive(Debug, Parser)]
#[command(name = "bulkops", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text` for people, `json` (one
    /// object per line) for log collectors. `BULKOPS_LOG=debug` shows more.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BULKOPS_LOG_FORMAT")]
    log_format: LogFormat,
}

/// The formats of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow, or finish an interrupted run with `--resume RUN_ID`.
    #[command(after_help = "Examples:
  bulkops apply manifests/quickstart.yaml
  bulkops apply plan.json                         # exactly the plan `bulkops plan --out` saved
  bulkops apply --changed-only manifests/         # only what changed since its last apply
  bulkops apply --resume 20261127-142300-3f9a     # finish a run a Ctrl-C, kill or crash stopped")]
    Apply(apply::ApplyArgs),
    /// Check manifests: YAML, schema, step references, cycles, templates, output paths.
    #[command(after_help = "Examples:
  bulkops validate manifests/
  bulkops validate manifests/quickstart.yaml --message-format json
  bulkops validate manifests/ --message-format github   # annotations on a pull request")]
    Validate(validate::ValidateArgs),
    /// Show the steps of a workflow and the order they run in.
    #[command(after_help = "Examples:
  bulkops plan manifests/quickstart.yaml
  bulkops plan manifests/ --out plan.json --format markdown > plan.md
  bulkops plan manifests/offboarding.yaml --detailed-exitcode
  bulkops plan manifests/quickstart.yaml --format mermaid --no-preview")]
    Plan(plan::PlanArgs),
    /// Print the JSON Schema of the manifest language.
    #[command(after_help = "Examples:
  bulkops schema > schemas/manifest.schema.json
  bulkops schema | jq '.properties.spec'          # the spec's fields
  # then, in a manifest, for editors: # yaml-language-server: $schema=schemas/manifest.schema.json")]
    Schema(schema::SchemaArgs),
    /// Create, generate and inspect the local directory.
    #[command(after_help = "Examples:
  bulkops directory init                          # the demo tenant
  bulkops directory init --from my-tenant/ --db my.db
  bulkops directory generate --users 100000 --groups 1000 --members 100 --db big.db
  bulkops directory stats")]
    Directory(directory::DirectoryArgs),
    /// List and show runs: what each did, when, and what started it.
    #[command(after_help = "Examples:
  bulkops runs list
  bulkops runs list --status interrupted
  bulkops runs show 20261127-142300-3f9a")]
    Runs(runs::RunsArgs),
    /// List, show, download and delete bulk jobs.
    #[command(after_help = "Examples:
  bulkops jobs list
  bulkops jobs list --run 20261127-142300-3f9a --format json
  bulkops jobs show JOB_ID
  bulkops jobs delete JOB_ID --yes")]
    Jobs(jobs::JobsArgs),
    /// Run each file dropped into a watched folder through its workflow, once, when it is complete.
    #[command(after_help = "Examples:
  bulkops watch manifests/watch-new-hires.yaml
  bulkops watch manifests/ --once                 # process what is there now, then exit
  bulkops watch manifests/ --poll 10s             # a network share, where no file events arrive")]
    Watch(watch::WatchArgs),
    /// Serve the local directory as Microsoft Graph v1.0 on loopback, for rehearsals and tests.
    #[command(after_help = "Examples:
  bulkops emulate --db rehearsal.db
  bulkops emulate --db rehearsal.db --throttle graph --fail-rate 429:0.1 --latency 20ms
  bulkops emulate --listen 127.0.0.1:9000 --client-secret-env REHEARSAL_SECRET")]
    Emulate(emulate::EmulateArgs),
    /// Show jobs and runs in a browser: results, rows, downloads, a run's steps live; delete, cancel, retry.
    #[command(after_help = "Examples:
  bulkops serve                                   # http://127.0.0.1:8338/
  bulkops serve --read-only --state /srv/bulkops/state.db
  bulkops serve --listen 0.0.0.0:8338 --allow-remote   # prints a sign-in link once")]
    Serve(serve::ServeArgs),
    /// Queue runs for `bulkops worker` processes on a shared (PostgreSQL) job store.
    #[command(after_help = "Examples:
  bulkops submit manifests/offboarding.yaml --state postgres://ops@db/bulkops
  bulkops submit manifests/ --profile contoso --profile fabrikam   # one run per tenant
  BULKOPS_STATE_URL=postgres://ops@db/bulkops bulkops submit manifests/quickstart.yaml")]
    Submit(submit::SubmitArgs),
    /// Take and execute runs submitted to a shared job store, until stopped.
    #[command(after_help = "Examples:
  bulkops worker --state postgres://ops@db/bulkops
  bulkops worker --max-runs 10                    # then exit
  kill -TERM PID                                  # drain: the run going on is handed back")]
    Worker(worker::WorkerArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  bulkops completions bash > /etc/bash_completion.d/bulkops
  bulkops completions zsh > \"${fpath[1]}/_bulkops\"
  bulkops completions fish > ~/.config/fish/completions/bulkops.fish
  bulkops completions powershell >> $PROFILE")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What a successful command reports to the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; nothing more to say.
    Success,
    /// `plan --detailed-exitcode`: a run would change something.
    ChangesPending,
}

/// Runs `bulkops` with the process arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(cli.log_format);
    let reporter = Reporter::for_stderr();
    match run(cli, &reporter) {
        Ok(Outcome::Success) => exit_code::SUCCESS,
        Ok(Outcome::ChangesPending) => exit_code::CHANGES_PENDING,
        Err(error) => {
            reporter.emit(&error);
            error.exit_code()
        }
    }
}

fn usage_error(error: &clap::Error) -> i32 {
    // `--help` and `--version` arrive as errors too; clap prints them to stdout.
    let _ = error.print();
    if error.use_stderr() {
        exit_code::USAGE
    } else {
        exit_code::SUCCESS
    }
}

fn run(cli: Cli, reporter: &Reporter) -> Result<Outcome, Error> {
    match cli.command {
        Command::Apply(args) => apply::run(&args, reporter),
        Command::Validate(args) => validate::run(&args, reporter),
        Command::Plan(args) => plan::run(&args, reporter),
        Command::Schema(args) => schema::run(&args),
        Command::Directory(args) => directory::run(&args),
        Command::Jobs(args) => jobs::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::Emulate(args) => emulate::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Submit(args) => submit::run(&args, reporter),
        Command::Worker(args) => worker::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bulkops", &mut script);
            write_stdout(&String::from_utf8_lossy(&script))?;
            Ok(Outcome::Success)
        }
    }
}

/// The async runtime a command runs on: two workers, timers and I/O.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Asks a yes/no question on the terminal; only `y` or `yes` is yes.
fn confirm(question: &str) -> Result<bool, Error> {
    use std::io::{BufRead, Write};
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question}[y/N] ")
        .and_then(|()| stderr.flush())
        .map_err(Error::Output)?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::Output)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Writes command output to stdout, turning a closed pipe or full disk into an error.
fn write_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)
}

/// Log lines go to stderr; `BULKOPS_LOG=debug` shows more, `--log-format json`
/// writes one JSON object per line for log collectors.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    // On a terminal, progress bars and the summary tell the story; log lines
    // would tear the bars, so only warnings show unless asked for.
    let terminal = std::io::stderr().is_terminal() && format == LogFormat::Text;
    let level = match std::env::var("BULKOPS_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ if terminal => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        // A closed stderr (`apply … 2>&1 | head`) must not end the run.
        .log_internal_errors(false);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.fmt_fields(escaped_fields()).init();
    }
}

/// Text log fields with control characters escaped: a display name with a
/// line break cannot forge a log line, nor an escape sequence a terminal.
fn escaped_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = crate::text::printable(&text);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Cli;

    /// Every command and subcommand, with its path (`jobs list`).
    fn commands(command: &clap::Command, path: &str, found: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands() {
            let name = format!("{path} {}", sub.get_name()).trim().to_owned();
            found.push((name.clone(), sub.clone()));
            commands(sub, &name, found);
        }
    }

    #[test]
    fn every_command_ends_its_help_with_real_examples() {
        let mut found = Vec::new();
        commands(&Cli::command(), "", &mut found);
        assert!(found.len() > 12, "{}", found.len());
        for (name, command) in found {
            if command.get_subcommands().next().is_some() && name != "jobs" && name != "directory" {
                continue;
            }
            let help = command
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(
                help.starts_with("Examples:"),
                "`bulkops {name} --help` has no examples"
            );
            let examples = help
                .lines()
                .filter(|line| line.trim_start().starts_with("bulkops "))
                .count();
            assert!(
                (2..=4).contains(&examples),
                "`bulkops {name} --help` has {examples} examples"
            );
        }
    }

    #[test]
    fn one_name_per_concept_with_the_old_names_kept() {
        for args in [
            ["bulkops", "emulate", "--db", "x.db"].as_slice(),
            ["bulkops", "emulate", "--directory", "x.db"].as_slice(),
            ["bulkops", "jobs", "download", "ID", "--output-dir", "out"].as_slice(),
            ["bulkops", "jobs", "download", "ID", "--to", "out"].as_slice(),
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}
