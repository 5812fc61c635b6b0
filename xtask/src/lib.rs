//! berth's command line as a library: `main.rs` parses flags and calls [`run`]; the end-to-end
//! tests call [`run`] too, with a captured [`Shell`] and an [`Env`] pointing at the emulator.
//!
//! One module per command under `commands/`; composition in `components`, config in `config`,
//! rendering in `render`, the console in `shell`, progress in `reporter`, the emulator in
//! `local`. Domain logic lives in the berth-* crates, not here.

pub mod aws;
mod commands;
pub mod components;
pub mod config;
pub mod local;
pub mod render;
pub mod reporter;
pub mod shell;

use std::path::PathBuf;

use anyhow::Result;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_types::SdkConfig;
use clap::{Args, Parser, Subcommand};

pub use shell::{Captured, Shell};

/// `cargo xtask`: provision and deploy a stack on AWS ECS.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would change, without changing anything.
    Plan(PlanArgs),
    /// Bring the stack to the state its config describes.
    Up(ApplyArgs),
    /// Delete everything the stack has (databases and images only when told).
    Down(ApplyArgs),
    /// Show the stack's resources (outputs) and whether they match the config.
    Status(StatusArgs),
    /// Print a service's log events.
    Logs(LogsArgs),
    /// Remove the stack's lock after a run that died holding it.
    Unlock(Target),
    /// Manage the local AWS emulator used by `--local`.
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
    /// Run every test: unit tests and end-to-end tests against the emulator (installed if missing).
    Test(TestArgs),
}

/// Which stack, and where.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The stack: its config is stacks/STACK.toml.
    pub stack: String,
    /// Use a local AWS emulator (moto), started in the background if it is not running.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Write the plan as JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error (as terraform).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub grants: GrantFlags,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Apply without asking (required when there is no terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write the plan, progress and outputs as JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub grants: GrantFlags,
}

/// The run's permissions for changes that lose data: images, the database. berth never makes
/// such a change without one; the plan shows it refused, naming the flag.
#[derive(Debug, Clone, Copy, Args)]
pub struct GrantFlags {
    /// Allow deleting repositories that still hold images.
    #[arg(long)]
    pub delete_images: bool,
    /// Allow deleting the database (lifting its deletion protection); a final snapshot is taken.
    #[arg(long)]
    pub delete_database: bool,
    /// With --delete-database: do not take the final snapshot.
    #[arg(long, requires = "delete_database")]
    pub skip_final_snapshot: bool,
    /// Allow replacing the database when a change cannot be made in place (a new engine).
    #[arg(long)]
    pub replace_database: bool,
}

impl GrantFlags {
    pub fn grants(self) -> berth_core::Grants {
        berth_core::Grants {
            delete_images: self.delete_images,
            delete_database: self.delete_database,
            skip_final_snapshot: self.skip_final_snapshot,
            replace_database: self.replace_database,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Write outputs as JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: Target,
    /// The service whose log group to read (a key of `logging.groups`).
    pub service: String,
    /// How far back to start: 30s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new events until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LocalAction {
    /// Start the emulator (installing it on first use).
    Start,
    /// Stop the emulator; its state is lost.
    Stop,
    /// Say whether the emulator is running, and where.
    Status,
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Extra arguments for `cargo test` (e.g. a test name filter).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
}

/// How commands reach AWS.
#[derive(Debug, Clone)]
pub enum AwsSource {
    /// The standard credential chain, or the local emulator with `--local`.
    Default,
    /// A fixed SDK config with extra interceptors (the test harness).
    Fixed {
        sdk: Box<SdkConfig>,
        interceptors: Vec<SharedInterceptor>,
    },
}

/// The environment commands run in.
#[derive(Debug, Clone)]
pub struct Env {
    /// The project root (`.berth/`, `tools/`).
    pub root: PathBuf,
    /// Where stack configs are read from.
    pub stacks_dir: PathBuf,
    pub aws: AwsSource,
}

impl Env {
    /// The real environment: this checkout, its `stacks/`, real AWS or `--local`.
    pub fn from_project() -> Self {
        let root = local::project_root();
        let stacks_dir = root.join("stacks");
        // Messages name `stacks/prod.toml`, not an absolute path, when run from the root.
        let stacks_dir = std::env::current_dir()
            .ok()
            .and_then(|cwd| stacks_dir.strip_prefix(cwd).ok().map(PathBuf::from))
            .unwrap_or(stacks_dir);
        Self {
            stacks_dir,
            root,
            aws: AwsSource::Default,
        }
    }
}

/// Runs one command; returns the process exit code (0 ok, 2 plan has changes).
pub async fn run(cli: Cli, env: &Env, shell: &Shell) -> Result<u8> {
    commands::dispatch(cli.command, env, shell).await
}

/// Parses `args` (without the program name) and runs them; errors are returned, not printed.
pub async fn run_args<I, S>(args: I, env: &Env, shell: &Shell) -> Result<u8>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv =
        std::iter::once(std::ffi::OsString::from("xtask")).chain(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(argv)?;
    run(cli, env, shell).await
}

/// Prints an error as `error:`, its causes as `Caused by:`, and a `hint:` where the user can act.
pub fn report_error(shell: &Shell, err: &anyhow::Error, json: bool) {
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    let hint = commands::hint_for(err);
    if json {
        shell.json(
            "error",
            serde_json::json!({"message": err.to_string(), "causes": causes, "hint": hint}),
        );
    }
    shell.status(format!(
        "{} {err}",
        shell.paint(shell::Color::Red, "error:")
    ));
    if !causes.is_empty() {
        shell.status("Caused by:");
        for cause in &causes {
            shell.status(format!("    {cause}"));
        }
    }
    if let Some(hint) = hint {
        shell.status(format!(
            "{} {hint}",
            shell.paint(shell::Color::Yellow, "hint:")
        ));
    }
}
