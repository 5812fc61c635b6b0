//! The migration gate: the configured command runs as a one-off task of the new revision, with
//! the service's network and capacity, and the release goes on only when its app container
//! exits 0. A task that never started is a failure that says why, never a success.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use berth_core::{wait_for, Address, AwsError, Event, Poll, Reporter, WaitError, WaitFor};

use crate::api::{
    Capacity, ObservedTask, ReleaseEcs, ReleaseLogs, ReleaseTaskDefinition, TaskNetwork, TaskRun,
};

/// How many log lines a failed migration shows.
pub const LOG_LINES: usize = 30;

/// ECS's stop code for a task that never got its containers running.
const FAILED_TO_START: &str = "TaskFailedToStart";

/// A migration to run before any service changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub cluster: String,
    /// The new revision the release will roll out.
    pub task_definition: ReleaseTaskDefinition,
    pub network: TaskNetwork,
    pub capacity: Capacity,
    /// e.g. `["bin/app", "eval", "App.Release.migrate"]`.
    pub command: Vec<String>,
    /// Retrying the same release starts no second task.
    pub client_token: String,
    pub timeout: Duration,
}

/// A migration that exited 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationDone {
    pub task_arn: String,
}

/// Why a migration did not succeed; nothing has been rolled out.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the migration task could not be placed: {}", .failures.join("; "))]
    NotPlaced { failures: Vec<String> },
    #[error("the migration task {task} never started: {why}")]
    NeverStarted { task: String, why: String },
    #[error("the migration task {task} exited with code {exit_code}{}{}",
        .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
        log_tail(.last_lines))]
    Exited {
        task: String,
        exit_code: i32,
        reason: Option<String>,
        last_lines: Vec<String>,
    },
    #[error("the migration task {task} did not finish within {timeout:?} (last status {last_status}); it was left running")]
    TimedOut {
        task: String,
        timeout: Duration,
        last_status: String,
    },
    #[error("the migration task {task} disappeared before it was seen to stop")]
    Vanished { task: String },
    #[error("running the migration task")]
    Aws {
        #[source]
        source: AwsError,
    },
}

fn log_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last log lines:\n{}", lines.join("\n"))
    }
}

/// Runs the migration and waits until its task stops. Succeeds only on exit code 0 of the
/// task definition's container.
pub async fn run_migration(
    ecs: &dyn ReleaseEcs,
    logs: &dyn ReleaseLogs,
    reporter: &dyn Reporter,
    migration: &Migration,
) -> Result<MigrationDone, MigrationError> {
    let td = &migration.task_definition;
    let started = ecs
        .run_task(&TaskRun {
            cluster: migration.cluster.clone(),
            task_definition: td.arn.clone(),
            network: migration.network.clone(),
            capacity: migration.capacity.clone(),
            container: td.container.clone(),
            command: migration.command.clone(),
            started_by: "berth-migrate".into(),
            client_token: migration.client_token.clone(),
        })
        .await
        .map_err(|source| MigrationError::Aws { source })?;
    let Some(task) = started.task_arn else {
        return Err(MigrationError::NotPlaced {
            failures: if started.failures.is_empty() {
                vec!["RunTask started no task and gave no reason".into()]
            } else {
                started.failures
            },
        });
    };

    let wait = WaitFor::new(
        format!("migration task {} of {}", task_id(&task), td.arn),
        migration.timeout,
    );
    let arns = [task.clone()];
    let follower = Follower::new(logs, reporter, log_stream(td, &task), &task);
    let stopped = wait_for(&wait, reporter, || async {
        follower.pump().await;
        let tasks = ecs.tasks(&migration.cluster, &arns).await?;
        Ok::<_, AwsError>(match tasks.into_iter().next() {
            None => Poll::Failed("the task is gone".into()),
            Some(t) if t.last_status == "STOPPED" => Poll::Ready(t),
            Some(t) => Poll::Pending(t.last_status.to_lowercase()),
        })
    })
    .await
    .map_err(|err| match err {
        WaitError::TimedOut { last_status, .. } => MigrationError::TimedOut {
            task: task.clone(),
            timeout: migration.timeout,
            last_status,
        },
        WaitError::Failed { .. } => MigrationError::Vanished { task: task.clone() },
        WaitError::Check { source, .. } => MigrationError::Aws { source },
    })?;

    // The lines written between the last poll and the stop.
    follower.pump().await;
    judge(logs, td, stopped).await
}

