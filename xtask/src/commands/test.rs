//! `cargo xtask test`: installs the emulator when missing, then runs every test of the
//! workspace (unit tests and the end-to-end tests in `tests/`).

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::local::{install_moto, LocalPaths};
use crate::shell::Shell;
use crate::{Env, TestArgs};

pub(crate) fn run(args: &TestArgs, env: &Env, shell: &Shell) -> Result<u8> {
    let paths = LocalPaths::new(&env.root);
    install_moto(&paths, shell)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(&env.root)
        .args(["test", "--workspace"])
        .args(&args.cargo_args)
        .env("BERTH_MOTO_PYTHON", paths.python())
        .status()
        .with_context(|| format!("running `{cargo} test`"))?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(0)
}
