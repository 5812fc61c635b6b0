//! berth-compute: where a stack's app runs — ECS on EC2 capacity pools (launch template, Auto
//! Scaling group, capacity provider with managed scaling) or on Fargate; the cluster; IAM roles
//! of least privilege; one task definition, ECS service, optional Cloud Map service, service
//! autoscaling and CPU alarm per app service; the secrets berth generates for the release
//! (`RELEASE_COOKIE`, `SECRET_KEY_BASE`).
//!
//! # Who owns the image
//!
//! The release pipeline owns the image a service runs; `up` never changes it. `up` owns every
//! other task-definition setting: when one changes it registers a new revision carrying the
//! image the service runs now, and the plan shows the task-definition diff.
//!
//! Before the first release there is no image. `up` then creates the service **at zero tasks**
//! with a first revision whose image is the repository URI alone, with no tag and no digest
//! ("unreleased"); no task ever starts from it because the service is held at zero and its
//! scaling target is not registered yet. This is a state, not a placeholder: the pipeline's
//! first deploy registers a revision pinned to a tag or digest, and from then on the service
//! counts as released — `up` brings its desired count (or scaling target) to the spec. A plan
//! for an unreleased service says so on its `desired_count` field.
//!
//! # Cluster scaling
//!
//! Each EC2 pool's capacity provider has managed scaling: ECS keeps the pool's
//! `CapacityProviderReservation` metric at the target capacity (default 100 %: no idle
//! instance). Reference 002's "scale out when memory reservation ≥ 90 % for 10 minutes" maps
//! onto `target_capacity = 90`: ECS adds instances when the tasks placed (or waiting to be
//! placed) need more than 90 % of the pool, and the provider's own alarms replace the hand-made
//! ones. A desired capacity that managed scaling sets is not drift.
//!
//! # Layout
//!
//! `api` holds the facades (one per AWS service), `aws` their SDK implementations; the
//! resource families — `iam`, `secrets`, `capacity` (launch template, group, capacity
//! provider), `cluster`, `discovery`, `task_definition`, `service`, `scaling`, `alarms` — each
//! hold their desired state, plan and apply steps; `component` ties them into the
//! [`berth_core::Component`] contract.

pub mod api;
pub mod aws;
mod component;
mod diff;
mod names;
mod observe;

mod alarms;
mod capacity;
mod cluster;
mod discovery;
mod iam;
mod scaling;
mod secrets;
mod service;
mod task_definition;

pub use component::{plan, Compute, ComputeObserved, ComputeStep, Facades, Phase, Timeouts};
pub use iam::{execution_policy, instance_trust_policy, task_trust_policy};
pub use names::Names;

use std::collections::{BTreeMap, BTreeSet};

use berth_core::Known;
use serde::{Deserialize, Serialize};

/// The component's name: first segment of its addresses, value of its `berth:component` tag.
pub const COMPONENT: &str = "compute";

/// The public SSM parameters of the recommended ECS-optimized Amazon Linux 2023 AMIs.
pub const AMI_PARAMETER_X86_64: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
pub const AMI_PARAMETER_ARM64: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id";

/// Where the stack's tasks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchType {
    /// EC2 instances of the stack's capacity pools.
    #[default]
    Ec2,
    Fargate,
}

/// The desired compute of a stack. The default is nothing: planning against it deletes
/// everything the component has (`down`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeSpec {
    pub launch_type: LaunchType,
    /// EC2 capacity pools by name (`default`, `heavy`, …); empty on Fargate.
    pub pools: BTreeMap<String, PoolSpec>,
    /// Fargate only: the percentage of tasks placed on Fargate Spot (0: none).
    pub fargate_spot_percent: u8,
    /// App services by name (`web`, `worker`, …).
    pub services: BTreeMap<String, ServiceSpec>,
    /// Email addresses subscribed to the alarm topic.
    pub alarm_emails: Vec<String>,
}

