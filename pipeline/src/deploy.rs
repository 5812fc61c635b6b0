//! A whole release, in order: resolve the image, read what the services run, plan, register
//! the new revisions, gate on the migration, then roll out every service sharing the image and
//! wait on each deployment berth created. Nothing changes before the plan says it must, and
//! nothing rolls out unless the migration exited 0.

use std::time::Duration;

use berth_core::{client_token, AwsError, Event, Reporter, Stack};
use futures::future::join_all;

use crate::api::{ReleaseEcs, ReleaseLogs, ReleaseRegistry, ReleaseTaskDefinition};
use crate::migrate::{run_migration, Migration, MigrationDone, MigrationError};
use crate::release::{plan_release, resolve_image, service_address, ReleasePlan, ResolveError};
use crate::rollout::{roll_out, Rollout, RolloutDone, RolloutError};

/// The migration a release runs first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSpec {
    /// The service whose new revision, network and capacity the task uses.
    pub service: String,
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// What to release, where.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub stack: Stack,
    pub cluster: String,
    /// The ECR repository's name and URI.
    pub repository: String,
    pub repository_uri: String,
    /// A tag or a digest.
    pub image: String,
    /// The services sharing the image (web and worker); released together.
    pub services: Vec<String>,
    pub migration: Option<MigrationSpec>,
    pub rollout_timeout: Duration,
    /// Plan only: resolve, read and diff, change nothing.
    pub dry_run: bool,
}

/// How a release ended when nothing went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployOutcome {
    /// Every service already runs the image; nothing was changed.
    NoOp(ReleasePlan),
    /// `dry_run`: what would change.
    DryRun(ReleasePlan),
    Released {
        plan: ReleasePlan,
        migration: Option<MigrationDone>,
        /// Per service: the new revision and the deployment that completed.
        rollouts: Vec<(ReleaseTaskDefinition, RolloutDone)>,
    },
}

/// Why a release stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("resolving the image")]
    Resolve(#[source] ResolveError),
    #[error("service {service} does not exist in cluster {cluster}")]
    NoService { cluster: String, service: String },
    #[error(
        "the migration runs as a task of service {service}, which this release does not include"
    )]
    MigrationService { service: String },
    #[error("reading service {service}")]
    Read {
        service: String,
        #[source]
        source: AwsError,
    },
    #[error("registering a revision of {service}'s task definition")]
    Register {
        service: String,
        #[source]
        source: AwsError,
    },
    #[error("the migration stopped the release; no service was changed")]
    Migration(#[source] MigrationError),
    #[error("service {service} did not roll out{}", others(.also))]
    Rollout {
        service: String,
        #[source]
        source: RolloutError,
        /// The other services' failures, when several failed.
        also: Vec<RolloutError>,
    },
}

/// How a release failed, for callers that answer differently (the CLI's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing was rolled out, or a rollout failed without being rolled back.
    Failed,
    /// The circuit breaker rolled the deployment back: the previous release runs.
    RolledBack,
    /// A wait reached its deadline; what was awaited may still be going on.
    TimedOut,
}

impl DeployError {
    pub fn kind(&self) -> FailureKind {
        match self {
            DeployError::Migration(MigrationError::TimedOut { .. }) => FailureKind::TimedOut,
            DeployError::Rollout { source, .. } => match source {
                RolloutError::RolledBack { .. } => FailureKind::RolledBack,
                RolloutError::TimedOut { .. } => FailureKind::TimedOut,
                _ => FailureKind::Failed,
            },
            _ => FailureKind::Failed,
        }
    }
}

fn others(also: &[RolloutError]) -> String {
    if also.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = also.iter().map(ToString::to_string).collect();
        format!(" (and: {})", lines.join("; "))
    }
}

