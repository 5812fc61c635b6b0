//! `cargo xtask up STACK` and `cargo xtask down STACK`: plan, and if anything is to change,
//! take the stack lock, plan again under it, show the plan, confirm, apply, print outputs.
//!
//! A run with nothing to change makes no mutating request at all (not even for the lock).

use anyhow::{bail, Result};
use berth_core::{Plan, Stack};

use super::{connect, load_config, lock, unlock, Hinted};
use crate::aws::Clients;
use crate::components::{Components, Outputs, Specs};
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

    async fn specs(
        self,
        config: &StackConfig,
        components: &Components,
        clients: &Clients,
        delete_images: bool,
        permissions: berth_database::DatabasePermissions,
    ) -> Result<Specs> {
        match self {
            Goal::Up => {
                Specs::resolve(
                    config,
                    components,
                    &clients.region,
                    delete_images,
                    permissions,
                )
                .await
            }
            Goal::Down => Ok(Specs::empty(delete_images, permissions)),
        }
    }
}

pub(crate) async fn run(args: &ApplyArgs, goal: Goal, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, &args.target)?;
    let clients = connect(env, &args.target, &config, shell).await?;
    let components = Components::new(&clients);
    let stack = &config.stack;
    let specs = goal
        .specs(
            &config,
            &components,
            &clients,
            args.delete_images,
            args.database.permissions(),
        )
        .await?;

    let observed = components.observe(stack).await?;
    let plan = components.plan(stack, &specs, &observed);
    if !plan.combined().has_changes() {
        let what = match goal {
            Goal::Up => format!("stack {} matches {}", stack.name(), config.path.display()),
            Goal::Down => format!("stack {} has no resources", stack.name()),
        };
        show_plan(shell, &plan.combined(), args.json, &what);
        if goal == Goal::Up {
            show_outputs(
                shell,
                stack,
                &components.outputs(stack, &observed),
                args.json,
            );
        }
        return Ok(0);
    }

    // Refusals are final before anything is touched, the lock included.
    let combined = plan.combined();
    if combined.refused().next().is_some() {
        show_plan(shell, &combined, args.json, "");
        refuse_if_needed(&combined)?;
    }

    let held = lock(&clients, &config, goal.command()).await?;
    let result = converge_locked(args, goal, &config, &components, &specs, shell).await;
    unlock(&clients, held, shell).await;
    result
}

async fn converge_locked(
    args: &ApplyArgs,
    goal: Goal,
    config: &StackConfig,
    components: &Components,
    specs: &Specs,
    shell: &Shell,
) -> Result<u8> {
    let stack = &config.stack;
    // Plan again under the lock: another run may have changed things since the first look.
    let observed = components.observe(stack).await?;
    let plan = components.plan(stack, specs, &observed);
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
    confirm(args, goal, stack, shell)?;

    let reporter = CliReporter::new(shell, args.json);
    components
        .apply(stack, specs, &plan, &observed, &reporter)
        .await?;
    drop(reporter);

    let observed = components.observe(stack).await?;
    let after = components.plan(stack, specs, &observed).combined();
    if after.has_changes() {
        shell.status(format!(
            "warning: the stack has not fully converged: {}; run `cargo xtask plan {}` to see what remains",
            after.summary(),
            stack.name()
        ));
    }
    match goal {
        Goal::Up => {
            shell.status(format!("Applied: {}.", combined.summary()));
            show_outputs(
                shell,
                stack,
                &components.outputs(stack, &observed),
                args.json,
            );
        }
        Goal::Down => shell.status(format!("Stack {} is down.", stack.name())),
    }
    Ok(0)
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
            serde_json::json!({"stack": stack.name().as_str(), "outputs": outputs}),
        );
        return;
    }
    shell.status(format!("Outputs of stack {}:", stack.name()));
    for (service, group) in &outputs.logging.groups {
        shell.status(format!("  logging.log_group[{service}]: {}", group.name));
    }
    for (short, repo) in &outputs.registry.repositories {
        shell.status(format!("  registry.repository[{short}]: {}", repo.uri));
    }
    let network = &outputs.network;
    if let Some(vpc) = &network.vpc_id {
        shell.status(format!("  network.vpc: {vpc}"));
    }
    if let Some(dns) = &network.load_balancer_dns {
        shell.status(format!("  network.load_balancer[alb]: http://{dns}"));
    }
    if let Some(dns) = &network.websocket_load_balancer_dns {
        shell.status(format!("  network.load_balancer[nlb]: {dns}"));
    }
    if let Some(namespace) = &network.namespace_id {
        shell.status(format!("  network.namespace: {namespace}"));
    }
    let database = &outputs.database;
    if let (Some(endpoint), Some(port)) = (&database.endpoint, database.port) {
        shell.status(format!("  database.cluster: {endpoint}:{port}"));
    }
    if let (Some(arn), Some(variable)) = (&database.url_secret_arn, &database.url_variable) {
        shell.status(format!("  database.url_secret ({variable}): {arn}"));
    }
    if outputs.logging.groups.is_empty()
        && outputs.registry.repositories.is_empty()
        && network.vpc_id.is_none()
    {
        shell.status("  (none)");
    }
}
