//! `cargo xtask status STACK`: the stack's resources and whether they match the config.

use anyhow::Result;
use berth_core::Grants;

use super::converge::show_outputs;
use super::{connect, load_config, observe};
use crate::components::{driver, Specs};
use crate::shell::Shell;
use crate::{Env, StatusArgs};

pub(crate) async fn run(args: &StatusArgs, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, &args.target)?;
    let clients = connect(env, &args.target, &config, shell).await?;
    let stack = &config.stack;
    let specs = Specs::resolve(&config, &clients).await?;
    let driver = driver(&clients, &config, specs, Grants::default());
    let plan = driver.plan(&observe(&driver).await?);
    show_outputs(shell, stack, plan.outputs(), args.json);
    let plan = plan.combined();
    if args.json {
        shell.json(
            "status",
            serde_json::json!({"stack": stack.name().as_str(), "in_sync": !plan.has_changes(),
                               "pending": plan.summary()}),
        );
    } else if plan.has_changes() {
        shell.status(format!(
            "Out of sync with {}: {}. `cargo xtask plan {}` shows the changes.",
            config.path.display(),
            plan.summary(),
            stack.name()
        ));
    } else {
        shell.status(format!("In sync with {}.", config.path.display()));
    }
    Ok(0)
}
