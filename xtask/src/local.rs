//! Local emulator mode: a moto server in the background, installed on first use into a
//! virtualenv under `.berth/` (ignored by git), kept running across commands so that state
//! persists, and stopped by `cargo xtask local stop`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::shell::Shell;

/// The pinned emulator. 5.2.5 is the version berth's emulator notes were written against.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// The project's files that local mode and the test harness use.
#[derive(Debug, Clone)]
pub struct LocalPaths {
    pub root: PathBuf,
}

impl LocalPaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn venv(&self) -> PathBuf {
        self.root.join(".berth/moto-venv")
    }

    pub fn python(&self) -> PathBuf {
        self.venv().join("bin/python")
    }

    pub fn launcher(&self) -> PathBuf {
        self.root.join("tools/moto_launcher.py")
    }

    fn state_dir(&self) -> PathBuf {
        self.root.join(".berth/local")
    }

    fn port_file(&self) -> PathBuf {
        self.state_dir().join("moto.port")
    }

    fn pid_file(&self) -> PathBuf {
        self.state_dir().join("moto.pid")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir().join("moto.log")
    }
}

/// Whether the pinned moto is importable from the virtualenv.
pub fn moto_installed(paths: &LocalPaths) -> bool {
    paths.python().exists()
        && Command::new(paths.python())
            .args([
                "-c",
                "import moto.server, importlib.metadata as m; assert m.version('moto') == '5.2.5'",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Installs the pinned moto into `.berth/moto-venv` unless it is there.
pub fn install_moto(paths: &LocalPaths, shell: &Shell) -> Result<()> {
    if moto_installed(paths) {
        return Ok(());
    }
    let python = std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    shell.status(format!(
        "Installing {MOTO_REQUIREMENT} into {} (first use only)...",
        paths.venv().display()
    ));
    if !paths.python().exists() {
        let status = Command::new(&python)
            .arg("-m")
            .arg("venv")
            .arg(paths.venv())
            .status()
            .with_context(|| format!("running `{python} -m venv` (is Python 3 installed? set BERTH_PYTHON to use another interpreter)"))?;
        if !status.success() {
            bail!(
                "`{python} -m venv {}` failed with {status}",
                paths.venv().display()
            );
        }
    }
    let status = Command::new(paths.python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ])
        .status()
        .context("running pip in the emulator's virtualenv")?;
    if !status.success() {
        bail!("installing {MOTO_REQUIREMENT} with pip failed with {status}; check access to PyPI");
    }
    Ok(())
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A free loopback port (bound, then released; moto binds it right after).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits up to `timeout` for something to accept connections on `port`.
pub fn wait_until_listening(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    while start.elapsed() < timeout {
        if answers(port) {
            return true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
    false
}

/// The endpoint of the running local emulator, if one is running.
pub fn running_endpoint(paths: &LocalPaths) -> Option<String> {
    let port: u16 = std::fs::read_to_string(paths.port_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    answers(port).then(|| format!("http://127.0.0.1:{port}"))
}

/// Starts the emulator in the background unless it runs; returns its endpoint.
pub fn ensure_running(paths: &LocalPaths, shell: &Shell) -> Result<String> {
    if let Some(endpoint) = running_endpoint(paths) {
        return Ok(endpoint);
    }
    install_moto(paths, shell)?;
    std::fs::create_dir_all(paths.state_dir())
        .with_context(|| format!("creating {}", paths.state_dir().display()))?;
    let port = free_port()?;
    let log = std::fs::File::create(paths.log_file())
        .with_context(|| format!("creating {}", paths.log_file().display()))?;
    let mut command = Command::new(paths.python());
    command
        .arg(paths.launcher())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: Ctrl-C on this command must not stop the emulator.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().context("starting the moto emulator")?;
    std::fs::write(paths.pid_file(), child.id().to_string())?;
    std::fs::write(paths.port_file(), port.to_string())?;
    if !wait_until_listening(port, Duration::from_secs(60)) {
        bail!(
            "the moto emulator did not start listening on port {port} within 60 s; see {}",
            paths.log_file().display()
        );
    }
    shell.status(format!(
        "Started the local AWS emulator (moto) on http://127.0.0.1:{port}; `cargo xtask local stop` ends it."
    ));
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Stops the background emulator; its state is gone with it.
pub fn stop(paths: &LocalPaths, shell: &Shell) -> Result<()> {
    let pid = std::fs::read_to_string(paths.pid_file()).ok();
    let _ = std::fs::remove_file(paths.port_file());
    let _ = std::fs::remove_file(paths.pid_file());
    match pid.map(|p| p.trim().to_owned()) {
        Some(pid) if !pid.is_empty() => {
            // `kill` rather than a libc binding: this is the only signal berth sends.
            let status = Command::new("kill")
                .arg(&pid)
                .stderr(Stdio::null())
                .status();
            if status.is_ok_and(|s| s.success()) {
                shell.status(format!("Stopped the local AWS emulator (pid {pid})."));
            } else {
                shell.status("The local AWS emulator was not running.");
            }
        }
        _ => shell.status("The local AWS emulator was not running."),
    }
    Ok(())
}

/// The project root: the parent of the xtask crate, where `stacks/` and `tools/` live.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
