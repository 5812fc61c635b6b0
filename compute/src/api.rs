//! The facades: one trait per AWS service compute talks to, with only the calls it makes, in
//! domain types. A field AWS did not return is `None` ("unknown"), never a default.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use berth_core::{AwsError, Tags};
use serde::Serialize;

use crate::{HealthCheck, ScalingMetric};

pub type TagMap = BTreeMap<String, String>;

// ---------------------------------------------------------------- ECS

/// One entry of a capacity provider strategy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StrategyItem {
    pub provider: String,
    pub weight: u32,
    pub base: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCluster {
    pub name: String,
    pub arn: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED`, `INACTIVE`.
    pub status: String,
    pub container_insights: Option<bool>,
    pub capacity_providers: Vec<String>,
    pub default_strategy: Vec<StrategyItem>,
    pub tags: TagMap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCapacityProvider {
    pub name: String,
    pub arn: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// `DELETE_IN_PROGRESS`, `DELETE_COMPLETE`, `DELETE_FAILED`, `UPDATE_…`.
    pub update_status: Option<String>,
    pub update_status_reason: Option<String>,
    pub group_arn: Option<String>,
    pub target_capacity: Option<u8>,
    pub managed_termination_protection: Option<bool>,
    pub tags: TagMap,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewCapacityProvider {
    pub name: String,
    pub group_arn: String,
    pub target_capacity: u8,
}

/// The awslogs driver's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogConfiguration {
    pub group: String,
    pub region: String,
    pub stream_prefix: String,
}

/// The one container of a berth task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    pub port: Option<u16>,
    pub cpu: u32,
    pub memory: u32,
    pub memory_reservation: u32,
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Variable → secret or parameter ARN.
    pub secrets: BTreeMap<String, String>,
    pub health_check: Option<HealthCheck>,
    pub stop_timeout_seconds: Option<u32>,
    pub log: LogConfiguration,
}

/// A task definition as berth registers it (always `awsvpc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskDefinition {
    pub family: String,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    /// Fargate-compatible (task-level cpu and memory set) rather than EC2.
    pub fargate: bool,
    pub arm64: bool,
    pub container: ContainerDefinition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTaskDefinition {
    pub arn: String,
    pub revision: u32,
    pub definition: TaskDefinition,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub circuit_breaker: bool,
}

/// A service as berth creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceConfig {
    pub name: String,
    pub task_definition_arn: String,
    pub desired_count: u32,
    pub strategy: Vec<StrategyItem>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub load_balancers: Vec<LoadBalancer>,
    pub registry_arns: Vec<String>,
    pub distinct_instance: bool,
    pub deployment: Deployment,
    pub grace_period_seconds: Option<u32>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceUpdate {
    pub task_definition_arn: Option<String>,
    pub desired_count: Option<u32>,
    pub strategy: Option<Vec<StrategyItem>>,
    pub network: Option<(Vec<String>, Vec<String>)>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub registry_arns: Option<Vec<String>>,
    pub distinct_instance: Option<bool>,
    pub deployment: Option<Deployment>,
    pub grace_period_seconds: Option<u32>,
}

impl ServiceUpdate {
    pub fn is_empty(&self) -> bool {
        self == &ServiceUpdate::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedService {
    pub name: String,
    pub arn: String,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub task_definition_arn: String,
    // What follows is `None` when the API did not return it (unknown, not drift).
    pub strategy: Option<Vec<StrategyItem>>,
    pub network: Option<(Vec<String>, Vec<String>)>,
    pub load_balancers: Vec<LoadBalancer>,
    pub registry_arns: Vec<String>,
    pub distinct_instance: Option<bool>,
    pub deployment: Option<Deployment>,
    pub grace_period_seconds: Option<u32>,
    /// The latest service events, newest first (for wait failures).
    pub events: Vec<String>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EcsApi: Send + Sync {
    /// The cluster named `name` (with tags and settings), `None` when absent or INACTIVE.
    async fn cluster(&self, name: &str) -> Result<Option<ObservedCluster>, AwsError>;
    /// Every capacity provider of the account and region (all pages, with tags).
    async fn capacity_providers(&self) -> Result<Vec<ObservedCapacityProvider>, AwsError>;
    /// Every service of the cluster (with tags), `[]` when the cluster does not exist.
    async fn services(&self, cluster: &str) -> Result<Vec<ObservedService>, AwsError>;
    async fn service(&self, cluster: &str, name: &str)
        -> Result<Option<ObservedService>, AwsError>;
    async fn task_definition(&self, arn: &str) -> Result<ObservedTaskDefinition, AwsError>;
    /// Container instance ARNs of the cluster.
    async fn container_instances(&self, cluster: &str) -> Result<Vec<String>, AwsError>;

    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<String, AwsError>;
    async fn enable_container_insights(&self, name: &str) -> Result<(), AwsError>;
    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<(), AwsError>;
    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError>;

    async fn create_capacity_provider(
        &self,
        provider: &NewCapacityProvider,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn update_capacity_provider(
        &self,
        name: &str,
        target_capacity: u8,
    ) -> Result<(), AwsError>;
    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError>;

    /// Registers a revision; its ARN and revision number.
    async fn register_task_definition(
        &self,
        definition: &TaskDefinition,
        tags: &Tags,
    ) -> Result<(String, u32), AwsError>;
    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError>;
    /// The ARNs of a family's ACTIVE revisions (every page).
    async fn active_revisions(&self, family: &str) -> Result<Vec<String>, AwsError>;

    async fn create_service(
        &self,
        cluster: &str,
        service: &ServiceConfig,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError>;
    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        update: &ServiceUpdate,
    ) -> Result<(), AwsError>;
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError>;
    async fn deregister_container_instance(&self, cluster: &str, arn: &str)
        -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- Auto Scaling

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub id: String,
    /// `InService`, `Terminating`, …
    pub lifecycle_state: String,
    pub protected_from_scale_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedGroup {
    pub name: String,
    pub arn: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    /// The launch template id and version the group launches from (directly or through a
    /// mixed-instances policy).
    pub launch_template: Option<(String, String)>,
    /// Instance types of a mixed-instances policy; empty without one.
    pub instance_types: Vec<String>,
    /// `Some(true)` for a spot mixed-instances policy.
    pub spot: Option<bool>,
    pub subnet_ids: Vec<String>,
    pub new_instances_protected: bool,
    pub instances: Vec<GroupInstance>,
    /// `Delete in progress` while being deleted.
    pub status: Option<String>,
    pub tags: TagMap,
}

/// A group as berth creates and updates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupConfig {
    pub name: String,
    pub launch_template_id: String,
    pub min_size: u32,
    pub max_size: u32,
    /// Only on create: managed scaling owns it afterwards.
    pub desired_capacity: Option<u32>,
    pub subnet_ids: Vec<String>,
    /// More than one, or spot: a mixed-instances policy.
    pub instance_types: Vec<String>,
    pub spot: bool,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AutoScalingApi: Send + Sync {
    /// Groups tagged `berth:stack = stack` (all pages). The caller still checks the tags.
    async fn groups(&self, stack: &str) -> Result<Vec<ObservedGroup>, AwsError>;
    async fn group(&self, name: &str) -> Result<Option<ObservedGroup>, AwsError>;
    /// Creates the group with its tags (propagated to instances), new instances protected
    /// from scale-in (ECS managed termination protection needs it).
    async fn create_group(&self, group: &GroupConfig, tags: &Tags) -> Result<(), AwsError>;
    async fn update_group(&self, group: &GroupConfig) -> Result<(), AwsError>;
    async fn set_scale_in_protection(
        &self,
        name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError>;
    async fn delete_group(&self, name: &str, force: bool) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- EC2 launch templates

/// What a launch template version holds, as berth writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchTemplateData {
    pub image_id: String,
    pub instance_type: String,
    pub instance_profile_name: String,
    pub security_group_ids: Vec<String>,
    pub root_volume_gib: u32,
    pub root_volume_encrypted: bool,
    /// IMDSv2 required, hop limit 1.
    pub imdsv2_required: bool,
    pub metadata_hop_limit: u32,
    /// Plain text (the adapter encodes it).
    pub user_data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLaunchTemplate {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    /// The latest version's data; `None` when it could not be read back.
    pub data: Option<LaunchTemplateData>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LaunchTemplateApi: Send + Sync {
    /// Templates tagged `berth:stack = stack`, each with its latest version's data.
    async fn launch_templates(&self, stack: &str) -> Result<Vec<ObservedLaunchTemplate>, AwsError>;
    /// Creates the template (version 1) with its tags; returns its id.
    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError>;
    /// A new version, made the default; returns its number.
    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        client_token: &str,
    ) -> Result<i64, AwsError>;
    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- IAM

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRole {
    pub name: String,
    pub arn: String,
    pub trust_policy: serde_json::Value,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, serde_json::Value>,
    pub managed_policy_arns: BTreeSet<String>,
    pub tags: TagMap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstanceProfile {
    pub name: String,
    pub arn: String,
    pub roles: Vec<String>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IamApi: Send + Sync {
    /// Roles under `path_prefix` (all pages), each with its trust policy, inline and attached
    /// policies and tags.
    async fn roles(&self, path_prefix: &str) -> Result<Vec<ObservedRole>, AwsError>;
    /// Instance profiles under `path_prefix` (all pages), with their roles and tags.
    async fn instance_profiles(
        &self,
        path_prefix: &str,
    ) -> Result<Vec<ObservedInstanceProfile>, AwsError>;
    async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust_policy: &serde_json::Value,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn update_trust_policy(
        &self,
        name: &str,
        trust_policy: &serde_json::Value,
    ) -> Result<(), AwsError>;
    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &serde_json::Value,
    ) -> Result<(), AwsError>;
    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), AwsError>;
    async fn attach_role_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError>;
    async fn detach_role_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError>;
    async fn delete_role(&self, name: &str) -> Result<(), AwsError>;
    async fn create_instance_profile(
        &self,
        name: &str,
        path: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn add_role_to_instance_profile(&self, profile: &str, role: &str)
        -> Result<(), AwsError>;
    async fn remove_role_from_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> Result<(), AwsError>;
    async fn delete_instance_profile(&self, name: &str) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- SSM (public AMI parameters)

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SsmApi: Send + Sync {
    /// The values of `names` that exist (at most 10 names).
    async fn parameters(&self, names: &[String]) -> Result<BTreeMap<String, String>, AwsError>;
}

// ---------------------------------------------------------------- Application Auto Scaling

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedScalableTarget {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScalingPolicy {
    pub name: String,
    pub resource_id: String,
    pub metric: ScalingMetric,
    pub target_value: u32,
    /// The ALB and target group, for requests per target.
    pub resource_label: Option<String>,
    pub scale_in_cooldown_seconds: u32,
    pub scale_out_cooldown_seconds: u32,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AppScalingApi: Send + Sync {
    /// ECS scalable targets whose resource id starts with `prefix` (all pages).
    async fn scalable_targets(&self, prefix: &str)
        -> Result<Vec<ObservedScalableTarget>, AwsError>;
    /// ECS target-tracking policies on resources starting with `prefix` (all pages); a policy
    /// berth cannot express has `metric` it does not recognise and shows as drift.
    async fn scaling_policies(&self, prefix: &str) -> Result<Vec<ScalingPolicy>, AwsError>;
    async fn register_scalable_target(
        &self,
        resource_id: &str,
        min: u32,
        max: u32,
    ) -> Result<(), AwsError>;
    async fn put_scaling_policy(&self, policy: &ScalingPolicy) -> Result<(), AwsError>;
    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError>;
    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- CloudWatch

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuAlarm {
    pub name: String,
    pub cluster: String,
    pub service: String,
    pub threshold_percent: u32,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub topic_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAlarm {
    pub name: String,
    pub arn: String,
    /// `None` when the alarm is not a CPU alarm berth could have made.
    pub alarm: Option<CpuAlarm>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudWatchApi: Send + Sync {
    /// Alarms whose name starts with `prefix` (all pages), with their tags.
    async fn alarms(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, AwsError>;
    /// Creates or replaces the alarm (tags apply on create).
    async fn put_cpu_alarm(&self, alarm: &CpuAlarm, tags: &Tags) -> Result<(), AwsError>;
    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- SNS

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `PendingConfirmation` until the address confirms.
    pub arn: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTopic {
    pub arn: String,
    pub email_subscriptions: Vec<Subscription>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SnsApi: Send + Sync {
    /// The topic named `name`, with its email subscriptions and tags.
    async fn topic(&self, name: &str) -> Result<Option<ObservedTopic>, AwsError>;
    /// Creates the topic (idempotent: the same name gives the same ARN).
    async fn create_topic(&self, name: &str, tags: &Tags) -> Result<String, AwsError>;
    async fn subscribe_email(&self, topic_arn: &str, email: &str) -> Result<(), AwsError>;
    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), AwsError>;
    async fn delete_topic(&self, arn: &str) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- Secrets Manager

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedSecret {
    pub name: String,
    pub arn: String,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SecretsApi: Send + Sync {
    /// Secrets whose name starts with `prefix` (all pages), with tags.
    async fn secrets(&self, prefix: &str) -> Result<Vec<ObservedSecret>, AwsError>;
    /// Generates a secret value of letters and digits in AWS and stores it under `name`;
    /// returns its ARN. The value never leaves the adapter.
    async fn create_generated_secret(
        &self,
        name: &str,
        length: u8,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError>;
    /// Deletes at once, without a recovery window (a rerun of `up` creates it again).
    async fn delete_secret(&self, name: &str) -> Result<(), AwsError>;
}

// ---------------------------------------------------------------- Cloud Map

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDiscoveryService {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub ttl: Option<i64>,
    pub tags: TagMap,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudMapApi: Send + Sync {
    /// Services of the account whose description is `description` (all pages), with tags
    /// (Cloud Map lists have no tag filter; the description narrows what is read).
    async fn services(&self, description: &str) -> Result<Vec<ObservedDiscoveryService>, AwsError>;
    /// Creates an A-record service with a `ttl` and multivalue routing; returns (id, ARN).
    async fn create_service(
        &self,
        name: &str,
        namespace_id: &str,
        description: &str,
        ttl: i64,
        tags: &Tags,
        creator_request_id: &str,
    ) -> Result<(String, String), AwsError>;
    async fn delete_service(&self, id: &str) -> Result<(), AwsError>;
}
