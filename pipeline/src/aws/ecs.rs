//! [`ReleaseEcs`] over `aws-sdk-ecs`.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride,
    DeploymentRolloutState, DesiredStatus, LaunchType as SdkLaunchType, NetworkConfiguration,
    TaskDefinitionField, TaskOverride,
};
use berth_core::{sdk_error, AwsError, AwsResultExt};

use crate::api::{
    Capacity, DeploymentStatus, LaunchType, LogTarget, ObservedTask, ReleaseEcs, ReleaseService,
    ReleaseTaskDefinition, RolloutState, RunTaskOutput, ServiceDeployment, ServiceEvent,
    StrategyItem, TaskContainer, TaskNetwork, TaskRun,
};

/// [`ReleaseEcs`] for a real (or emulated) ECS endpoint.
#[derive(Debug, Clone)]
pub struct Ecs {
    client: aws_sdk_ecs::Client,
}

impl Ecs {
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        Self { client }
    }

    async fn describe_service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_ecs::types::Service>, AwsError> {
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .map_err(sdk_error("DescribeServices"))
            .none_if_not_found()?;
        Ok(out.and_then(|o| {
            o.services
                .unwrap_or_default()
                .into_iter()
                .find(|s| s.status.as_deref() != Some("INACTIVE"))
        }))
    }
}

fn count(n: i32) -> u32 {
    n.max(0) as u32
}

fn deployment_of(d: aws_sdk_ecs::types::Deployment) -> ServiceDeployment {
    ServiceDeployment {
        id: d.id.unwrap_or_default(),
        status: match d.status.as_deref() {
            Some("PRIMARY") => DeploymentStatus::Primary,
            Some("ACTIVE") => DeploymentStatus::Active,
            Some("INACTIVE") => DeploymentStatus::Inactive,
            other => DeploymentStatus::Other(other.unwrap_or_default().to_owned()),
        },
        rollout_state: d.rollout_state.map(|s| match s {
            DeploymentRolloutState::InProgress => RolloutState::InProgress,
            DeploymentRolloutState::Completed => RolloutState::Completed,
            DeploymentRolloutState::Failed => RolloutState::Failed,
            other => RolloutState::Other(other.as_str().to_owned()),
        }),
        rollout_state_reason: d.rollout_state_reason,
        task_definition: d.task_definition.unwrap_or_default(),
        desired_count: count(d.desired_count),
        running_count: count(d.running_count),
        failed_tasks: count(d.failed_tasks),
    }
}

fn service_of(s: aws_sdk_ecs::types::Service) -> ReleaseService {
    let vpc = s.network_configuration.and_then(|n| n.awsvpc_configuration);
    let capacity = match s.capacity_provider_strategy.filter(|s| !s.is_empty()) {
        Some(items) => Capacity::Strategy(
            items
                .into_iter()
                .map(|i| StrategyItem {
                    provider: i.capacity_provider,
                    weight: count(i.weight),
                    base: count(i.base),
                })
                .collect(),
        ),
        None => Capacity::LaunchType(match s.launch_type {
            Some(SdkLaunchType::Fargate) => LaunchType::Fargate,
            _ => LaunchType::Ec2,
        }),
    };
    ReleaseService {
        name: s.service_name.unwrap_or_default(),
        arn: s.service_arn.unwrap_or_default(),
        task_definition: s.task_definition.unwrap_or_default(),
        desired_count: count(s.desired_count),
        running_count: count(s.running_count),
        network: TaskNetwork {
            subnets: vpc.as_ref().map(|v| v.subnets.clone()).unwrap_or_default(),
            security_groups: vpc.and_then(|v| v.security_groups).unwrap_or_default(),
        },
        capacity,
        circuit_breaker_rollback: s
            .deployment_configuration
            .and_then(|c| c.deployment_circuit_breaker)
            .is_some_and(|b| b.enable && b.rollback),
        deployments: s
            .deployments
            .unwrap_or_default()
            .into_iter()
            .map(deployment_of)
            .collect(),
    }
}

