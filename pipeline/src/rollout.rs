//! The rollout: point the service at the new revision, take the id of the deployment that
//! created, and wait on that deployment — never "the latest one" — until it completes, fails,
//! is rolled back, is replaced by someone else's, or the deadline passes. New service events
//! are reported while waiting.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use berth_core::{wait_for, AwsError, Event, Poll, Reporter, WaitError, WaitFor};

use crate::api::{DeploymentStatus, ObservedTask, ReleaseEcs, ReleaseService, RolloutState};
use crate::migrate::task_id;
use crate::release::service_address;

/// A rollout to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub cluster: String,
    pub service: String,
    /// The new revision's ARN.
    pub task_definition: String,
    pub timeout: Duration,
}

/// A deployment that reached COMPLETED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutDone {
    pub deployment: String,
}

/// Why a rollout did not complete. Each is its own outcome: the CLI gives failed, rolled back
/// and timed out distinct exit codes.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("deployment {deployment} of service {service} failed: {reason}{}", stopped_list(.stopped_tasks))]
    Failed {
        service: String,
        deployment: String,
        reason: String,
        /// Why the deployment's tasks stopped, one line each.
        stopped_tasks: Vec<String>,
    },
    #[error("deployment {deployment} of service {service} failed and the circuit breaker rolled it back{}: {reason}{}",
        .rollback.as_ref().map(|id| format!(" (deployment {id})")).unwrap_or_default(),
        stopped_list(.stopped_tasks))]
    RolledBack {
        service: String,
        deployment: String,
        /// The deployment that restores the previous revision, when it is seen.
        rollback: Option<String>,
        reason: String,
        /// Why the deployment's tasks stopped, one line each.
        stopped_tasks: Vec<String>,
    },
    #[error("deployment {deployment} of service {service} was replaced by deployment {by} (task definition {by_task_definition}) while berth waited; its outcome is that deployment's to tell")]
    Replaced {
        service: String,
        deployment: String,
        by: String,
        by_task_definition: String,
    },
    #[error("deployment {deployment} of service {service} did not complete within {timeout:?}; last status: {last_status}")]
    TimedOut {
        service: String,
        deployment: String,
        timeout: Duration,
        last_status: String,
    },
    #[error("service {service} does not exist in cluster {cluster}")]
    NoService { cluster: String, service: String },
    #[error("updating service {service}")]
    Update {
        service: String,
        #[source]
        source: AwsError,
    },
    #[error("following deployment {deployment} of service {service}")]
    Watch {
        service: String,
        deployment: String,
        #[source]
        source: AwsError,
    },
}

/// How many stopped tasks a failed rollout names.
pub const STOPPED_TASKS: usize = 5;

fn stopped_list(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; stopped tasks:\n{}", lines.join("\n"))
    }
}

/// One line for a stopped task: its id, stop code, reason and each container's exit.
pub fn stopped_task_line(task: &ObservedTask) -> String {
    let mut line = task_id(&task.arn).to_owned();
    if let Some(code) = &task.stop_code {
        line.push_str(&format!(" {code}"));
    }
    if let Some(reason) = &task.stopped_reason {
        line.push_str(&format!(": {reason}"));
    }
    for c in &task.containers {
        match (c.exit_code, &c.reason) {
            (Some(code), Some(reason)) => {
                line.push_str(&format!("; {} exited {code} ({reason})", c.name))
            }
            (Some(code), None) => line.push_str(&format!("; {} exited {code}", c.name)),
            (None, Some(reason)) => line.push_str(&format!("; {}: {reason}", c.name)),
            (None, None) => {}
        }
    }
    line
}

/// Why the deployment's tasks stopped. Reading them only explains a failure already known, so
/// an error here becomes a line rather than hiding the failure.
async fn stopped_tasks(ecs: &dyn ReleaseEcs, cluster: &str, deployment: &str) -> Vec<String> {
    match ecs.stopped_tasks(cluster, deployment, STOPPED_TASKS).await {
        Ok(tasks) => tasks.iter().map(stopped_task_line).collect(),
        Err(err) => vec![format!("(stopped tasks unavailable: {err})")],
    }
}

/// How the deployment berth created ended, as one poll sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Completed,
    Failed(String),
    RolledBack {
        rollback: Option<String>,
        reason: String,
    },
    Replaced {
        by: String,
        task_definition: String,
    },
}

