//! One module per command; `dispatch` routes to them. Shared steps (load the config, connect,
//! take the lock) live here.

mod converge;
mod local;
mod logs;
mod plan;
mod status;
mod test;
mod unlock;

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use berth_core::lock::{aws::SsmLockStore, LockError, StackLock};
use berth_core::{AwsError, ErrorClass};

use crate::aws::{self, Clients};
use crate::config::{self, ConfigError, StackConfig};
use crate::shell::Shell;
use crate::{local as emulator, AwsSource, Command, Env, Target};

pub(crate) async fn dispatch(command: Command, env: &Env, shell: &Shell) -> Result<u8> {
    match command {
        Command::Plan(args) => plan::run(&args, env, shell).await,
        Command::Up(args) => converge::run(&args, converge::Goal::Up, env, shell).await,
        Command::Down(args) => converge::run(&args, converge::Goal::Down, env, shell).await,
        Command::Status(args) => status::run(&args, env, shell).await,
        Command::Logs(args) => logs::run(&args, env, shell).await,
        Command::Unlock(target) => unlock::run(&target, env, shell).await,
        Command::Local { action } => local::run(&action, env, shell),
        Command::Test(args) => test::run(&args, env, shell),
    }
}

/// Reads and validates the stack's config. Always the first step: no AWS request is made for
/// a config that does not validate.
pub(crate) fn load_config(env: &Env, target: &Target) -> Result<StackConfig> {
    Ok(config::load(&env.stacks_dir, &target.stack)?)
}

/// Builds the AWS clients for a validated config.
pub(crate) async fn connect(
    env: &Env,
    target: &Target,
    config: &StackConfig,
    shell: &Shell,
) -> Result<Clients> {
    match &env.aws {
        AwsSource::Fixed { sdk, interceptors } => {
            // The stack's region wins, as it does with the standard chain.
            let sdk = match &config.region {
                Some(region) => sdk
                    .to_builder()
                    .region(aws_types::region::Region::new(region.clone()))
                    .build(),
                None => (**sdk).clone(),
            };
            Ok(Clients::new(&sdk, interceptors))
        }
        AwsSource::Default if target.local => {
            let paths = emulator::LocalPaths::new(&env.root);
            let endpoint = emulator::ensure_running(&paths, shell)?;
            let sdk = aws::local(&endpoint, config.region.as_deref()).await;
            Ok(Clients::new(&sdk, &[]))
        }
        AwsSource::Default => {
            let sdk = aws::real(config.region.as_deref()).await?;
            Ok(Clients::new(&sdk, &[]))
        }
    }
}

/// How long a lock lasts if its holder dies without releasing it.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(2 * 60 * 60);

fn lock_owner() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{user}@{host} (pid {})", std::process::id())
}

/// Takes the stack's lock for `operation`.
pub(crate) async fn lock(
    clients: &Clients,
    config: &StackConfig,
    operation: &str,
) -> Result<StackLock> {
    let store = SsmLockStore::new(clients.ssm.clone());
    StackLock::acquire(
        &store,
        &config.stack,
        &lock_owner(),
        operation,
        LOCK_TTL,
        SystemTime::now(),
    )
    .await
    .context("taking the stack lock")
}

pub(crate) async fn unlock(clients: &Clients, lock: StackLock, shell: &Shell) {
    let store = SsmLockStore::new(clients.ssm.clone());
    if let Err(err) = lock.release(&store).await {
        shell.status(format!(
            "warning: could not release the stack lock ({err}); it lapses by itself in {} hours",
            LOCK_TTL.as_secs() / 3600
        ));
    }
}

/// An error the user can act on, with what to do.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// The `hint:` for an error, from the first cause in its chain that suggests one.
pub(crate) fn hint_for(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(hinted) = cause.downcast_ref::<Hinted>() {
            return Some(hinted.hint.clone());
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return Some(
                "fix the config file and run the command again; nothing was sent to AWS".to_owned(),
            );
        }
        if let Some(LockError::Held { stack, .. } | LockError::Unreadable { stack, .. }) =
            cause.downcast_ref::<LockError>()
        {
            return Some(format!(
                "wait for that run to finish; if it died, remove the lock with `cargo xtask unlock {stack}`"
            ));
        }
        if let Some(aws) = cause.downcast_ref::<AwsError>() {
            let hint = match aws.class {
                ErrorClass::AccessDenied => format!(
                    "check your AWS credentials (AWS_PROFILE, `aws sso login`, AWS_ACCESS_KEY_ID) and that they allow {}",
                    aws.operation
                ),
                ErrorClass::Throttled => "AWS is rate-limiting these calls; run the command again in a minute".to_owned(),
                ErrorClass::Sdk if aws.message.to_lowercase().contains("credential") => {
                    "no usable AWS credentials: set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned()
                }
                ErrorClass::Sdk if aws.message.contains("dispatch failure") || aws.message.contains("connect") => {
                    "AWS could not be reached: check the network, AWS_ENDPOINT_URL, or with --local `cargo xtask local status`".to_owned()
                }
                _ => continue,
            };
            return Some(hint);
        }
        if cause.downcast_ref::<clap::Error>().is_some() {
            return Some("run `cargo xtask help` for the commands and their flags".to_owned());
        }
    }
    None
}

/// Several components' errors as one: each with its cause chain, indented.
#[derive(Debug)]
pub(crate) struct StackErrors {
    pub what: String,
    pub errors: Vec<berth_core::StackError>,
}

impl std::fmt::Display for StackErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} component{} failed",
            self.what,
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for err in &self.errors {
            write!(f, "\n  {err}")?;
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                write!(f, "\n      caused by: {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for StackErrors {}

/// The errors of a driver call as one `anyhow` error: a single error keeps its own chain (and
/// with it its hint); several are listed together.
pub(crate) fn stack_error(what: String, mut errors: Vec<berth_core::StackError>) -> anyhow::Error {
    if errors.len() == 1 {
        let err = errors.remove(0);
        return anyhow::Error::new(err).context(what);
    }
    StackErrors { what, errors }.into()
}

/// Reads what every component of the stack has.
pub(crate) async fn observe(driver: &berth_core::StackDriver) -> Result<berth_core::Observation> {
    driver
        .observe()
        .await
        .map_err(|errors| stack_error(format!("reading stack {}", driver.stack().name()), errors))
}
