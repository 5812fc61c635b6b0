//! berth-tests: the end-to-end harness. It starts the moto emulator once per test binary on
//! a free loopback port (through the project's launcher, so it dies with the binary), gives
//! every test its own AWS account (`x-moto-account-id`) so tests cannot see each other, counts
//! the requests a command makes (all, and mutating ones), and runs xtask commands with a
//! captured console.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::SdkConfig;
use xtask::aws::Clients;
use xtask::{AwsSource, Env, Shell};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// The project root (where `tools/` and `.berth/` are).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

struct MotoServer {
    endpoint: String,
    // Held so the launcher's stdin stays open; it exits when this binary does.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

fn moto_python() -> PathBuf {
    match std::env::var_os("BERTH_MOTO_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => project_root().join(".berth/moto-venv/bin/python"),
    }
}

fn moto() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let python = moto_python();
        assert!(
            python.exists(),
            "the moto emulator is not installed ({} is missing): run `cargo xtask test`, which \
             installs it into .berth/moto-venv, or `cargo xtask local start`",
            python.display()
        );
        // A port found free can be taken before moto binds it: try a few.
        let mut last_log = PathBuf::new();
        for _ in 0..3 {
            let port = xtask::local::free_port().expect("a free loopback port");
            let log = std::env::temp_dir().join(format!("berth-tests-moto-{port}.log"));
            let log_file = std::fs::File::create(&log).expect("moto log file");
            let mut child = Command::new(&python)
                .arg(project_root().join("tools/moto_launcher.py"))
                .arg("--exit-with-parent")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(log_file.try_clone().expect("moto log file"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("starting moto with {}: {e}", python.display()));
            let stdin = child.stdin.take().expect("piped stdin");
            if xtask::local::wait_until_listening(port, Duration::from_secs(60))
                && child.try_wait().ok().flatten().is_none()
            {
                return MotoServer {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _stdin: Mutex::new(stdin),
                    _child: Mutex::new(child),
                };
            }
            let _ = child.kill();
            last_log = log;
        }
        panic!("moto did not start listening; see {}", last_log.display());
    })
}
/// A fresh 12-digit account id for each test: moto keeps every account's state apart.
fn next_account() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(200_000_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Sends every request to one moto account.
#[derive(Debug, Clone)]
struct AccountHeader(String);

impl Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "berth-tests::AccountHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// Records the operation name of every request (once per operation, not per retry attempt).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    calls: Arc<Mutex<Vec<String>>>,
}

/// Operation-name prefixes of calls that change nothing.
const READ_ONLY_PREFIXES: [&str; 8] = [
    "Describe", "List", "Get", "Filter", "BatchGet", "Lookup", "Search", "Head",
];

/// Whether an operation changes state (anything that is not a read).
pub fn is_mutating(operation: &str) -> bool {
    !READ_ONLY_PREFIXES.iter().any(|p| operation.starts_with(p))
}

impl RequestCounter {
    /// `service:Operation` of every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("counter lock").clone()
    }

    /// The calls that change state.
    pub fn mutating(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| is_mutating(c.rsplit(':').next().unwrap_or(c)))
            .collect()
    }

    /// How many times each call was made.
    pub fn histogram(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in self.calls() {
            *counts.entry(call).or_insert(0) += 1;
        }
        counts
    }

    pub fn reset(&self) {
        self.calls.lock().expect("counter lock").clear();
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "berth-tests::RequestCounter"
    }

    // Not `read_before_execution`: client-level interceptors run that before the operation's
    // config (which holds its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let call = match cfg.load::<Metadata>() {
            // `CloudWatch Logs` → `cloudwatchlogs`, `ECR` → `ecr`: the SDK crate's suffix.
            Some(metadata) => format!(
                "{}:{}",
                metadata.service().replace(' ', "").to_lowercase(),
                metadata.name()
            ),
            None => "unknown:Unknown".to_owned(),
        };
        self.calls.lock().expect("counter lock").push(call);
        Ok(())
    }
}

/// What an xtask command did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code, or the error chain as the CLI prints it.
    pub result: Result<u8, String>,
    pub stdout: String,
    pub stderr: String,
    /// `service:Operation` of every request it made.
    pub calls: Vec<String>,
}

impl Outcome {
    pub fn mutating(&self) -> Vec<&str> {
        self.calls
            .iter()
            .map(String::as_str)
            .filter(|c| is_mutating(c.rsplit(':').next().unwrap_or(c)))
            .collect()
    }

