//! Stack configuration: `stacks/<stack>.toml` read with unknown keys rejected, validated once,
//! and turned into each component's Spec. Every error names the file and the key; nothing
//! here talks to AWS, so a bad config never reaches it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use berth_compute::{ComputeSpec, LaunchType};
use berth_core::{Stack, StackName};
use berth_database::{window, DatabaseSpec, Engine};
use berth_logging::{LogGroupSpec, LoggingSpec};
use berth_network::{
    AlbSpec, NatMode, NetworkSpec, NlbSpec, PortRange, SecuritySpec, TargetType, TierCidrs,
};
use berth_registry::{Encryption, LifecycleRule, RegistrySpec, RepositorySpec};
use ipnet::Ipv4Net;
use serde::Deserialize;

/// A validated stack configuration.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub path: PathBuf,
    pub stack: Stack,
    /// `None`: the region of the credential chain (AWS_REGION, the profile).
    pub region: Option<String>,
    pub logging: LoggingSpec,
    pub registry: RegistrySpec,
    pub network: Option<NetworkConfig>,
    /// The database; its network inputs come from the network's outputs.
    pub database: Option<DatabaseSpec>,
    /// The app's capacity and services; inputs from network, registry, logging, database.
    pub compute: Option<ComputeSpec>,
}

/// The network as configured; the AZ names and the region are filled in once AWS is
/// reachable (see `components::Specs::resolve`).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub az_count: usize,
    /// Complete but for `azs` and `region`.
    pub spec: NetworkSpec,
}

/// One problem with a config: the file, the dotted key, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Everything wrong with a config file, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.problems.as_slice() {
            [one] if one.key.is_empty() => write!(f, "{path}: {}", one.message),
            [one] => write!(f, "{path}: {}: {}", one.key, one.message),
            many => {
                write!(f, "{path}: {} problems", many.len())?;
                for p in many {
                    if p.key.is_empty() {
                        write!(f, "\n  - {}", p.message)?;
                    } else {
                        write!(f, "\n  - {}: {}", p.key, p.message)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

// ---- The file's shape. Unknown keys are errors (a typo must not be silently ignored). ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    stack: RawStack,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    registry: RawRegistry,
    network: Option<RawNetwork>,
    database: Option<RawDatabase>,
    compute: Option<compute::RawCompute>,
    #[serde(default)]
    services: BTreeMap<String, compute::RawService>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    region: Option<String>,
    launch_type: Option<String>,
}

/// Default log retention: reference 001 keeps CloudWatch Logs 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// The path of a stack's config under `stacks_dir`.
pub fn stack_path(stacks_dir: &Path, stack: &str) -> PathBuf {
    stacks_dir.join(format!("{stack}.toml"))
}

/// Reads and validates `stacks_dir/<stack>.toml`.
pub fn load(stacks_dir: &Path, stack: &str) -> Result<StackConfig, ConfigError> {
    let path = stack_path(stacks_dir, stack);
    let problem = |key: &str, message: String| ConfigError {
        path: path.clone(),
        problems: vec![ConfigProblem {
            key: key.to_owned(),
            message,
        }],
    };
    let name = StackName::new(stack)
        .map_err(|e| problem("", format!("{e}; the stack name is the file name")))?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let known = known_stacks(stacks_dir);
            let hint = if known.is_empty() {
                format!(
                    "create {} (see stacks/prod.toml for an example)",
                    path.display()
                )
            } else {
                format!("known stacks: {}", known.join(", "))
            };
            return Err(problem("", format!("no such stack config; {hint}")));
        }
        Err(err) => return Err(problem("", format!("cannot read the file: {err}"))),
    };
    parse(&path, name, &text)
}

/// The stacks that have a config file.
pub fn known_stacks(stacks_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(stacks_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Parses and validates a config's text.
pub fn parse(path: &Path, name: StackName, text: &str) -> Result<StackConfig, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.message().to_owned();
        let location = inner
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError {
            path: path.to_owned(),
            problems: vec![ConfigProblem {
                key: if key == "." { String::new() } else { key },
                message: format!("{message}{location}"),
            }],
        }
    })?;
    let mut v = Validator::default();
    let region = raw.stack.region.filter(|r| {
        let ok = is_region(r);
        if !ok {
            v.problem(
                "stack.region",
                format!("{r:?} is not an AWS region name (like \"us-east-2\")"),
            );
        }
        ok
    });
    let launch_type = match raw.stack.launch_type.as_deref() {
        None | Some("ec2") => LaunchType::Ec2,
        Some("fargate") => LaunchType::Fargate,
        Some(other) => {
            v.problem(
                "stack.launch_type",
                format!("{other:?} is not a launch type; use \"ec2\" or \"fargate\""),
            );
            LaunchType::Ec2
        }
    };
    // Tasks use awsvpc networking on both launch types (each task its own IP, which DNS
    // clustering needs), so load balancers target IPs.
    let target_type = TargetType::Ip;
    let service_names: Vec<&String> = raw.services.keys().collect();
    let logging = v.logging(raw.logging, &service_names);
    let registry = v.registry(&name, raw.registry);
    let explicit_database_port = raw.network.as_ref().and_then(|n| n.database_port);
    let mut network = raw.network.map(|n| v.network(&name, n, target_type));
    let database = raw.database.map(|d| v.database(&name, d));
    if let Some(database) = &database {
        match &mut network {
            None => v.problem(
                "database",
                "a database needs a [network] (it lives in the network's data subnets); add a [network] section".into(),
            ),
            Some(network) => {
                if explicit_database_port.is_some() && network.spec.security.database_port != database.port {
                    v.problem(
                        "network.database_port",
                        format!(
                            "{} differs from the database's port {}; leave network.database_port out and it follows the database",
                            network.spec.security.database_port, database.port
                        ),
                    );
                }
                network.spec.security.database_port = database.port;
            }
        }
    }
    let repositories = registry.repositories.keys().cloned().collect();
    let compute = v.compute(
        raw.compute,
        raw.services,
        &compute::Offered {
            launch_type,
            has_network: network.is_some(),
            has_websocket_load_balancer: network
                .as_ref()
                .is_some_and(|n| n.spec.websocket_load_balancer.is_some()),
            has_namespace: network.as_ref().is_some_and(|n| n.spec.namespace.is_some()),
            has_database: database.is_some(),
            container_port: network
                .as_ref()
                .map_or(4000, |n| n.spec.security.container_port),
            repositories: &repositories,
        },
    );
    if !v.problems.is_empty() {
        return Err(ConfigError {
            path: path.to_owned(),
            problems: v.problems,
        });
    }
    Ok(StackConfig {
        path: path.to_owned(),
        stack: Stack::new(name),
        region,
        logging,
        registry,
        network,
        database,
        compute,
    })
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// A service or repository name: lowercase letters, digits and `-`, starting with a letter.
fn is_short_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"))
}

#[derive(Default)]
struct Validator {
    problems: Vec<ConfigProblem>,
}

impl Validator {
    fn problem(&mut self, key: &str, message: String) {
        self.problems.push(ConfigProblem {
            key: key.to_owned(),
            message,
        });
    }
}

mod compute;
mod database;
mod logging;
mod network;
mod registry;

use database::RawDatabase;
use logging::RawLogging;
use network::RawNetwork;
use registry::RawRegistry;

#[cfg(test)]
mod tests;
