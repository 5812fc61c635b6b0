//! `cargo xtask test`: installs the emulator when missing, then runs every test of the
//! workspace (unit tests and the end-to-end tests in `tests/`), and closes with one summary
//! line, `tests: N passed, N failed`, added up over every test binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::local::{install_moto, LocalPaths};
use crate::shell::Shell;
use crate::{Env, TestArgs};

/// Passed and failed counts of a libtest `test result:` line.
pub(crate) fn result_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |word: &str| {
        rest.split(';')
            .find_map(|part| {
                part.trim()
                    .trim_start_matches("ok. ")
                    .trim_start_matches("FAILED. ")
                    .strip_suffix(word)
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    Some((count(" passed")?, count(" failed")?))
}

pub(crate) fn run(args: &TestArgs, env: &Env, shell: &Shell) -> Result<u8> {
    let paths = LocalPaths::new(&env.root);
    install_moto(&paths, shell)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    // `cargo run` gave this process the package variables of xtask (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, …). Some build scripts (ring's) rerun when those change, so passing
    // them on would rebuild half the dependency tree, and again on the next plain `cargo`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*key,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&*key);
        }
    }
    let mut child = command
        .current_dir(&env.root)
        .args(["test", "--workspace", "--all-targets"])
        .args(&args.cargo_args)
        .env("BERTH_MOTO_PYTHON", paths.python())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running `{cargo} test`"))?;
    let (mut passed, mut failed) = (0, 0);
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the test output")?;
        if let Some((p, f)) = result_counts(&line) {
            passed += p;
            failed += f;
        }
        shell.data(&line);
    }
    let status = child.wait().context("waiting for `cargo test`")?;
    shell.data(format!("tests: {passed} passed, {failed} failed"));
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_are_counted() {
        assert_eq!(
            result_counts("test result: ok. 41 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 21.02s"),
            Some((41, 0))
        );
        assert_eq!(
            result_counts(
                "test result: FAILED. 33 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
            ),
            Some((33, 1))
        );
        assert_eq!(result_counts("running 3 tests"), None);
    }
}