/// The awslogs group and stream of the task's app container.
fn log_stream(td: &ReleaseTaskDefinition, task_arn: &str) -> Option<(String, String)> {
    td.log.as_ref().map(|log| {
        (
            log.group.clone(),
            format!(
                "{}/{}/{}",
                log.stream_prefix,
                td.container,
                task_id(task_arn)
            ),
        )
    })
}

/// Reports a task's log lines as they are written.
struct Follower<'a> {
    logs: &'a dyn ReleaseLogs,
    reporter: &'a dyn Reporter,
    stream: Option<(String, String)>,
    address: Address,
    next: Mutex<Option<String>>,
    broken: AtomicBool,
}

impl<'a> Follower<'a> {
    fn new(
        logs: &'a dyn ReleaseLogs,
        reporter: &'a dyn Reporter,
        stream: Option<(String, String)>,
        task_arn: &str,
    ) -> Self {
        Self {
            logs,
            reporter,
            stream,
            address: Address::new("pipeline", "migration", task_id(task_arn)),
            next: Mutex::new(None),
            broken: AtomicBool::new(false),
        }
    }

    /// Reports the lines written since the last call. Following is a courtesy: a read that
    /// fails is said once and the wait goes on.
    async fn pump(&self) {
        let Some((group, stream)) = &self.stream else {
            return;
        };
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let after = self.next.lock().expect("log token lock").clone();
        match self.logs.lines_after(group, stream, after).await {
            Ok(page) => {
                *self.next.lock().expect("log token lock") = page.next;
                for line in page.lines {
                    self.reporter.report(Event::Note {
                        address: self.address.clone(),
                        message: line,
                    });
                }
            }
            Err(err) => {
                self.broken.store(true, Ordering::Relaxed);
                self.reporter.report(Event::Note {
                    address: self.address.clone(),
                    message: format!("stopped following the task's log lines: {err}"),
                });
            }
        }
    }
}

/// What a stopped task means for the release.
async fn judge(
    logs: &dyn ReleaseLogs,
    td: &ReleaseTaskDefinition,
    task: ObservedTask,
) -> Result<MigrationDone, MigrationError> {
    let app = task.containers.iter().find(|c| c.name == td.container);
    let exit_code = app.and_then(|c| c.exit_code);
    match exit_code {
        // A container that exited 0 in a task ECS says failed to start did not migrate.
        Some(_) if task.stop_code.as_deref() == Some(FAILED_TO_START) => {
            Err(MigrationError::NeverStarted {
                why: why_not_started(&task),
                task: task.arn,
            })
        }
        None => Err(MigrationError::NeverStarted {
            why: why_not_started(&task),
            task: task.arn,
        }),
        Some(0) => Ok(MigrationDone { task_arn: task.arn }),
        Some(exit_code) => {
            let last_lines = match log_stream(td, &task.arn) {
                Some((group, stream)) => {
                    // The logs explain the failure; failing to read them must not hide it.
                    logs.last_lines(&group, &stream, LOG_LINES)
                        .await
                        .unwrap_or_else(|err| vec![format!("(log lines unavailable: {err})")])
                }
                None => Vec::new(),
            };
            Err(MigrationError::Exited {
                task: task.arn,
                exit_code,
                reason: app.and_then(|c| c.reason.clone()),
                last_lines,
            })
        }
    }
}

