//! `cargo xtask unlock STACK`: remove a lock left by a run that died (terraform force-unlock).

use anyhow::{Context, Result};
use berth_core::lock::{aws::SsmLockStore, StackLock};

use super::{connect, load_config};
use crate::shell::Shell;
use crate::{Env, Target};

pub(crate) async fn run(target: &Target, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, target)?;
    let clients = connect(env, target, &config, shell).await?;
    let store = SsmLockStore::new(clients.ssm.clone());
    let held = StackLock::force_release(&store, &config.stack)
        .await
        .context("removing the stack lock")?;
    match held {
        Some(record) => shell.status(format!(
            "Removed the lock of stack {}: {record}",
            config.stack.name()
        )),
        None => shell.status(format!("Stack {} was not locked.", config.stack.name())),
    }
    Ok(0)
}
