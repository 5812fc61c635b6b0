//! `cargo xtask up STACK` and `cargo xtask down STACK`: plan, and if anything is to change,
//! take the stack lock, plan again under it, show the plan, confirm, apply, print outputs.
//!
//! A run with nothing to change makes no mutating request at all (not even for the lock).

use anyhow::{bail, Result};
use berth_core::{Outputs, Plan, Stack, StackDriver};

use super::{connect, load_config, lock, observe, stack_error, unlock, Hinted};
use crate::components::{driver, Specs, StackOutputs};
use crate::config::StackConfig;
use crate::render::show_plan;
use crate::reporter::CliReporter;
use crate::shell::Shell;
use crate::{ApplyArgs, Env};

/// Which state to converge to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// What the config describes.
    Up,
    /// Nothing.
    Down,
}

impl Goal {
    fn command(self) -> &'static str {
        match self {
            Goal::Up => "up",
            Goal::Down => "down",
        }
    }
}

pub(crate) async fn run(args: &ApplyArgs, goal: Goal, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, &args.target)?;
    let clients = connect(env, &args.target, &config, shell).await?;
    let specs = match goal {
        Goal::Up => Specs::resolve(&config, &clients).await?,
        Goal::Down => Specs::default(),
    };
    let driver = driver(&clients, &config, specs, args.grants.grants());
    let stack = driver.stack();

    let plan = driver.plan(&observe(&driver).await?);
    let combined = plan.combined();
    if !combined.has_changes() {
        let what = match goal {
            Goal::Up => format!("stack {} matches {}", stack.name(), config.path.display()),
            Goal::Down => format!("stack {} has no resources", stack.name()),
        };
        show_plan(shell, &combined, args.json, &what);
        if goal == Goal::Up {
            show_outputs(shell, stack, plan.outputs(), args.json);
        }
        return Ok(0);
    }

    // Refusals are final before anything is touched, the lock included.
    if combined.refused().next().is_some() {
        show_plan(shell, &combined, args.json, "");
        refuse_if_needed(&combined)?;
    }
    if goal == Goal::Up {
        refuse_emptying(&combined, &config)?;
    }

    let held = lock(&clients, &config, goal.command()).await?;
    let result = converge_locked(args, goal, &config, &driver, shell).await;
    unlock(&clients, held, shell).await;
    result
}

async fn converge_locked(
    args: &ApplyArgs,
    goal: Goal,
    config: &StackConfig,
    driver: &StackDriver,
    shell: &Shell,
) -> Result<u8> {
    let stack = driver.stack();
    // Plan again under the lock: another run may have changed things since the first look.
    let observation = observe(driver).await?;
    let plan = driver.plan(&observation);
    let combined = plan.combined();
    show_plan(
        shell,
        &combined,
        args.json,
        &format!("stack {} is already converged", stack.name()),
    );
    if !combined.has_changes() {
        return Ok(0);
    }
    refuse_if_needed(&combined)?;
    if goal == Goal::Up {
        refuse_emptying(&combined, config)?;
    }
    confirm(args, goal, stack, shell)?;

    let reporter = CliReporter::new(shell, args.json);
    let report = driver.apply(observation, &plan, &reporter).await;
    drop(reporter);
    if !report.is_ok() {
        return Err(stack_error(
            format!("applying stack {}", stack.name()),
            report.errors,
        ));
    }

    let after = driver.plan(&observe(driver).await?);
    let remaining = after.combined();
    if remaining.has_changes() {
        shell.status(format!(
            "warning: the stack has not fully converged: {}; run `cargo xtask plan {}` to see what remains",
            remaining.summary(),
            stack.name()
        ));
    }
    match goal {
        Goal::Up => {
            shell.status(format!("Applied: {}.", combined.summary()));
            show_outputs(shell, stack, after.outputs(), args.json);
        }
        Goal::Down if remaining.has_changes() => bail!(
            "stack {} is not down: {} resource{} remain; run `cargo xtask plan {}` to see them",
            stack.name(),
            remaining.summary().delete,
            if remaining.summary().delete == 1 {
                ""
            } else {
                "s"
            },
            stack.name()
        ),
        Goal::Down => shell.status(format!("Stack {} is down.", stack.name())),
    }
    Ok(0)
}