impl ComputeSpec {
    /// Whether the stack has compute at all (the cluster exists iff it does).
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty() && self.services.is_empty()
    }

    /// The secrets berth generates, as any service asks for them.
    pub fn generated_secrets(&self) -> BTreeSet<GeneratedSecret> {
        self.services
            .values()
            .flat_map(|s| s.generated_secrets.iter().copied())
            .collect()
    }

    /// Whether any service has a CPU alarm (the alarm topic exists iff one does).
    pub fn has_alarms(&self) -> bool {
        self.services.values().any(|s| s.cpu_alarm.is_some())
    }
}

/// One EC2 capacity pool: an Auto Scaling group built from a launch template, and the
/// capacity provider ECS scales it through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// The first is the launch template's; more make a mixed-instances group.
    pub instance_types: Vec<String>,
    pub min_size: u32,
    pub max_size: u32,
    /// Only used when the group is created: afterwards managed scaling owns it.
    pub desired_capacity: Option<u32>,
    pub root_volume_gib: u32,
    /// An AMI id instead of the recommended ECS-optimized one.
    pub ami_override: Option<String>,
    /// Managed scaling's target capacity, 1–100 (default 100).
    pub target_capacity: u8,
    /// Spot instances (with ECS spot draining) instead of on-demand.
    pub spot: bool,
}

impl Default for PoolSpec {
    fn default() -> Self {
        Self {
            instance_types: vec!["t3.small".to_owned()],
            min_size: 1,
            max_size: 2,
            desired_capacity: None,
            root_volume_gib: 30,
            ami_override: None,
            target_capacity: 100,
            spot: false,
        }
    }
}

impl PoolSpec {
    /// The pool's CPU architecture, from its first instance type.
    pub fn architecture(&self) -> Architecture {
        self.instance_types
            .first()
            .map_or(Architecture::X86_64, |t| Architecture::of_instance_type(t))
    }
}

/// A CPU architecture, which picks the AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    /// Graviton instance types: `a1`, and families whose letters after the generation start
    /// with `g` (`t4g`, `m7g`, `c7gn`, `m6gd`, `is4gen`) — but not `g4dn`/`g5` (GPU, x86).
    pub fn of_instance_type(instance_type: &str) -> Architecture {
        let family = instance_type.split('.').next().unwrap_or_default();
        if family == "a1" {
            return Architecture::Arm64;
        }
        let Some(digit) = family.find(|c: char| c.is_ascii_digit()) else {
            return Architecture::X86_64;
        };
        let after = family[digit..].trim_start_matches(|c: char| c.is_ascii_digit());
        if after.starts_with('g') {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        }
    }

    /// The public SSM parameter naming the recommended AMI.
    pub fn ami_parameter(self) -> &'static str {
        match self {
            Architecture::X86_64 => AMI_PARAMETER_X86_64,
            Architecture::Arm64 => AMI_PARAMETER_ARM64,
        }
    }
}

/// A secret berth generates once and keeps in Secrets Manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratedSecret {
    /// The Erlang distribution cookie, shared by every service of the stack so their nodes
    /// connect.
    ReleaseCookie,
    /// Phoenix's `SECRET_KEY_BASE`.
    SecretKeyBase,
}

impl GeneratedSecret {
    pub const ALL: [GeneratedSecret; 2] = [
        GeneratedSecret::ReleaseCookie,
        GeneratedSecret::SecretKeyBase,
    ];

    /// The environment variable the task receives it as.
    pub fn variable(self) -> &'static str {
        match self {
            GeneratedSecret::ReleaseCookie => "RELEASE_COOKIE",
            GeneratedSecret::SecretKeyBase => "SECRET_KEY_BASE",
        }
    }

    /// Its key in addresses and names.
    pub fn key(self) -> &'static str {
        match self {
            GeneratedSecret::ReleaseCookie => "release-cookie",
            GeneratedSecret::SecretKeyBase => "secret-key-base",
        }
    }

    /// Generated length: a cookie of 64 letters and digits (an atom); 64 bytes of key base,
    /// as `mix phx.gen.secret` makes.
    pub fn length(self) -> u8 {
        64
    }
}

