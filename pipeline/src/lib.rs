//! berth-pipeline: a release — the image resolved to a digest, a task-definition revision,
//! a migration task that gates it, and a rollout awaited by the id of the deployment berth
//! created. Not a reconciler: it reads what runs, changes it in order, and says why it stopped.

pub mod api;
pub mod aws;
pub mod deploy;
pub mod migrate;
pub mod release;
pub mod rollout;
#[cfg(test)]
mod testing;

pub use api::{
    Capacity, DeploymentStatus, LaunchType, LogPage, LogTarget, ObservedTask, ReleaseEcs,
    ReleaseLogs, ReleaseRegistry, ReleaseService, ReleaseTaskDefinition, RolloutState,
    RunTaskOutput, ServiceDeployment, ServiceEvent, StrategyItem, TaskContainer, TaskNetwork,
    TaskRun,
};
pub use deploy::{deploy, Deploy, DeployError, DeployOutcome, FailureKind, MigrationSpec};
pub use migrate::{run_migration, Migration, MigrationDone, MigrationError};
pub use release::{
    plan_release, resolve_image, ReleasePlan, ResolveError, ResolvedImage, ServiceRelease,
};
pub use rollout::{roll_out, Rollout, RolloutDone, RolloutError};