    /// Panics with the output unless the command exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: u8) -> &Self {
        assert_eq!(
            self.result.as_ref().ok(),
            Some(&code),
            "expected exit code {code}\nresult: {:?}\nstderr:\n{}\nstdout:\n{}",
            self.result,
            self.stderr,
            self.stdout
        );
        self
    }

    /// Panics unless the command failed; returns the printed error.
    #[track_caller]
    pub fn expect_error(&self) -> &str {
        match &self.result {
            Err(message) => message,
            Ok(code) => panic!(
                "expected an error, got exit code {code}\nstderr:\n{}",
                self.stderr
            ),
        }
    }

    /// The JSON Lines on stdout, each parsed.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

/// One test's world: its own account on the shared emulator, its own stack configs.
pub struct Harness {
    account: String,
    counter: RequestCounter,
    stacks: tempfile::TempDir,
    sdk: SdkConfig,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("account", &self.account)
            .finish()
    }
}

impl Harness {
    pub async fn new() -> Self {
        let server = moto();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&server.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "berth-tests",
            ))
            .load()
            .await;
        Self {
            account: next_account(),
            counter: RequestCounter::default(),
            stacks: tempfile::tempdir().expect("a temporary stacks directory"),
            sdk,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn interceptors(&self) -> Vec<SharedInterceptor> {
        vec![
            SharedInterceptor::new(AccountHeader(self.account.clone())),
            SharedInterceptor::new(self.counter.clone()),
        ]
    }

    /// SDK clients in this test's account (for arranging drift and checking results).
    /// Their calls are counted too; commands reset the counter when they start.
    pub fn clients(&self) -> Clients {
        Clients::new(&self.sdk, &self.interceptors())
    }

    /// Writes `stacks/<name>.toml`.
    pub fn write_stack(&self, name: &str, toml: &str) {
        std::fs::write(self.stacks.path().join(format!("{name}.toml")), toml)
            .expect("writing a stack config");
    }

    pub fn stacks_dir(&self) -> &Path {
        self.stacks.path()
    }

    /// The xtask environment of this test.
    pub fn env(&self) -> Env {
        Env {
            root: project_root(),
            stacks_dir: self.stacks.path().to_path_buf(),
            aws: AwsSource::Fixed {
                sdk: Box::new(self.sdk.clone()),
                interceptors: self.interceptors(),
            },
        }
    }

    /// Runs `cargo xtask <args>` with no terminal.
    /// Asserts the command fails with an error containing `expected`, having sent no request.
    #[track_caller]
    pub fn expect_rejected_without_request<'o>(outcome: &'o Outcome, expected: &str) -> &'o str {
        let error = outcome.expect_error();
        assert!(error.contains(expected), "expected {expected:?} in {error}");
        assert_eq!(
            outcome.calls,
            Vec::<String>::new(),
            "no request may be sent"
        );
        error
    }

    /// Asserts `stack` is converged: `plan` reports no changes, and `up` plans only no-ops and
    /// sends no mutating request.
    pub async fn expect_converged(&self, stack: &str) {
        self.xtask(&["plan", stack, "--detailed-exitcode"])
            .await
            .expect_code(0);
        let again = self.xtask(&["up", stack, "--yes"]).await;
        again.expect_code(0);
        assert_eq!(again.mutating(), Vec::<&str>::new(), "{:?}", again.calls);
    }

    pub async fn xtask(&self, args: &[&str]) -> Outcome {
        let (shell, captured) = Shell::capture();
        self.run(args, shell, captured).await
    }

    /// Runs `cargo xtask <args>` as if on a terminal where the user types `input`.
    pub async fn xtask_interactive(&self, args: &[&str], input: &str) -> Outcome {
        let (shell, captured) = Shell::capture_with_input(input, true);
        self.run(args, shell, captured).await
    }

    async fn run(&self, args: &[&str], shell: Shell, captured: xtask::Captured) -> Outcome {
        self.counter.reset();
        let result = xtask::run_args(args.iter().copied(), &self.env(), &shell).await;
        let json = args.contains(&"--json");
        let result = result.map_err(|err| {
            xtask::report_error(&shell, &err, json);
            format!("{err:#}")
        });
        Outcome {
            result,
            stdout: captured.stdout(),
            stderr: captured.stderr(),
            calls: self.counter.calls(),
        }
    }

    /// The request counter (for calls made outside `xtask`).
    pub fn counter(&self) -> &RequestCounter {
        &self.counter
    }
}
