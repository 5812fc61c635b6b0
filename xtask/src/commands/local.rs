//! `cargo xtask local start|stop|status`: the background emulator behind `--local`.

use anyhow::Result;

use crate::local::{ensure_running, running_endpoint, stop, LocalPaths};
use crate::shell::Shell;
use crate::{Env, LocalAction};

pub(crate) fn run(action: &LocalAction, env: &Env, shell: &Shell) -> Result<u8> {
    let paths = LocalPaths::new(&env.root);
    match action {
        LocalAction::Start => {
            let endpoint = ensure_running(&paths, shell)?;
            shell.data(endpoint);
        }
        LocalAction::Stop => stop(&paths, shell)?,
        LocalAction::Status => match running_endpoint(&paths) {
            Some(endpoint) => {
                shell.status(format!("The local AWS emulator is running at {endpoint}."));
                shell.data(endpoint);
            }
            None => {
                shell.status("The local AWS emulator is not running; `--local` starts it.");
                return Ok(3);
            }
        },
    }
    Ok(0)
}