/// Stop code, stopped reason and container reasons, in that order, without repeats.
fn why_not_started(task: &ObservedTask) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |part: String| {
        if !part.is_empty() && !parts.iter().any(|p| p.contains(&part)) {
            parts.push(part);
        }
    };
    if let Some(code) = &task.stop_code {
        push(code.clone());
    }
    if let Some(reason) = &task.stopped_reason {
        push(reason.clone());
    }
    for c in &task.containers {
        if let Some(reason) = &c.reason {
            push(format!("container {}: {reason}", c.name));
        }
    }
    if parts.is_empty() {
        "ECS gave no reason".into()
    } else {
        parts.join("; ")
    }
}

/// The id at the end of a task ARN.
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{LogPage, MockReleaseEcs, MockReleaseLogs, RunTaskOutput, TaskContainer};
    use crate::testing::{quiet_logs, service, task_definition, DIGEST, REPO_URI};
    use berth_core::{NullReporter, RecordingReporter};
    use tokio::time::Instant;

    const TASK: &str = "arn:aws:ecs:us-east-2:123456789012:task/prod/0123abcd";

    fn migration() -> Migration {
        let svc = service("web", "td");
        Migration {
            cluster: "prod".into(),
            task_definition: task_definition("web", 4, &format!("{REPO_URI}@{DIGEST}")),
            network: svc.network,
            capacity: svc.capacity,
            command: vec![
                "bin/app".into(),
                "eval".into(),
                "App.Release.migrate".into(),
            ],
            client_token: "token".into(),
            timeout: Duration::from_secs(600),
        }
    }

    fn task(status: &str, container: TaskContainer) -> ObservedTask {
        ObservedTask {
            arn: TASK.into(),
            last_status: status.into(),
            stop_code: None,
            stopped_reason: None,
            containers: vec![container],
        }
    }

    fn web(exit_code: Option<i32>, reason: Option<&str>) -> TaskContainer {
        TaskContainer {
            name: "web".into(),
            last_status: "STOPPED".into(),
            exit_code,
            reason: reason.map(Into::into),
        }
    }

    /// ECS that starts the task and reports `statuses` in turn (the last one repeating).
    fn ecs_with(statuses: Vec<ObservedTask>) -> MockReleaseEcs {
        let mut ecs = MockReleaseEcs::new();
        ecs.expect_run_task()
            .withf(|run| {
                run.task_definition.ends_with("prod-web:4")
                    && run.container == "web"
                    && run.command[2] == "App.Release.migrate"
                    && run.network.security_groups == ["sg-app"]
                    && matches!(run.capacity, Capacity::Strategy(_))
                    && run.client_token == "token"
            })
            .times(1)
            .returning(|_| {
                Ok(RunTaskOutput {
                    task_arn: Some(TASK.into()),
                    failures: vec![],
                })
            });
        let mut polls = 0;
        ecs.expect_tasks().returning(move |cluster, arns| {
            assert_eq!(cluster, "prod");
            assert_eq!(arns, [TASK.to_owned()]);
            let t = statuses[polls.min(statuses.len() - 1)].clone();
            polls += 1;
            Ok(vec![t])
        });
        ecs
    }

    #[tokio::test(start_paused = true)]
    async fn exit_zero_passes_the_gate() {
        let ecs = ecs_with(vec![
            task("PROVISIONING", web(None, None)),
            task("RUNNING", web(None, None)),
            task("STOPPED", web(Some(0), None)),
        ]);
        let done = run_migration(&ecs, &quiet_logs(), &NullReporter, &migration())
            .await
            .unwrap();
        assert_eq!(done.task_arn, TASK);
    }

    #[tokio::test(start_paused = true)]
    async fn log_lines_are_reported_while_the_task_runs() {
        let ecs = ecs_with(vec![
            task("RUNNING", web(None, None)),
            task("RUNNING", web(None, None)),
            task("STOPPED", web(Some(0), None)),
        ]);
        let mut logs = MockReleaseLogs::new();
        let mut reads = 0;
        logs.expect_lines_after()
            .withf(|group, stream, _| group == "/berth/prod/app" && stream == "web/web/0123abcd")
            .returning(move |_, _, after| {
                reads += 1;
                Ok(match (reads, after.as_deref()) {
                    (1, None) => LogPage {
                        lines: vec!["Migrating App.Repo".into()],
                        next: Some("t1".into()),
                    },
                    (2, Some("t1")) => LogPage {
                        lines: vec!["== Migrated 20261205 in 0.1s".into()],
                        next: Some("t2".into()),
                    },
                    (_, after) => LogPage {
                        lines: vec![],
                        next: after.map(Into::into),
                    },
                })
            });
        let reporter = RecordingReporter::default();
        run_migration(&ecs, &logs, &reporter, &migration())
            .await
            .unwrap();
        let notes: Vec<_> = reporter
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Note { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(
            notes,
            ["Migrating App.Repo", "== Migrated 20261205 in 0.1s"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn exit_one_fails_with_the_code_and_the_last_log_lines() {
        let mut stopped = task("STOPPED", web(Some(1), None));
        stopped.stop_code = Some("EssentialContainerExited".into());
        stopped.stopped_reason = Some("Essential container in task exited".into());
        let ecs = ecs_with(vec![task("RUNNING", web(None, None)), stopped]);
        let mut logs = quiet_logs();
        logs.expect_last_lines()
            .withf(|group, stream, n| {
                group == "/berth/prod/app" && stream == "web/web/0123abcd" && *n == LOG_LINES
            })
            .returning(|_, _, _| Ok(vec!["** (Postgrex.Error) relation exists".into()]));
        let err = run_migration(&ecs, &logs, &NullReporter, &migration())
            .await
            .unwrap_err();
        match &err {
            MigrationError::Exited {
                exit_code,
                last_lines,
                ..
            } => {
                assert_eq!(*exit_code, 1);
                assert_eq!(last_lines.len(), 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("exited with code 1"), "{text}");
        assert!(text.contains("relation exists"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_image_pull_failure_is_never_started_not_success() {
        let mut stopped = task(
            "STOPPED",
            web(
                None,
                Some("CannotPullContainerError: pull image manifest has been retried 5 time(s)"),
            ),
        );
        stopped.stop_code = Some("TaskFailedToStart".into());
        stopped.stopped_reason =
            Some("CannotPullContainerError: pull image manifest has been retried".into());
        let ecs = ecs_with(vec![task("PENDING", web(None, None)), stopped]);
        // No log lines are read: a task that never started wrote none.
        let err = run_migration(&ecs, &quiet_logs(), &NullReporter, &migration())
            .await
            .unwrap_err();
        assert!(
            matches!(err, MigrationError::NeverStarted { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("never started"), "{text}");
        assert!(text.contains("TaskFailedToStart"), "{text}");
        assert!(text.contains("CannotPullContainerError"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_capacity_is_a_placement_failure() {
        let mut ecs = MockReleaseEcs::new();
        ecs.expect_run_task().returning(|_| {
            Ok(RunTaskOutput {
                task_arn: None,
                failures: vec!["RESOURCE:MEMORY (arn:…:container-instance/prod/1)".into()],
            })
        });
        let err = run_migration(&ecs, &quiet_logs(), &NullReporter, &migration())
            .await
            .unwrap_err();
        assert!(matches!(err, MigrationError::NotPlaced { .. }));
        assert!(err.to_string().contains("RESOURCE:MEMORY"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_migration_past_its_deadline_times_out_naming_the_task() {
        let ecs = ecs_with(vec![task("RUNNING", web(None, None))]);
        let start = Instant::now();
        let err = run_migration(&ecs, &quiet_logs(), &NullReporter, &migration())
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(600));
        match &err {
            MigrationError::TimedOut {
                task, last_status, ..
            } => {
                assert_eq!(task, TASK);
                assert_eq!(last_status, "running");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
