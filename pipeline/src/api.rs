//! The facades a release talks through — ECS, ECR and CloudWatch Logs — with only the calls a
//! release makes, in domain types.

use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::AwsError;

/// A capacity provider and its share, as a service or task is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyItem {
    pub provider: String,
    pub weight: u32,
    pub base: u32,
}

/// A launch type, for services and tasks placed without a capacity provider strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchType {
    Ec2,
    Fargate,
}

/// Where a task runs: the service's capacity provider strategy, or its launch type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capacity {
    Strategy(Vec<StrategyItem>),
    LaunchType(LaunchType),
}

/// The awsvpc network a task joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNetwork {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// A deployment's place in its service: the one being rolled out (`Primary`), one being
/// drained (`Active`), or finished with (`Inactive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentStatus {
    Primary,
    Active,
    Inactive,
    Other(String),
}

/// How a rolling deployment is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
    Other(String),
}

/// One deployment of a service, as DescribeServices lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDeployment {
    pub id: String,
    pub status: DeploymentStatus,
    /// `None` where ECS does not track it (and on emulators).
    pub rollout_state: Option<RolloutState>,
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub failed_tasks: u32,
}

/// A service as a release sees it: what it runs, where, and its deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseService {
    pub name: String,
    pub arn: String,
    pub task_definition: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub network: TaskNetwork,
    pub capacity: Capacity,
    /// The deployment circuit breaker rolls a failed deployment back.
    pub circuit_breaker_rollback: bool,
    pub deployments: Vec<ServiceDeployment>,
}

/// Where a container's logs go (the awslogs driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub group: String,
    pub stream_prefix: String,
}

/// A task definition revision as a release sees it: berth's task definitions have one
/// container, named after the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    pub container: String,
    pub image: String,
    pub log: Option<LogTarget>,
}

/// A one-off task to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    pub cluster: String,
    pub task_definition: String,
    pub network: TaskNetwork,
    pub capacity: Capacity,
    /// The container whose command is overridden.
    pub container: String,
    pub command: Vec<String>,
    /// The `startedBy` tag (at most 36 characters).
    pub started_by: String,
    /// Idempotency token: the same run retried starts one task.
    pub client_token: String,
}

/// What RunTask answered: the task it started, or why it could not place one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTaskOutput {
    pub task_arn: Option<String>,
    /// Placement failures (`RESOURCE:MEMORY`, `AGENT`, …), with their detail.
    pub failures: Vec<String>,
}

/// A container of a task, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainer {
    pub name: String,
    pub last_status: String,
    pub exit_code: Option<i32>,
    /// Why it stopped (`CannotPullContainerError: …`, `OutOfMemoryError`, …).
    pub reason: Option<String>,
}

/// A task, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTask {
    pub arn: String,
    pub last_status: String,
    /// `TaskFailedToStart`, `EssentialContainerExited`, `UserInitiated`, …
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<TaskContainer>,
}

/// A service event (`(service web) has reached a steady state.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: SystemTime,
    pub message: String,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ReleaseEcs: Send + Sync {
    /// The service with its deployments; `None` when it does not exist (or is inactive).
    async fn service(&self, cluster: &str, name: &str) -> Result<Option<ReleaseService>, AwsError>;
    async fn task_definition(&self, arn: &str) -> Result<ReleaseTaskDefinition, AwsError>;
    /// Registers a revision of `from`'s family identical to it but for the image of its
    /// container; returns the new revision.
    async fn register_with_image(
        &self,
        from: &str,
        image: &str,
    ) -> Result<ReleaseTaskDefinition, AwsError>;
    async fn run_task(&self, run: &TaskRun) -> Result<RunTaskOutput, AwsError>;
    /// The tasks that exist among `arns` (a task long gone is left out).
    async fn tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>, AwsError>;
    /// Up to `count` stopped tasks that `started_by` started (a service deployment starts its
    /// tasks with its own id), as ECS still lists them.
    async fn stopped_tasks(
        &self,
        cluster: &str,
        started_by: &str,
        count: usize,
    ) -> Result<Vec<ObservedTask>, AwsError>;
    /// Points the service at `task_definition`; returns the id of the deployment that is
    /// PRIMARY after the update, the one this update created.
    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<String, AwsError>;
    /// The service's events created after `since`, oldest first.
    async fn service_events(
        &self,
        cluster: &str,
        name: &str,
        since: SystemTime,
    ) -> Result<Vec<ServiceEvent>, AwsError>;
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ReleaseRegistry: Send + Sync {
    /// The digest of the image tagged `tag`, `None` when no image has that tag.
    async fn digest_for_tag(&self, repository: &str, tag: &str)
        -> Result<Option<String>, AwsError>;
    /// Whether an image with `digest` exists in the repository.
    async fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, AwsError>;
    /// Up to `count` tags, most recently pushed first.
    async fn recent_tags(&self, repository: &str, count: usize) -> Result<Vec<String>, AwsError>;
}

/// Log lines read forward from a stream, and where the next read starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogPage {
    pub lines: Vec<String>,
    /// Pass to the next read; `None` starts from the stream's beginning.
    pub next: Option<String>,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ReleaseLogs: Send + Sync {
    /// The lines written after `after` (from the beginning when `None`); an empty page that
    /// keeps `after` when the stream does not exist yet.
    async fn lines_after(
        &self,
        group: &str,
        stream: &str,
        after: Option<String>,
    ) -> Result<LogPage, AwsError>;
    /// The last `count` lines of a log stream, oldest first; empty when the stream does not
    /// exist (a task that never started writes none).
    async fn last_lines(
        &self,
        group: &str,
        stream: &str,
        count: usize,
    ) -> Result<Vec<String>, AwsError>;
}
