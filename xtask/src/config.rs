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
struct RawDatabase {
    engine: Option<String>,
    engine_version: Option<String>,
    instance_class: Option<String>,
    instance_count: Option<i64>,
    port: Option<i64>,
    master_username: Option<String>,
    database_name: Option<String>,
    backup_retention_days: Option<i64>,
    backup_window: Option<String>,
    maintenance_window: Option<String>,
    kms_key_arn: Option<String>,
    deletion_protection: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    region: Option<String>,
    launch_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    vpc_cidr: Option<String>,
    az_count: Option<i64>,
    nat: Option<String>,
    s3_endpoint: Option<bool>,
    ingress_cidrs: Option<Vec<String>>,
    container_port: Option<i64>,
    erlang_ports: Option<[i64; 2]>,
    database_port: Option<i64>,
    namespace: Option<String>,
    #[serde(default)]
    subnets: RawSubnets,
    #[serde(default)]
    load_balancer: RawLoadBalancer,
    websocket_load_balancer: Option<RawWebsocketLoadBalancer>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTier {
    Prefix(i64),
    Cidrs(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubnets {
    public: Option<RawTier>,
    private: Option<RawTier>,
    data: Option<RawTier>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoadBalancer {
    deletion_protection: Option<bool>,
    certificate_arn: Option<String>,
    ssl_policy: Option<String>,
    health_check_path: Option<String>,
    health_check_matcher: Option<String>,
    deregistration_delay: Option<i64>,
    stickiness: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebsocketLoadBalancer {
    deletion_protection: Option<bool>,
    listener_port: Option<i64>,
    target_port: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRetention {
    Days(i64),
    Word(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, RawLogGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogGroup {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    repositories: BTreeMap<String, RawRepository>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    scan_on_push: Option<bool>,
    tag_immutability: Option<bool>,
    encryption: Option<String>,
    kms_key_arn: Option<String>,
    lifecycle: Option<Vec<RawLifecycleRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "rule", rename_all = "snake_case")]
enum RawLifecycleRule {
    ExpireUntagged { days: i64 },
    KeepLast { count: i64 },
    KeepTagPrefix { prefix: String },
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

    fn retention(
        &mut self,
        key: &str,
        raw: Option<RawRetention>,
        default: Option<u32>,
    ) -> Option<u32> {
        let allowed = || {
            berth_logging::RETENTION_DAYS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match raw {
            None => default,
            Some(RawRetention::Word(word)) if word == "never" => None,
            Some(RawRetention::Word(word)) => {
                self.problem(
                    key,
                    format!(
                        "{word:?} is not a retention; use a number of days ({}) or \"never\"",
                        allowed()
                    ),
                );
                default
            }
            Some(RawRetention::Days(days)) => match u32::try_from(days) {
                Ok(days) if berth_logging::is_valid_retention(days) => Some(days),
                _ => {
                    self.problem(
                        key,
                        format!(
                            "{days} days is not a retention CloudWatch Logs accepts; use one of {} or \"never\"",
                            allowed()
                        ),
                    );
                    default
                }
            },
        }
    }

    fn kms_key(&mut self, key: &str, arn: Option<String>) -> Option<String> {
        let arn = arn?;
        if is_kms_key_arn(&arn) {
            Some(arn)
        } else {
            self.problem(
                key,
                format!("{arn:?} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"),
            );
            None
        }
    }

    /// The groups, and every service's group (`/berth/STACK/SERVICE`) with the section's
    /// defaults where the config does not list it.
    fn logging(&mut self, raw: RawLogging, services: &[&String]) -> LoggingSpec {
        let default_retention = self.retention(
            "logging.retention_days",
            raw.retention_days,
            Some(DEFAULT_RETENTION_DAYS),
        );
        let default_key = self.kms_key("logging.kms_key_arn", raw.kms_key_arn);
        let mut groups = BTreeMap::new();
        for (service, group) in raw.groups {
            let key = format!("logging.groups.{service}");
            if !is_short_name(&service) {
                self.problem(
                    &key,
                    format!("{service:?} is not a service name: use 1-40 lowercase letters, digits and '-', starting with a letter"),
                );
            }
            let retention_days = self.retention(
                &format!("{key}.retention_days"),
                group.retention_days,
                default_retention,
            );
            let kms_key_arn = self
                .kms_key(&format!("{key}.kms_key_arn"), group.kms_key_arn)
                .or_else(|| default_key.clone());
            groups.insert(
                service,
                LogGroupSpec {
                    retention_days,
                    kms_key_arn,
                },
            );
        }
        for service in services {
            groups
                .entry((*service).clone())
                .or_insert_with(|| LogGroupSpec {
                    retention_days: default_retention,
                    kms_key_arn: default_key.clone(),
                });
        }
        LoggingSpec { groups }
    }

    fn registry(&mut self, stack: &StackName, raw: RawRegistry) -> RegistrySpec {
        let mut repositories = BTreeMap::new();
        for (short, repo) in raw.repositories {
            let key = format!("registry.repositories.{short}");
            if !is_short_name(&short) {
                self.problem(
                    &key,
                    format!("{short:?} is not a repository name: use 1-40 lowercase letters, digits and '-', starting with a letter"),
                );
            } else if stack.as_str().len() + 1 + short.len() > 256 {
                self.problem(
                    &key,
                    "the ECR name <stack>-<name> would exceed 256 characters".into(),
                );
            }
            let defaults = RepositorySpec::default();
            let kms_key_arn = self.kms_key(&format!("{key}.kms_key_arn"), repo.kms_key_arn.clone());
            let encryption = match repo.encryption.as_deref() {
                None | Some("aes256") => {
                    if repo.kms_key_arn.is_some() {
                        self.problem(
                            &format!("{key}.kms_key_arn"),
                            "a KMS key needs encryption = \"kms\"".into(),
                        );
                    }
                    Encryption::Aes256
                }
                Some("kms") => Encryption::Kms {
                    key_arn: kms_key_arn,
                },
                Some(other) => {
                    self.problem(
                        &format!("{key}.encryption"),
                        format!("{other:?} is not an encryption; use \"aes256\" or \"kms\""),
                    );
                    Encryption::Aes256
                }
            };
            let lifecycle = match repo.lifecycle {
                None => defaults.lifecycle,
                Some(rules) => self.lifecycle(&format!("{key}.lifecycle"), rules),
            };
            repositories.insert(
                short,
                RepositorySpec {
                    scan_on_push: repo.scan_on_push.unwrap_or(defaults.scan_on_push),
                    tag_immutability: repo.tag_immutability.unwrap_or(defaults.tag_immutability),
                    encryption,
                    lifecycle,
                },
            );
        }
        RegistrySpec { repositories }
    }

    fn port(&mut self, key: &str, raw: Option<i64>, default: u16) -> u16 {
        match raw {
            None => default,
            Some(port) => match u16::try_from(port) {
                Ok(port) if port > 0 => port,
                _ => {
                    self.problem(key, format!("{port} is not a port; use 1 to 65535"));
                    default
                }
            },
        }
    }

    fn cidr(&mut self, key: &str, text: &str) -> Option<Ipv4Net> {
        match text.parse::<Ipv4Net>() {
            Ok(net) if net.trunc() == net => Some(net),
            Ok(net) => {
                self.problem(
                    key,
                    format!("{text:?} has host bits set; did you mean {}?", net.trunc()),
                );
                None
            }
            Err(_) => {
                self.problem(
                    key,
                    format!("{text:?} is not an IPv4 CIDR block (like \"10.0.0.0/16\")"),
                );
                None
            }
        }
    }

    fn network(
        &mut self,
        stack: &StackName,
        raw: RawNetwork,
        target_type: TargetType,
    ) -> NetworkConfig {
        // AWS reserves these prefixes: security groups `sg-…`, load balancers `internal-…`.
        if stack.as_str() == "sg"
            || stack.as_str().starts_with("sg-")
            || stack.as_str() == "internal"
            || stack.as_str().starts_with("internal-")
        {
            self.problem(
                "",
                format!("the stack name {stack:?} makes resource names AWS reserves (sg-…, internal-…); rename the file"),
            );
        }
        // Load balancer and target group names are `<stack>-alb` etc., at most 32 characters.
        if stack.as_str().len() > 28 {
            self.problem(
                "",
                format!("the stack name {stack:?} is too long for a network: load balancer names allow 28 characters before \"-alb\""),
            );
        }
        let vpc_cidr = match raw.vpc_cidr.as_deref() {
            None => "10.0.0.0/16".parse().expect("a valid default"),
            Some(text) => match self.cidr("network.vpc_cidr", text) {
                Some(net) if (16..=24).contains(&net.prefix_len()) => net,
                Some(net) => {
                    self.problem(
                        "network.vpc_cidr",
                        format!(
                            "a /{} VPC is outside what berth lays out (/16 to /24)",
                            net.prefix_len()
                        ),
                    );
                    net
                }
                None => "10.0.0.0/16".parse().expect("a valid default"),
            },
        };
        let az_count = match raw.az_count {
            None => 3,
            Some(n) if (1..=berth_network::MAX_AZS as i64).contains(&n) => n as usize,
            Some(n) => {
                self.problem(
                    "network.az_count",
                    format!(
                        "{n} AZs is out of range; use 1 to {}",
                        berth_network::MAX_AZS
                    ),
                );
                3
            }
        };
        if az_count < 2 {
            self.problem(
                "network.az_count",
                "an application load balancer needs subnets in at least 2 AZs; use 2 or more"
                    .into(),
            );
        }
        let nat = match raw.nat.as_deref() {
            None | Some("single") => NatMode::Single,
            Some("none") => NatMode::None,
            Some("per-az") => NatMode::PerAz,
            Some(other) => {
                self.problem(
                    "network.nat",
                    format!("{other:?} is not a NAT mode; use \"none\", \"single\" or \"per-az\""),
                );
                NatMode::Single
            }
        };
        let mut tiers = [
            TierCidrs::Prefix(24),
            TierCidrs::Prefix(20),
            TierCidrs::Prefix(24),
        ];
        for (i, (name, tier)) in [
            ("public", raw.subnets.public),
            ("private", raw.subnets.private),
            ("data", raw.subnets.data),
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("network.subnets.{name}");
            match tier {
                None => {}
                Some(RawTier::Prefix(p)) => match u8::try_from(p) {
                    Ok(p) if (16..=28).contains(&p) => tiers[i] = TierCidrs::Prefix(p),
                    _ => self.problem(
                        &key,
                        format!("/{p} is not a subnet size; use a prefix length from 16 to 28"),
                    ),
                },
                Some(RawTier::Cidrs(list)) => {
                    let nets: Vec<Ipv4Net> = list
                        .iter()
                        .enumerate()
                        .filter_map(|(j, c)| self.cidr(&format!("{key}[{j}]"), c))
                        .collect();
                    tiers[i] = TierCidrs::Explicit(nets);
                }
            }
        }
        let subnets = match berth_network::layout(vpc_cidr, az_count, &tiers) {
            Ok(layout) => layout,
            Err(err) => {
                let (tier, index) = err.location();
                let key = match index {
                    Some(i) => format!("network.subnets.{tier}[{i}]"),
                    None => format!("network.subnets.{tier}"),
                };
                self.problem(&key, err.to_string());
                [Vec::new(), Vec::new(), Vec::new()]
            }
        };
        let ingress_cidrs = match raw.ingress_cidrs {
            None => vec!["0.0.0.0/0".parse().expect("a valid default")],
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, c)| self.cidr(&format!("network.ingress_cidrs[{i}]"), c))
                .collect(),
        };
        let container_port = self.port("network.container_port", raw.container_port, 4000);
        let erlang_ports = match raw.erlang_ports {
            None => PortRange {
                from: 9100,
                to: 9155,
            },
            Some([from, to]) => {
                let from = self.port("network.erlang_ports[0]", Some(from), 9100);
                let to = self.port("network.erlang_ports[1]", Some(to), 9155);
                if from > to {
                    self.problem(
                        "network.erlang_ports",
                        format!("the range {from}-{to} is reversed; write the lower port first: [{to}, {from}]"),
                    );
                }
                PortRange { from, to }
            }
        };
        let database_port = self.port("network.database_port", raw.database_port, 27017);
        let namespace = raw.namespace.unwrap_or_else(|| format!("{stack}.internal"));
        let dns_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        };
        if !namespace.contains('.') || !namespace.split('.').all(dns_label) {
            self.problem(
                "network.namespace",
                format!("{namespace:?} is not a DNS name like \"{stack}.internal\""),
            );
        }
        let lb = raw.load_balancer;
        if let Some(arn) = &lb.certificate_arn {
            if !(arn.starts_with("arn:") && arn.contains(":acm:") && arn.contains(":certificate/"))
            {
                self.problem(
                    "network.load_balancer.certificate_arn",
                    format!("{arn:?} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"),
                );
            }
        }
        let health_check_path = lb.health_check_path.unwrap_or_else(|| "/".to_owned());
        if !health_check_path.starts_with('/') {
            self.problem(
                "network.load_balancer.health_check_path",
                format!("{health_check_path:?} must start with '/'"),
            );
        }
        let health_check_matcher = lb
            .health_check_matcher
            .unwrap_or_else(|| "200,301,302,307".to_owned());
        let matcher_ok = health_check_matcher.split(',').all(|part| {
            let mut bounds = part.trim().splitn(2, '-');
            bounds.all(|b| b.parse::<u16>().is_ok_and(|c| (200..=499).contains(&c)))
        });
        if !matcher_ok {
            self.problem(
                "network.load_balancer.health_check_matcher",
                format!("{health_check_matcher:?} is not a list of HTTP codes from 200 to 499 (like \"200,301,302\" or \"200-299\")"),
            );
        }
        let deregistration_delay = match lb.deregistration_delay {
            None => 30,
            Some(d) if (0..=3600).contains(&d) => d as u32,
            Some(d) => {
                self.problem(
                    "network.load_balancer.deregistration_delay",
                    format!("{d} seconds is out of range; use 0 to 3600"),
                );
                30
            }
        };
        let load_balancer = Some(AlbSpec {
            deletion_protection: lb.deletion_protection.unwrap_or(false),
            certificate_arn: lb.certificate_arn,
            ssl_policy: lb
                .ssl_policy
                .unwrap_or_else(|| "ELBSecurityPolicy-TLS13-1-2-2021-06".to_owned()),
            target_type,
            health_check_path,
            health_check_matcher,
            deregistration_delay,
            stickiness: lb.stickiness.unwrap_or(false),
        });
        let websocket_load_balancer = raw.websocket_load_balancer.map(|ws| NlbSpec {
            deletion_protection: ws.deletion_protection.unwrap_or(false),
            listener_port: self.port(
                "network.websocket_load_balancer.listener_port",
                ws.listener_port,
                80,
            ),
            target_port: self.port(
                "network.websocket_load_balancer.target_port",
                ws.target_port,
                container_port,
            ),
            target_type,
            deregistration_delay,
        });
        NetworkConfig {
            az_count,
            spec: NetworkSpec {
                region: String::new(),
                vpc_cidr,
                azs: Vec::new(),
                subnets,
                nat,
                s3_endpoint: raw.s3_endpoint.unwrap_or(true),
                security: SecuritySpec {
                    ingress_cidrs,
                    container_port,
                    erlang_ports,
                    database_port,
                },
                load_balancer,
                websocket_load_balancer,
                namespace: Some(namespace),
            },
        }
    }

    fn database(&mut self, stack: &StackName, raw: RawDatabase) -> DatabaseSpec {
        let engine = match raw.engine.as_deref() {
            None | Some("docdb") => Engine::Docdb,
            Some("aurora-postgresql") => Engine::AuroraPostgresql,
            Some(other) => {
                self.problem(
                    "database.engine",
                    format!("{other:?} is not an engine berth runs; use \"docdb\" or \"aurora-postgresql\""),
                );
                Engine::Docdb
            }
        };
        let instance_count = match raw.instance_count {
            None => 1,
            Some(n) if (1..=16).contains(&n) => n as u8,
            Some(n) => {
                self.problem(
                    "database.instance_count",
                    format!("{n} instances is out of range; use 1 (a writer) to 16 (a writer and 15 readers)"),
                );
                1
            }
        };
        let backup_retention_days = match raw.backup_retention_days {
            None => 30,
            Some(d) if (1..=35).contains(&d) => d as u8,
            Some(d) => {
                self.problem(
                    "database.backup_retention_days",
                    format!("{d} days is out of range; use 1 to 35"),
                );
                30
            }
        };
        let backup_window = raw
            .backup_window
            .unwrap_or_else(|| "01:00-03:00".to_owned());
        let daily = window::daily(&backup_window);
        match daily {
            None => self.problem(
                "database.backup_window",
                format!("{backup_window:?} is not a window; write hh:mm-hh:mm in UTC, like \"01:00-03:00\""),
            ),
            Some(w) if window::length(w, 24 * 60) < 30 => self.problem(
                "database.backup_window",
                format!("{backup_window:?} is {} minutes long; a backup window needs at least 30", window::length(w, 24 * 60)),
            ),
            Some(_) => {}
        }
        let maintenance_window = raw
            .maintenance_window
            .unwrap_or_else(|| "sun:05:00-sun:06:00".to_owned())
            .to_lowercase();
        let weekly = window::weekly(&maintenance_window);
        match weekly {
            None => self.problem(
                "database.maintenance_window",
                format!("{maintenance_window:?} is not a window; write ddd:hh:mm-ddd:hh:mm in UTC, like \"sun:05:00-sun:06:00\""),
            ),
            Some(w) if window::length(w, 7 * 24 * 60) < 30 => self.problem(
                "database.maintenance_window",
                format!("{maintenance_window:?} is shorter than the 30 minutes AWS requires"),
            ),
            Some(w) => {
                if let Some(d) = daily {
                    if window::overlaps(d, w) {
                        self.problem(
                            "database.maintenance_window",
                            format!("{maintenance_window:?} overlaps the backup window {backup_window:?}; move one of them"),
                        );
                    }
                }
            }
        }
        let port = self.port("database.port", raw.port, engine.default_port());
        let master_username = raw.master_username.unwrap_or_else(|| "berth".to_owned());
        let username_ok = (1..=63).contains(&master_username.len())
            && master_username.starts_with(|c: char| c.is_ascii_alphabetic())
            && master_username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !["admin", "postgres", "rdsadmin"].contains(&master_username.as_str());
        if !username_ok {
            self.problem(
                "database.master_username",
                format!("{master_username:?} cannot be a master user: use 1-63 letters, digits or '_', starting with a letter, not a reserved name"),
            );
        }
        let database_name = raw
            .database_name
            .unwrap_or_else(|| stack.as_str().replace('-', "_"));
        if !(database_name.starts_with(|c: char| c.is_ascii_alphabetic())
            && database_name.len() <= 63
            && database_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            self.problem(
                "database.database_name",
                format!("{database_name:?} is not a database name: use letters, digits and '_', starting with a letter"),
            );
        }
        let kms_key_arn = self.kms_key("database.kms_key_arn", raw.kms_key_arn);
        if let Some(version) = &raw.engine_version {
            if !version.chars().all(|c| c.is_ascii_digit() || c == '.') || version.is_empty() {
                self.problem(
                    "database.engine_version",
                    format!(
                        "{version:?} is not an engine version like \"{}\"",
                        engine.default_version()
                    ),
                );
            }
        }
        let instance_class = raw
            .instance_class
            .unwrap_or_else(|| engine.default_instance_class().to_owned());
        if !instance_class.starts_with("db.") {
            self.problem(
                "database.instance_class",
                format!("{instance_class:?} is not an instance class like \"db.r6g.large\""),
            );
        }
        DatabaseSpec {
            engine,
            engine_version: raw
                .engine_version
                .unwrap_or_else(|| engine.default_version().to_owned()),
            instance_class,
            instance_count,
            port,
            master_username,
            database_name,
            backup_retention_days,
            backup_window,
            maintenance_window,
            kms_key_arn,
            deletion_protection: raw.deletion_protection.unwrap_or(true),
        }
    }

    fn lifecycle(&mut self, key: &str, rules: Vec<RawLifecycleRule>) -> Vec<LifecycleRule> {
        let mut typed = Vec::new();
        let (mut untagged, mut keep_last) = (0, 0);
        let mut prefixes = std::collections::BTreeSet::new();
        for (i, rule) in rules.into_iter().enumerate() {
            let key = format!("{key}[{i}]");
            match rule {
                RawLifecycleRule::ExpireUntagged { days } => {
                    untagged += 1;
                    if untagged > 1 {
                        self.problem(&key, "only one expire_untagged rule is allowed".into());
                    }
                    match u32::try_from(days) {
                        Ok(days) if (1..=3650).contains(&days) => {
                            typed.push(LifecycleRule::ExpireUntagged { days })
                        }
                        _ => self.problem(
                            &format!("{key}.days"),
                            format!("{days} is out of range; use 1 to 3650 days"),
                        ),
                    }
                }
                RawLifecycleRule::KeepLast { count } => {
                    keep_last += 1;
                    if keep_last > 1 {
                        self.problem(&key, "only one keep_last rule is allowed".into());
                    }
                    match u32::try_from(count) {
                        Ok(count) if (1..=10_000).contains(&count) => {
                            typed.push(LifecycleRule::KeepLast { count })
                        }
                        _ => self.problem(
                            &format!("{key}.count"),
                            format!("{count} is out of range; use 1 to 10000 images"),
                        ),
                    }
                }
                RawLifecycleRule::KeepTagPrefix { prefix } => {
                    let valid = !prefix.is_empty()
                        && prefix.len() <= 128
                        && prefix
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if !valid {
                        self.problem(
                            &format!("{key}.prefix"),
                            format!("{prefix:?} is not a tag prefix: use 1-128 letters, digits, '.', '_' or '-'"),
                        );
                    } else if !prefixes.insert(prefix.clone()) {
                        self.problem(
                            &format!("{key}.prefix"),
                            format!("prefix {prefix:?} is listed twice"),
                        );
                    } else {
                        typed.push(LifecycleRule::KeepTagPrefix { prefix });
                    }
                }
            }
        }
        typed
    }
}

mod compute;

#[cfg(test)]
mod tests;