/// Carries out a release.
pub async fn deploy(
    ecs: &dyn ReleaseEcs,
    registry: &dyn ReleaseRegistry,
    logs: &dyn ReleaseLogs,
    reporter: &dyn Reporter,
    request: &Deploy,
) -> Result<DeployOutcome, DeployError> {
    if let Some(m) = &request.migration {
        if !request.services.contains(&m.service) {
            return Err(DeployError::MigrationService {
                service: m.service.clone(),
            });
        }
    }
    let image = resolve_image(
        registry,
        &request.repository,
        &request.repository_uri,
        &request.image,
    )
    .await
    .map_err(DeployError::Resolve)?;

    let mut observed = Vec::new();
    for name in &request.services {
        let read = |source| DeployError::Read {
            service: name.clone(),
            source,
        };
        let service = ecs
            .service(&request.cluster, name)
            .await
            .map_err(read)?
            .ok_or_else(|| DeployError::NoService {
                cluster: request.cluster.clone(),
                service: name.clone(),
            })?;
        let task_definition = ecs
            .task_definition(&service.task_definition)
            .await
            .map_err(read)?;
        observed.push((service, task_definition));
    }
    let plan = plan_release(&image, &observed);
    for s in &plan.services {
        reporter.report(Event::Note {
            address: s.address.clone(),
            message: s.summary(),
        });
    }
    if plan.is_noop() {
        return Ok(DeployOutcome::NoOp(plan));
    }
    if request.dry_run {
        return Ok(DeployOutcome::DryRun(plan));
    }

    // Register every revision first: a registration failure changes nothing that runs.
    let mut revisions = Vec::new();
    for change in plan.changes() {
        let revision = ecs
            .register_with_image(&change.current_task_definition, &change.new_image)
            .await
            .map_err(|source| DeployError::Register {
                service: change.service.clone(),
                source,
            })?;
        reporter.report(Event::Note {
            address: change.address.clone(),
            message: format!("registered {}", revision.arn),
        });
        revisions.push((change.service.clone(), revision));
    }

    let migration = match &request.migration {
        None => None,
        Some(spec) => {
            let (service, current) = observed
                .iter()
                .find(|(s, _)| s.name == spec.service)
                .expect("the migration service is one of the release's, checked above");
            // A service that already runs the image migrates with the revision it runs.
            let task_definition = revisions
                .iter()
                .find(|(name, _)| name == &spec.service)
                .map_or_else(|| current.clone(), |(_, td)| td.clone());
            let address = service_address(&spec.service);
            let token = client_token(
                &request.stack,
                &address,
                &("migrate", &task_definition.arn, &spec.command),
            );
            let done = run_migration(
                ecs,
                logs,
                reporter,
                &Migration {
                    cluster: request.cluster.clone(),
                    task_definition,
                    network: service.network.clone(),
                    capacity: service.capacity.clone(),
                    command: spec.command.clone(),
                    client_token: token,
                    timeout: spec.timeout,
                },
            )
            .await
            .map_err(DeployError::Migration)?;
            Some(done)
        }
    };

    // Services sharing the image roll out together; each wait follows its own deployment.
    let results = join_all(revisions.iter().map(|(service, revision)| {
        let rollout = Rollout {
            cluster: request.cluster.clone(),
            service: service.clone(),
            task_definition: revision.arn.clone(),
            timeout: request.rollout_timeout,
        };
        async move { roll_out(ecs, reporter, &rollout).await }
    }))
    .await;
    let mut rollouts = Vec::new();
    let mut failures = Vec::new();
    for ((service, revision), result) in revisions.into_iter().zip(results) {
        match result {
            Ok(done) => rollouts.push((revision, done)),
            Err(err) => failures.push((service, err)),
        }
    }
    if !failures.is_empty() {
        let mut failures = failures.into_iter();
        let (service, source) = failures.next().expect("not empty");
        return Err(DeployError::Rollout {
            service,
            source,
            also: failures.map(|(_, err)| err).collect(),
        });
    }
    Ok(DeployOutcome::Released {
        plan,
        migration,
        rollouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        DeploymentStatus, MockReleaseEcs, MockReleaseRegistry, ObservedTask, RolloutState,
        RunTaskOutput, TaskContainer,
    };
    use crate::testing::{
        deployment, quiet_logs, service, task_definition, task_definition_arn, DIGEST, REPO_URI,
    };
    use berth_core::{NullReporter, StackName};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn request() -> Deploy {
        Deploy {
            stack: Stack::new(StackName::new("prod").unwrap()),
            cluster: "prod".into(),
            repository: "prod-app".into(),
            repository_uri: REPO_URI.into(),
            image: "v2".into(),
            services: vec!["web".into(), "worker".into()],
            migration: Some(MigrationSpec {
                service: "web".into(),
                command: vec![
                    "bin/app".into(),
                    "eval".into(),
                    "App.Release.migrate".into(),
                ],
                timeout: Duration::from_secs(600),
            }),
            rollout_timeout: Duration::from_secs(900),
            dry_run: false,
        }
    }

    fn registry() -> MockReleaseRegistry {
        let mut registry = MockReleaseRegistry::new();
        registry
            .expect_digest_for_tag()
            .returning(|_, _| Ok(Some(DIGEST.into())));
        registry
    }

    /// Both services run revision 1 with `image` until `updated` is set; then each has its
    /// own deployment of revision 2, completed.
    fn ecs_running(image: &'static str, updated: Arc<AtomicBool>) -> MockReleaseEcs {
        let mut ecs = MockReleaseEcs::new();
        ecs.expect_service().returning(move |_, name| {
            if !updated.load(Ordering::SeqCst) {
                return Ok(Some(service(name, &task_definition_arn(name, 1))));
            }
            let mut s = service(name, &task_definition_arn(name, 2));
            s.deployments = vec![deployment(
                &format!("ecs-svc/{name}"),
                DeploymentStatus::Primary,
                RolloutState::Completed,
                &task_definition_arn(name, 2),
            )];
            Ok(Some(s))
        });
        ecs.expect_task_definition().returning(move |arn| {
            let name = if arn.contains("worker") {
                "worker"
            } else {
                "web"
            };
            Ok(task_definition(name, 1, image))
        });
        ecs
    }

    fn exited(code: i32) -> ObservedTask {
        ObservedTask {
            arn: "arn:aws:ecs:us-east-2:123456789012:task/prod/m1".into(),
            last_status: "STOPPED".into(),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: None,
            containers: vec![TaskContainer {
                name: "web".into(),
                last_status: "STOPPED".into(),
                exit_code: Some(code),
                reason: None,
            }],
        }
    }

    fn expect_revisions_and_migration(ecs: &mut MockReleaseEcs, exit_code: i32) {
        ecs.expect_register_with_image()
            .times(2)
            .returning(|from, image| {
                assert_eq!(image, format!("{REPO_URI}@{DIGEST}"));
                let name = if from.contains("worker") {
                    "worker"
                } else {
                    "web"
                };
                Ok(task_definition(name, 2, image))
            });
        ecs.expect_run_task()
            .withf(|run| {
                run.task_definition.ends_with("prod-web:2") && run.client_token.len() == 64
            })
            .times(1)
            .returning(|_| {
                Ok(RunTaskOutput {
                    task_arn: Some("arn:aws:ecs:us-east-2:123456789012:task/prod/m1".into()),
                    failures: vec![],
                })
            });
        ecs.expect_tasks()
            .returning(move |_, _| Ok(vec![exited(exit_code)]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_release_registers_migrates_and_rolls_out_every_service() {
        let updated = Arc::new(AtomicBool::new(false));
        let mut ecs = ecs_running(REPO_URI, updated.clone());
        expect_revisions_and_migration(&mut ecs, 0);
        ecs.expect_update_service()
            .times(2)
            .returning(move |_, name, td, _| {
                assert!(td.ends_with(&format!("prod-{name}:2")));
                updated.store(true, Ordering::SeqCst);
                Ok(format!("ecs-svc/{name}"))
            });
        ecs.expect_service_events().returning(|_, _, _| Ok(vec![]));
        let outcome = deploy(&ecs, &registry(), &quiet_logs(), &NullReporter, &request())
            .await
            .unwrap();
        match outcome {
            DeployOutcome::Released {
                migration,
                rollouts,
                ..
            } => {
                assert!(migration.is_some());
                let deployments: Vec<_> = rollouts
                    .iter()
                    .map(|(_, d)| d.deployment.as_str())
                    .collect();
                assert_eq!(deployments, ["ecs-svc/web", "ecs-svc/worker"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_migration_changes_no_service() {
        let mut ecs = ecs_running(REPO_URI, Arc::default());
        expect_revisions_and_migration(&mut ecs, 1);
        // No update_service expectation: a call would fail the test.
        let mut logs = quiet_logs();
        logs.expect_last_lines().returning(|_, _, _| Ok(vec![]));
        let err = deploy(&ecs, &registry(), &logs, &NullReporter, &request())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                DeployError::Migration(MigrationError::Exited { exit_code: 1, .. })
            ),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn services_whose_deployments_were_replaced_fail_the_release_each_named() {
        let mut ecs = ecs_running(REPO_URI, Arc::default());
        expect_revisions_and_migration(&mut ecs, 0);
        ecs.expect_update_service()
            .returning(|_, name, _, _| Ok(format!("ecs-svc/{name}")));
        ecs.expect_service_events().returning(|_, _, _| Ok(vec![]));
        ecs.expect_stopped_tasks().returning(|_, _, _| Ok(vec![]));
        // The services still read as before the update: revision 1, no deployment of ours.
        // Our deployment is then gone from the list, replaced by the one listed.
        let err = deploy(&ecs, &registry(), &quiet_logs(), &NullReporter, &request())
            .await
            .unwrap_err();
        match &err {
            DeployError::Rollout { source, also, .. } => {
                assert!(
                    matches!(source, RolloutError::Replaced { .. }),
                    "{source:?}"
                );
                assert_eq!(also.len(), 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.kind(), FailureKind::Failed);
    }

    #[test]
    fn rolled_back_and_timed_out_are_their_own_kinds() {
        let rollout = |source| DeployError::Rollout {
            service: "web".into(),
            source,
            also: vec![],
        };
        let rolled_back = rollout(RolloutError::RolledBack {
            service: "web".into(),
            deployment: "ecs-svc/2".into(),
            rollback: None,
            reason: "circuit breaker".into(),
            stopped_tasks: vec![],
        });
        assert_eq!(rolled_back.kind(), FailureKind::RolledBack);
        let timed_out = rollout(RolloutError::TimedOut {
            service: "web".into(),
            deployment: "ecs-svc/2".into(),
            timeout: Duration::from_secs(1),
            last_status: "1/2 running".into(),
        });
        assert_eq!(timed_out.kind(), FailureKind::TimedOut);
        let migration = DeployError::Migration(MigrationError::TimedOut {
            task: "t".into(),
            timeout: Duration::from_secs(1),
            last_status: "running".into(),
        });
        assert_eq!(migration.kind(), FailureKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn deploying_what_runs_changes_nothing() {
        let running: &'static str = Box::leak(format!("{REPO_URI}@{DIGEST}").into_boxed_str());
        // No register, run or update expectation: any change would fail the test.
        let ecs = ecs_running(running, Arc::default());
        let outcome = deploy(&ecs, &registry(), &quiet_logs(), &NullReporter, &request())
            .await
            .unwrap();
        assert!(matches!(outcome, DeployOutcome::NoOp(plan) if plan.is_noop()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_tag_changes_nothing() {
        let mut registry = MockReleaseRegistry::new();
        registry.expect_digest_for_tag().returning(|_, _| Ok(None));
        registry
            .expect_recent_tags()
            .returning(|_, _| Ok(vec!["v1".into()]));
        let err = deploy(
            &MockReleaseEcs::new(),
            &registry,
            &quiet_logs(),
            &NullReporter,
            &request(),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            DeployError::Resolve(ResolveError::TagNotFound { .. })
        ));
    }
}