/// `up` with a config that describes nothing would delete the whole stack: that is `down`'s job,
/// and more likely an emptied or wrong file than a wish.
fn refuse_emptying(plan: &Plan, config: &StackConfig) -> Result<()> {
    let summary = plan.summary();
    if summary.delete > 0
        && summary.create + summary.update + summary.replace + summary.unchanged == 0
    {
        return Err(Hinted {
            message: format!(
                "refusing to apply: {} describes nothing, so this plan deletes all {} resources of stack {} and creates none",
                config.path.display(),
                summary.delete,
                config.stack.name()
            ),
            hint: format!(
                "nothing was changed; to remove the stack, run `cargo xtask down {}`",
                config.stack.name()
            ),
        }
        .into());
    }
    Ok(())
}

/// Fails when a change needs a permission the run was not given.
fn refuse_if_needed(plan: &Plan) -> Result<()> {
    let refused: Vec<String> = plan
        .refused()
        .map(|c| {
            format!(
                "{}: {}",
                c.address,
                c.refused.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(Hinted {
        message: format!(
            "refusing to apply: {} change{} need{} explicit permission:\n  {}",
            refused.len(),
            if refused.len() == 1 { "" } else { "s" },
            if refused.len() == 1 { "s" } else { "" },
            refused.join("\n  ")
        ),
        hint: "nothing was changed; grant what the refusal names, or change the config".to_owned(),
    }
    .into())
}

fn confirm(args: &ApplyArgs, goal: Goal, stack: &Stack, shell: &Shell) -> Result<()> {
    if args.yes {
        return Ok(());
    }
    if !shell.interactive {
        return Err(Hinted {
            message: format!(
                "refusing to change stack {} without confirmation: there is no terminal to ask on",
                stack.name()
            ),
            hint: format!(
                "pass --yes to `cargo xtask {} {}` to apply without asking",
                goal.command(),
                stack.name()
            ),
        }
        .into());
    }
    let question = match goal {
        Goal::Up => format!("Apply these changes to stack {}?", stack.name()),
        Goal::Down => format!("Delete these resources of stack {}?", stack.name()),
    };
    if !shell.confirm(&question)? {
        bail!("cancelled: nothing was changed");
    }
    Ok(())
}

/// Prints the stack's outputs (people: a short list; `--json`: one `outputs` record).
pub(crate) fn show_outputs(shell: &Shell, stack: &Stack, outputs: &Outputs, json: bool) {
    if json {
        shell.json(
            "outputs",
            serde_json::json!({"stack": stack.name().as_str(), "outputs": outputs.to_json()}),
        );
        return;
    }
    let typed = StackOutputs::of(outputs);
    shell.status(format!("Outputs of stack {}:", stack.name()));
    let mut any = false;
    let mut line = |text: String| {
        any = true;
        shell.status(format!("  {text}"));
    };
    for (service, group) in typed.logging.iter().flat_map(|l| &l.groups) {
        line(format!("logging.log_group[{service}]: {}", group.name));
    }
    for (short, repo) in typed.registry.iter().flat_map(|r| &r.repositories) {
        line(format!("registry.repository[{short}]: {}", repo.uri));
    }
    if let Some(network) = typed.network {
        if let Some(vpc) = &network.vpc_id {
            line(format!("network.vpc: {vpc}"));
        }
        if let Some(dns) = &network.load_balancer_dns {
            line(format!("network.load_balancer[alb]: http://{dns}"));
        }
        if let Some(dns) = &network.websocket_load_balancer_dns {
            line(format!("network.load_balancer[nlb]: {dns}"));
        }
        if let Some(namespace) = &network.namespace_id {
            line(format!("network.namespace: {namespace}"));
        }
    }
    if let Some(database) = typed.database {
        if let (Some(endpoint), Some(port)) = (&database.endpoint, database.port) {
            line(format!("database.cluster: {endpoint}:{port}"));
        }
        if let (Some(arn), Some(variable)) = (&database.url_secret_arn, &database.url_variable) {
            line(format!("database.url_secret ({variable}): {arn}"));
        }
    }
    if let Some(compute) = typed.compute {
        if let Some(cluster) = &compute.cluster {
            line(format!("compute.cluster: {}", cluster.name));
        }
        for (name, pool) in &compute.pools {
            line(format!(
                "compute.pool[{name}]: {} instance{} in service",
                pool.instances_in_service,
                if pool.instances_in_service == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        for (name, service) in &compute.services {
            line(format!(
                "compute.service[{name}]: {}/{} running, {}",
                service.running_count,
                service.desired_count,
                match (&service.image, service.task_definition_revision) {
                    (Some(image), Some(revision)) => format!("revision {revision}, {image}"),
                    _ => "not released yet (`cargo xtask deploy` starts it)".to_owned(),
                }
            ));
        }
        if let Some(topic) = &compute.alarm_topic_arn {
            line(format!("compute.alarm_topic: {topic}"));
        }
    }
    if !any {
        shell.status("  (none)");
    }
}
