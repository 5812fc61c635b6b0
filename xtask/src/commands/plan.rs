//! `cargo xtask plan STACK`: what `up` would change, changing nothing.

use anyhow::Result;

use super::{connect, load_config, observe};
use crate::components::{driver, Specs};
use crate::render::show_plan;
use crate::shell::Shell;
use crate::{Env, PlanArgs};

pub(crate) async fn run(args: &PlanArgs, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, &args.target)?;
    let clients = connect(env, &args.target, &config, shell).await?;
    let specs = Specs::resolve(&config, &clients).await?;
    let driver = driver(&clients, &config, specs, args.grants.grants());
    let plan = driver.plan(&observe(&driver).await?).combined();
    show_plan(
        shell,
        &plan,
        args.json,
        &format!(
            "stack {} matches {}",
            config.stack.name(),
            config.path.display()
        ),
    );
    if !args.json && plan.refused().next().is_some() {
        shell.status("Some changes are refused: `up` will not apply this plan as it stands.");
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    })
}