fn task_definition_of(
    op: &'static str,
    td: aws_sdk_ecs::types::TaskDefinition,
) -> Result<ReleaseTaskDefinition, AwsError> {
    let container = td
        .container_definitions
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| AwsError::invalid(op, "a task definition without containers"))?;
    let log = container
        .log_configuration
        .and_then(|l| l.options)
        .and_then(|o| {
            Some(LogTarget {
                group: o.get("awslogs-group")?.clone(),
                stream_prefix: o.get("awslogs-stream-prefix")?.clone(),
            })
        });
    Ok(ReleaseTaskDefinition {
        arn: td.task_definition_arn.unwrap_or_default(),
        family: td.family.unwrap_or_default(),
        revision: count(td.revision),
        container: container.name.unwrap_or_default(),
        image: container.image.unwrap_or_default(),
        log,
    })
}

fn capacity_items(items: &[StrategyItem]) -> Result<Vec<CapacityProviderStrategyItem>, AwsError> {
    items
        .iter()
        .map(|i| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&i.provider)
                .weight(i.weight as i32)
                .base(i.base as i32)
                .build()
                .map_err(|e| AwsError::invalid("CapacityProviderStrategy", e))
        })
        .collect()
}

#[async_trait]
impl ReleaseEcs for Ecs {
    async fn service(&self, cluster: &str, name: &str) -> Result<Option<ReleaseService>, AwsError> {
        Ok(self.describe_service(cluster, name).await?.map(service_of))
    }

    async fn task_definition(&self, arn: &str) -> Result<ReleaseTaskDefinition, AwsError> {
        const OP: &str = "DescribeTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        let td = out
            .task_definition
            .ok_or_else(|| AwsError::invalid(OP, "no task definition in the response"))?;
        task_definition_of(OP, td)
    }

    async fn register_with_image(
        &self,
        from: &str,
        image: &str,
    ) -> Result<ReleaseTaskDefinition, AwsError> {
        const OP: &str = "RegisterTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(from)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(sdk_error("DescribeTaskDefinition"))?;
        let tags = out.tags.filter(|t| !t.is_empty());
        let td = out.task_definition.ok_or_else(|| {
            AwsError::invalid(
                "DescribeTaskDefinition",
                "no task definition in the response",
            )
        })?;
        let mut containers = td.container_definitions.unwrap_or_default();
        // berth's task definitions have one container, named after the service: the app.
        let app = containers
            .first_mut()
            .ok_or_else(|| AwsError::invalid(OP, "a task definition without containers"))?;
        app.image = Some(image.to_owned());
        // Everything but the image is copied as it is, so `up` keeps owning it.
        let registered = self
            .client
            .register_task_definition()
            .set_family(td.family)
            .set_task_role_arn(td.task_role_arn)
            .set_execution_role_arn(td.execution_role_arn)
            .set_network_mode(td.network_mode)
            .set_container_definitions(Some(containers))
            .set_volumes(td.volumes)
            .set_placement_constraints(td.placement_constraints)
            .set_requires_compatibilities(td.requires_compatibilities)
            .set_cpu(td.cpu)
            .set_memory(td.memory)
            .set_pid_mode(td.pid_mode)
            .set_ipc_mode(td.ipc_mode)
            .set_proxy_configuration(td.proxy_configuration)
            .set_ephemeral_storage(td.ephemeral_storage)
            .set_runtime_platform(td.runtime_platform)
            .set_enable_fault_injection(td.enable_fault_injection)
            .set_tags(tags)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        let td = registered
            .task_definition
            .ok_or_else(|| AwsError::invalid(OP, "no task definition in the response"))?;
        task_definition_of(OP, td)
    }

