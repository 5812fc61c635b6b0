//! Fixtures for the crate's tests: a service and task definitions shaped as compute makes them.

use crate::api::{
    Capacity, DeploymentStatus, LogPage, LogTarget, MockReleaseLogs, ReleaseService,
    ReleaseTaskDefinition, RolloutState, ServiceDeployment, StrategyItem, TaskNetwork,
};

pub const REPO_URI: &str = "123456789012.dkr.ecr.us-east-2.amazonaws.com/prod-app";
pub const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

pub fn task_definition_arn(service: &str, revision: u32) -> String {
    format!("arn:aws:ecs:us-east-2:123456789012:task-definition/prod-{service}:{revision}")
}

pub fn task_definition(service: &str, revision: u32, image: &str) -> ReleaseTaskDefinition {
    ReleaseTaskDefinition {
        arn: task_definition_arn(service, revision),
        family: format!("prod-{service}"),
        revision,
        container: service.to_owned(),
        image: image.to_owned(),
        log: Some(LogTarget {
            group: "/berth/prod/app".into(),
            stream_prefix: service.to_owned(),
        }),
    }
}

pub fn deployment(
    id: &str,
    status: DeploymentStatus,
    state: RolloutState,
    td: &str,
) -> ServiceDeployment {
    ServiceDeployment {
        id: id.to_owned(),
        status,
        rollout_state: Some(state),
        rollout_state_reason: None,
        task_definition: td.to_owned(),
        desired_count: 2,
        running_count: 0,
        failed_tasks: 0,
    }
}

pub fn service(name: &str, task_definition: &str) -> ReleaseService {
    ReleaseService {
        name: name.to_owned(),
        arn: format!("arn:aws:ecs:us-east-2:123456789012:service/prod/{name}"),
        task_definition: task_definition.to_owned(),
        desired_count: 2,
        running_count: 2,
        network: TaskNetwork {
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-app".into()],
        },
        capacity: Capacity::Strategy(vec![StrategyItem {
            provider: "prod-ec2".into(),
            weight: 1,
            base: 0,
        }]),
        circuit_breaker_rollback: true,
        deployments: vec![deployment(
            "ecs-svc/1",
            DeploymentStatus::Primary,
            RolloutState::Completed,
            task_definition,
        )],
    }
}

/// Logs that exist but hold nothing new.
pub fn quiet_logs() -> MockReleaseLogs {
    let mut logs = MockReleaseLogs::new();
    logs.expect_lines_after().returning(|_, _, after| {
        Ok(LogPage {
            lines: vec![],
            next: after,
        })
    });
    logs
}