/// One app service: a task definition, an ECS service and what hangs off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The registry repository (its short name) the image comes from.
    pub repository: String,
    pub container_port: Option<u16>,
    /// CPU units (1024 = one vCPU).
    pub cpu: u32,
    /// Hard memory limit, MiB.
    pub memory: u32,
    /// Soft memory limit, MiB: what placement reserves.
    pub memory_reservation: u32,
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Variable name → Secrets Manager secret or SSM parameter ARN.
    pub secrets: BTreeMap<String, String>,
    /// Secrets berth generates that this service receives.
    pub generated_secrets: BTreeSet<GeneratedSecret>,
    /// Receive the database's URL secret.
    pub database_url: bool,
    pub health_check: Option<HealthCheck>,
    pub stop_timeout_seconds: Option<u32>,
    /// The logging component's group (its key there, usually the service name).
    pub log_group: String,
    /// The EC2 pool the tasks run on; `None` on Fargate.
    pub pool: Option<String>,
    /// The network's ALB target group (by name) the service registers with.
    pub alb_target_group: Option<String>,
    /// The network's NLB target group (by name) the service registers with.
    pub nlb_target_group: Option<String>,
    /// A Cloud Map service in the stack's namespace (A records), with `DNS_CLUSTER_QUERY` and
    /// `RELEASE_NODE`'s basename set so the release's nodes find each other.
    pub discovery: bool,
    /// At most one task per instance (EC2 only).
    pub one_task_per_instance: bool,
    pub deployment: DeploymentSpec,
    /// The task count when autoscaling is off.
    pub desired_count: u32,
    pub autoscaling: Option<AutoscalingSpec>,
    pub cpu_alarm: Option<CpuAlarmSpec>,
    /// IAM policy statements for the task role (validated JSON); empty: a role with no
    /// permissions.
    pub task_role_statements: Vec<serde_json::Value>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            repository: String::new(),
            container_port: None,
            cpu: 256,
            memory: 1792,
            memory_reservation: 896,
            command: Vec::new(),
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            generated_secrets: BTreeSet::new(),
            database_url: false,
            health_check: None,
            stop_timeout_seconds: None,
            log_group: String::new(),
            pool: None,
            alb_target_group: None,
            nlb_target_group: None,
            discovery: false,
            one_task_per_instance: false,
            deployment: DeploymentSpec::default(),
            desired_count: 1,
            autoscaling: None,
            cpu_alarm: None,
            task_role_statements: Vec::new(),
        }
    }
}

/// A container health check (the command runs inside the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// As ECS takes it: `["CMD-SHELL", "curl -f http://localhost:4000/health || exit 1"]`.
    pub command: Vec<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub retries: u32,
    pub start_period_seconds: u32,
}

/// How a service rolls out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSpec {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    /// Circuit breaker with rollback.
    pub circuit_breaker: bool,
    /// Seconds the load balancer's health checks are ignored after a task starts.
    pub health_check_grace_period_seconds: Option<u32>,
}

impl Default for DeploymentSpec {
    /// Reference 003: 50 % / 150 %; circuit breaker with rollback on.
    fn default() -> Self {
        Self {
            minimum_healthy_percent: 50,
            maximum_percent: 150,
            circuit_breaker: true,
            health_check_grace_period_seconds: None,
        }
    }
}

/// Service autoscaling: target tracking on one or more metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoscalingSpec {
    pub min: u32,
    pub max: u32,
    pub targets: Vec<ScalingTarget>,
    pub scale_in_cooldown_seconds: u32,
    pub scale_out_cooldown_seconds: u32,
}

