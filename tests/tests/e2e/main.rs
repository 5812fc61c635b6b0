//! End-to-end tests of berth against the moto emulator: one binary, so one emulator serves
//! every test; each test has its own account.

mod cli;
mod compute;
mod config_errors;
mod database;
mod logging;
mod network;
mod ownership;
mod reference_stacks;
mod registry;

/// A stack with two log groups and one repository, as most tests start from.
pub const BASIC_STACK: &str = r#"
[logging]
retention_days = 30

[logging.groups.web]

[logging.groups.worker]
retention_days = 7

[registry.repositories.web]
"#;