/// Updates the service to the new revision and waits on the deployment that update created.
pub async fn roll_out(
    ecs: &dyn ReleaseEcs,
    reporter: &dyn Reporter,
    rollout: &Rollout,
) -> Result<RolloutDone, RolloutError> {
    let service = rollout.service.clone();
    let since = SystemTime::now();
    let deployment = ecs
        .update_service(
            &rollout.cluster,
            &rollout.service,
            &rollout.task_definition,
            false,
        )
        .await
        .map_err(|source| RolloutError::Update {
            service: service.clone(),
            source,
        })?;

    let wait = WaitFor::new(
        format!("deployment {deployment} of service {service}"),
        rollout.timeout,
    );
    let seen = Mutex::new(HashSet::new());
    let address = service_address(&service);
    let outcome = wait_for(&wait, reporter, || async {
        for event in ecs
            .service_events(&rollout.cluster, &service, since)
            .await?
        {
            if seen.lock().expect("events lock").insert(event.id) {
                reporter.report(Event::Note {
                    address: address.clone(),
                    message: event.message,
                });
            }
        }
        let observed = ecs.service(&rollout.cluster, &service).await?;
        Ok::<_, AwsError>(match observed {
            None => Poll::Failed(format!(
                "service {service} no longer exists in cluster {}",
                rollout.cluster
            )),
            Some(observed) => judge(&observed, &deployment),
        })
    })
    .await;

    let end = match outcome {
        Ok(end) => end,
        Err(WaitError::TimedOut { last_status, .. }) => {
            return Err(RolloutError::TimedOut {
                service,
                deployment,
                timeout: rollout.timeout,
                last_status,
            })
        }
        Err(WaitError::Failed { .. }) => {
            return Err(RolloutError::NoService {
                cluster: rollout.cluster.clone(),
                service,
            })
        }
        Err(WaitError::Check { source, .. }) => {
            return Err(RolloutError::Watch {
                service,
                deployment,
                source,
            })
        }
    };
    match end {
        End::Completed => Ok(RolloutDone { deployment }),
        End::Failed(reason) => Err(RolloutError::Failed {
            stopped_tasks: stopped_tasks(ecs, &rollout.cluster, &deployment).await,
            service,
            deployment,
            reason,
        }),
        End::RolledBack { rollback, reason } => Err(RolloutError::RolledBack {
            stopped_tasks: stopped_tasks(ecs, &rollout.cluster, &deployment).await,
            service,
            deployment,
            rollback,
            reason,
        }),
        End::Replaced {
            by,
            task_definition,
        } => Err(RolloutError::Replaced {
            service,
            deployment,
            by,
            by_task_definition: task_definition,
        }),
    }
}