/// One target-tracking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScalingTarget {
    pub metric: ScalingMetric,
    /// Percent for CPU and memory; requests per target for `alb_requests_per_target`.
    pub value: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    Cpu,
    Memory,
    /// Requests per target of the service's ALB target group.
    AlbRequestsPerTarget,
}

impl ScalingMetric {
    pub fn key(self) -> &'static str {
        match self {
            ScalingMetric::Cpu => "cpu",
            ScalingMetric::Memory => "memory",
            ScalingMetric::AlbRequestsPerTarget => "requests",
        }
    }
}

/// An alarm when the service's average CPU stays above a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuAlarmSpec {
    pub threshold_percent: u32,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
}

impl Default for CpuAlarmSpec {
    fn default() -> Self {
        Self {
            threshold_percent: 80,
            period_seconds: 60,
            evaluation_periods: 1,
        }
    }
}

/// A repository of the registry, as compute needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryRef {
    pub uri: String,
    pub arn: String,
}

/// A log group of the logging component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroupRef {
    pub name: String,
    pub arn: String,
}

/// The database's URL secret and the variable it is given as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseUrlRef {
    pub variable: String,
    pub secret_arn: Known<String>,
}

/// The stack's Cloud Map namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceRef {
    pub id: String,
    /// The DNS name (`prod.internal`), for `DNS_CLUSTER_QUERY`.
    pub name: String,
}

/// What compute takes from the network, registry, logging and database components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputeInputs {
    /// The region, for the awslogs driver.
    pub region: String,
    pub private_subnet_ids: Known<Vec<String>>,
    pub app_security_group_id: Known<String>,
    /// Target group ARNs by the network's name for them (`web`, `ws`).
    pub target_groups: BTreeMap<String, Known<String>>,
    /// The application load balancer's ARN (requests-per-target scaling names it).
    pub alb_arn: Known<String>,
    pub namespace: Known<NamespaceRef>,
    /// Repositories by short name.
    pub repositories: BTreeMap<String, Known<RepositoryRef>>,
    /// Log groups by the logging component's key.
    pub log_groups: BTreeMap<String, Known<LogGroupRef>>,
    pub database_url: Option<DatabaseUrlRef>,
    /// KMS keys that encrypt the secrets the tasks read (the execution role may decrypt with
    /// them).
    pub kms_key_arns: Vec<String>,
}

/// What other components and `status` read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComputeOutputs {
    pub cluster: Option<ClusterOutput>,
    pub services: BTreeMap<String, ServiceOutput>,
    pub pools: BTreeMap<String, PoolOutput>,
    pub roles: RolesOutput,
    pub alarm_topic_arn: Option<String>,
    /// Generated secrets' ARNs (never their values).
    pub secrets: BTreeMap<GeneratedSecret, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterOutput {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceOutput {
    pub name: String,
    pub arn: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub task_definition_arn: String,
    pub task_definition_revision: Option<u32>,
    /// `None` before the first release.
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolOutput {
    pub group_name: String,
    pub capacity_provider: Option<String>,
    pub instances_in_service: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RolesOutput {
    pub instance: Option<String>,
    /// Execution role ARNs by service.
    pub executions: BTreeMap<String, String>,
    /// Task role ARNs by service.
    pub tasks: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_types_are_arm64() {
        for arm in [
            "t4g.small",
            "m7g.large",
            "c7gn.xlarge",
            "m6gd.large",
            "a1.medium",
            "is4gen.large",
            "x2gd.large",
        ] {
            assert_eq!(
                Architecture::of_instance_type(arm),
                Architecture::Arm64,
                "{arm}"
            );
        }
        for x86 in [
            "t3.small",
            "m7i.large",
            "c6i.xlarge",
            "g4dn.xlarge",
            "g5.xlarge",
            "m7a.large",
            "m7i-flex.large",
        ] {
            assert_eq!(
                Architecture::of_instance_type(x86),
                Architecture::X86_64,
                "{x86}"
            );
        }
    }
}