    async fn run_task(&self, run: &TaskRun) -> Result<RunTaskOutput, AwsError> {
        const OP: &str = "RunTask";
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(run.network.subnets.clone()))
            .set_security_groups(Some(run.network.security_groups.clone()))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let mut b = self
            .client
            .run_task()
            .cluster(&run.cluster)
            .task_definition(&run.task_definition)
            .count(1)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(&run.container)
                            .set_command(Some(run.command.clone()))
                            .build(),
                    )
                    .build(),
            )
            .started_by(&run.started_by)
            .client_token(&run.client_token);
        b = match &run.capacity {
            Capacity::Strategy(items) => {
                b.set_capacity_provider_strategy(Some(capacity_items(items)?))
            }
            Capacity::LaunchType(LaunchType::Ec2) => b.launch_type(SdkLaunchType::Ec2),
            Capacity::LaunchType(LaunchType::Fargate) => b.launch_type(SdkLaunchType::Fargate),
        };
        let out = b.send().await.map_err(sdk_error(OP))?;
        Ok(RunTaskOutput {
            task_arn: out
                .tasks
                .unwrap_or_default()
                .into_iter()
                .find_map(|t| t.task_arn),
            failures: out
                .failures
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    let mut text = f.reason.unwrap_or_else(|| "unknown".into());
                    if let Some(detail) = f.detail {
                        text.push_str(&format!(": {detail}"));
                    }
                    if let Some(arn) = f.arn {
                        text.push_str(&format!(" ({arn})"));
                    }
                    text
                })
                .collect(),
        })
    }

    async fn tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>, AwsError> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.to_vec()))
            .send()
            .await
            .map_err(sdk_error("DescribeTasks"))?;
        Ok(out
            .tasks
            .unwrap_or_default()
            .into_iter()
            .map(|t| ObservedTask {
                arn: t.task_arn.unwrap_or_default(),
                last_status: t.last_status.unwrap_or_default(),
                stop_code: t.stop_code.map(|c| c.as_str().to_owned()),
                stopped_reason: t.stopped_reason,
                containers: t
                    .containers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| TaskContainer {
                        name: c.name.unwrap_or_default(),
                        last_status: c.last_status.unwrap_or_default(),
                        exit_code: c.exit_code,
                        reason: c.reason,
                    })
                    .collect(),
            })
            .collect())
    }

    async fn stopped_tasks(
        &self,
        cluster: &str,
        started_by: &str,
        count: usize,
    ) -> Result<Vec<ObservedTask>, AwsError> {
        let out = self
            .client
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(DesiredStatus::Stopped)
            .max_results(i32::try_from(count.clamp(1, 100)).unwrap_or(100))
            .send()
            .await
            .map_err(sdk_error("ListTasks"))?;
        let arns: Vec<String> = out.task_arns.unwrap_or_default();
        self.tasks(cluster, &arns).await
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<String, AwsError> {
        const OP: &str = "UpdateService";
        let out = self
            .client
            .update_service()
            .cluster(cluster)
            .service(name)
            .task_definition(task_definition)
            .force_new_deployment(force_new_deployment)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        // The update's own answer names the deployment it made PRIMARY; reading the service
        // again later could already show someone else's.
        out.service
            .and_then(|s| s.deployments)
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.status.as_deref() == Some("PRIMARY"))
            .and_then(|d| d.id)
            .ok_or_else(|| AwsError::invalid(OP, "no PRIMARY deployment in the response"))
    }

    async fn service_events(
        &self,
        cluster: &str,
        name: &str,
        since: SystemTime,
    ) -> Result<Vec<ServiceEvent>, AwsError> {
        let Some(service) = self.describe_service(cluster, name).await? else {
            return Ok(Vec::new());
        };
        let mut events: Vec<ServiceEvent> = service
            .events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let created_at = SystemTime::try_from(e.created_at?).ok()?;
                Some(ServiceEvent {
                    id: e.id.unwrap_or_default(),
                    created_at,
                    message: e.message.unwrap_or_default(),
                })
            })
            .filter(|e| e.created_at > since)
            .collect();
        // ECS lists the newest first.
        events.sort_by_key(|e| e.created_at);
        Ok(events)
    }
}