/// Where deployment `id` of `service` stands. Pure.
fn judge(service: &ReleaseService, id: &str) -> Poll<End> {
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary);
    let Some(ours) = service.deployments.iter().find(|d| d.id == id) else {
        // Gone from the list: another deployment completed over it.
        return match primary {
            Some(p) => Poll::Ready(End::Replaced {
                by: p.id.clone(),
                task_definition: p.task_definition.clone(),
            }),
            None => Poll::Pending("deployment not listed".into()),
        };
    };
    let reason = ours
        .rollout_state_reason
        .clone()
        .unwrap_or_else(|| "ECS gave no reason".into());
    match &ours.rollout_state {
        Some(RolloutState::Completed) => return Poll::Ready(End::Completed),
        Some(RolloutState::Failed) => {
            // The circuit breaker's rollback is a new PRIMARY deployment of the previous revision.
            let rollback = primary.filter(|p| p.id != id).map(|p| p.id.clone());
            let rolled_back = service.circuit_breaker_rollback
                || rollback.is_some()
                || reason.contains("rolling back");
            return Poll::Ready(if rolled_back {
                End::RolledBack { rollback, reason }
            } else {
                End::Failed(reason)
            });
        }
        _ => {}
    }
    if let Some(p) = primary.filter(|p| p.id != id) {
        return Poll::Ready(End::Replaced {
            by: p.id.clone(),
            task_definition: p.task_definition.clone(),
        });
    }
    // Where ECS does not track a rollout state, the deployment is done when it is the only one
    // and runs all its tasks.
    if ours.rollout_state.is_none()
        && service.deployments.len() == 1
        && ours.running_count >= ours.desired_count
    {
        return Poll::Ready(End::Completed);
    }
    let mut status = format!("{}/{} running", ours.running_count, ours.desired_count);
    if ours.failed_tasks > 0 {
        status.push_str(&format!(", {} failed", ours.failed_tasks));
    }
    if let Some(reason) = &ours.rollout_state_reason {
        status.push_str(&format!(" ({reason})"));
    }
    Poll::Pending(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MockReleaseEcs, ServiceDeployment, ServiceEvent, TaskContainer};
    use crate::testing::{deployment, service, task_definition_arn};
    use berth_core::RecordingReporter;
    use tokio::time::Instant;

    const OURS: &str = "ecs-svc/2";

    fn rollout() -> Rollout {
        Rollout {
            cluster: "prod".into(),
            service: "web".into(),
            task_definition: task_definition_arn("web", 4),
            timeout: Duration::from_secs(900),
        }
    }

    fn with(deployments: Vec<ServiceDeployment>) -> ReleaseService {
        let mut s = service("web", &task_definition_arn("web", 4));
        s.deployments = deployments;
        s
    }

    fn old(status: DeploymentStatus) -> ServiceDeployment {
        deployment(
            "ecs-svc/1",
            status,
            RolloutState::Completed,
            &task_definition_arn("web", 3),
        )
    }

    fn ours(status: DeploymentStatus, state: RolloutState) -> ServiceDeployment {
        deployment(OURS, status, state, &task_definition_arn("web", 4))
    }

    /// ECS whose update creates `OURS` and whose service reads as `states` in turn (the last
    /// one repeating), with `events` listed on every poll.
    fn ecs_with(states: Vec<ReleaseService>, events: Vec<ServiceEvent>) -> MockReleaseEcs {
        let mut ecs = MockReleaseEcs::new();
        ecs.expect_update_service()
            .withf(|cluster, name, td, force| {
                cluster == "prod" && name == "web" && td.ends_with("prod-web:4") && !force
            })
            .times(1)
            .returning(|_, _, _, _| Ok(OURS.into()));
        ecs.expect_service_events()
            .returning(move |_, _, _| Ok(events.clone()));
        let mut polls = 0;
        ecs.expect_service().returning(move |_, _| {
            let s = states[polls.min(states.len() - 1)].clone();
            polls += 1;
            Ok(Some(s))
        });
        ecs
    }

    fn event(id: &str, message: &str) -> ServiceEvent {
        ServiceEvent {
            id: id.into(),
            created_at: SystemTime::now(),
            message: message.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_its_own_deployment_to_complete_and_streams_events() {
        let ecs = ecs_with(
            vec![
                with(vec![
                    ours(DeploymentStatus::Primary, RolloutState::InProgress),
                    old(DeploymentStatus::Active),
                ]),
                with(vec![ours(
                    DeploymentStatus::Primary,
                    RolloutState::Completed,
                )]),
            ],
            vec![
                event("e1", "(service web) has started 2 tasks"),
                event("e2", "(service web) has reached a steady state."),
            ],
        );
        let reporter = RecordingReporter::default();
        let done = roll_out(&ecs, &reporter, &rollout()).await.unwrap();
        assert_eq!(done.deployment, OURS);
        let notes: Vec<_> = reporter
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Note { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        // Each event once, however many polls listed it.
        assert_eq!(
            notes,
            [
                "(service web) has started 2 tasks",
                "(service web) has reached a steady state."
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_circuit_breaker_rollback_is_its_own_outcome() {
        let mut failed = ours(DeploymentStatus::Active, RolloutState::Failed);
        failed.rollout_state_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        failed.failed_tasks = 3;
        let mut rollback = deployment(
            "ecs-svc/3",
            DeploymentStatus::Primary,
            RolloutState::InProgress,
            &task_definition_arn("web", 3),
        );
        rollback.running_count = 2;
        let ecs = ecs_with(
            vec![
                with(vec![
                    ours(DeploymentStatus::Primary, RolloutState::InProgress),
                    old(DeploymentStatus::Active),
                ]),
                with(vec![rollback, failed]),
            ],
            vec![],
        );
        let mut ecs = ecs;
        ecs.expect_stopped_tasks()
            .withf(|cluster, started_by, n| {
                cluster == "prod" && started_by == OURS && *n == STOPPED_TASKS
            })
            .times(1)
            .returning(|_, _, _| {
                Ok(vec![ObservedTask {
                    arn: "arn:aws:ecs:us-east-2:123456789012:task/prod/feed01".into(),
                    last_status: "STOPPED".into(),
                    stop_code: Some("EssentialContainerExited".into()),
                    stopped_reason: Some("Essential container in task exited".into()),
                    containers: vec![TaskContainer {
                        name: "web".into(),
                        last_status: "STOPPED".into(),
                        exit_code: Some(1),
                        reason: None,
                    }],
                }])
            });
        let err = roll_out(&ecs, &berth_core::NullReporter, &rollout())
            .await
            .unwrap_err();
        match &err {
            RolloutError::RolledBack {
                deployment,
                rollback,
                reason,
                stopped_tasks,
                ..
            } => {
                assert_eq!(deployment, OURS);
                assert_eq!(rollback.as_deref(), Some("ecs-svc/3"));
                assert!(reason.contains("circuit breaker"));
                assert_eq!(
                    stopped_tasks,
                    &["feed01 EssentialContainerExited: Essential container in task exited; web exited 1"]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("rolled it back (deployment ecs-svc/3)"),
            "{text}"
        );
        assert!(text.contains("web exited 1"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_without_rollback_is_failed() {
        let mut failed = ours(DeploymentStatus::Primary, RolloutState::Failed);
        failed.rollout_state_reason = Some("tasks failed to start".into());
        let mut s = with(vec![failed]);
        s.circuit_breaker_rollback = false;
        let mut ecs = ecs_with(vec![s], vec![]);
        // Failing to read the stopped tasks does not hide the failure.
        ecs.expect_stopped_tasks().returning(|_, _, _| {
            Err(AwsError::new(
                "ListTasks",
                berth_core::ErrorClass::AccessDenied,
                "no",
            ))
        });
        let err = roll_out(&ecs, &berth_core::NullReporter, &rollout())
            .await
            .unwrap_err();
        match &err {
            RolloutError::Failed { stopped_tasks, .. } => {
                assert!(
                    stopped_tasks[0].contains("unavailable"),
                    "{stopped_tasks:?}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_replaced_by_another_names_the_other() {
        let theirs = deployment(
            "ecs-svc/9",
            DeploymentStatus::Primary,
            RolloutState::InProgress,
            &task_definition_arn("web", 5),
        );
        let ecs = ecs_with(
            vec![
                with(vec![
                    ours(DeploymentStatus::Primary, RolloutState::InProgress),
                    old(DeploymentStatus::Active),
                ]),
                with(vec![
                    theirs.clone(),
                    ours(DeploymentStatus::Active, RolloutState::InProgress),
                ]),
            ],
            vec![],
        );
        let err = roll_out(&ecs, &berth_core::NullReporter, &rollout())
            .await
            .unwrap_err();
        match &err {
            RolloutError::Replaced {
                deployment,
                by,
                by_task_definition,
                ..
            } => {
                assert_eq!(deployment, OURS);
                assert_eq!(by, "ecs-svc/9");
                assert!(by_task_definition.ends_with("prod-web:5"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_gone_from_the_list_was_replaced() {
        let theirs = deployment(
            "ecs-svc/9",
            DeploymentStatus::Primary,
            RolloutState::Completed,
            &task_definition_arn("web", 5),
        );
        let ecs = ecs_with(vec![with(vec![theirs])], vec![]);
        let err = roll_out(&ecs, &berth_core::NullReporter, &rollout())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RolloutError::Replaced { by, .. } if by == "ecs-svc/9"),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_wait_with_the_last_status() {
        let mut stuck = ours(DeploymentStatus::Primary, RolloutState::InProgress);
        stuck.running_count = 1;
        let ecs = ecs_with(
            vec![with(vec![stuck, old(DeploymentStatus::Active)])],
            vec![],
        );
        let start = Instant::now();
        let err = roll_out(&ecs, &berth_core::NullReporter, &rollout())
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(900));
        match &err {
            RolloutError::TimedOut {
                deployment,
                last_status,
                ..
            } => {
                assert_eq!(deployment, OURS);
                assert_eq!(last_status, "1/2 running");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn without_a_rollout_state_the_only_deployment_running_everything_is_complete() {
        let mut d = ours(DeploymentStatus::Primary, RolloutState::InProgress);
        d.rollout_state = None;
        d.running_count = 2;
        assert_eq!(
            judge(&with(vec![d.clone()]), OURS),
            Poll::Ready(End::Completed)
        );
        assert!(matches!(
            judge(&with(vec![d, old(DeploymentStatus::Active)]), OURS),
            Poll::Pending(_)
        ));
    }
}
