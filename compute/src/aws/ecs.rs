//! [`EcsApi`] over `aws-sdk-ecs`.

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, AwsVpcConfiguration,
    CapacityProviderField, CapacityProviderStrategyItem, ClusterField, ClusterSetting,
    ClusterSettingName, Compatibility, ContainerDefinition as SdkContainer, CpuArchitecture,
    DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck as SdkHealthCheck, KeyValuePair,
    LogConfiguration as SdkLog, LogDriver, ManagedScaling, ManagedScalingStatus,
    ManagedTerminationProtection, NetworkConfiguration, NetworkMode, PlacementConstraint,
    PlacementConstraintType, PortMapping, PropagateTags, RuntimePlatform, Secret, ServiceField,
    ServiceRegistry, Tag, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use berth_core::{sdk_error, AwsError, AwsResultExt, Tags};

use super::adapter;
use crate::api::{
    ContainerDefinition, Deployment, EcsApi, LoadBalancer, LogConfiguration, NewCapacityProvider,
    ObservedCapacityProvider, ObservedCluster, ObservedService, ObservedTaskDefinition,
    ServiceConfig, ServiceUpdate, StrategyItem, TagMap, TaskDefinition,
};
use crate::HealthCheck;

adapter!(
    Ecs,
    aws_sdk_ecs::Client,
    "[`EcsApi`] for a real (or emulated) ECS endpoint."
);

fn tags_of(tags: Option<Vec<Tag>>) -> TagMap {
    tags.unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value?)))
        .collect()
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn strategy_items(items: &[StrategyItem]) -> Result<Vec<CapacityProviderStrategyItem>, AwsError> {
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

fn strategy_of(items: Vec<CapacityProviderStrategyItem>) -> Vec<StrategyItem> {
    items
        .into_iter()
        .map(|i| StrategyItem {
            provider: i.capacity_provider,
            weight: i.weight.max(0) as u32,
            base: i.base.max(0) as u32,
        })
        .collect()
}

fn network(subnets: &[String], groups: &[String]) -> Result<NetworkConfiguration, AwsError> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets.to_vec()))
        .set_security_groups(Some(groups.to_vec()))
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .map_err(|e| AwsError::invalid("NetworkConfiguration", e))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn load_balancers(lbs: &[LoadBalancer]) -> Vec<aws_sdk_ecs::types::LoadBalancer> {
    lbs.iter()
        .map(|lb| {
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(i32::from(lb.container_port))
                .build()
        })
        .collect()
}

fn deployment(d: &Deployment) -> Result<DeploymentConfiguration, AwsError> {
    let breaker = DeploymentCircuitBreaker::builder()
        .enable(d.circuit_breaker)
        .rollback(d.circuit_breaker)
        .build();
    Ok(DeploymentConfiguration::builder()
        .minimum_healthy_percent(d.minimum_healthy_percent as i32)
        .maximum_percent(d.maximum_percent as i32)
        .deployment_circuit_breaker(breaker)
        .build())
}

fn distinct_instance() -> PlacementConstraint {
    PlacementConstraint::builder()
        .r#type(PlacementConstraintType::DistinctInstance)
        .build()
}

fn registries(arns: &[String]) -> Vec<ServiceRegistry> {
    arns.iter()
        .map(|a| ServiceRegistry::builder().registry_arn(a).build())
        .collect()
}

fn service_of(s: aws_sdk_ecs::types::Service) -> ObservedService {
    let network = s
        .network_configuration
        .and_then(|n| n.awsvpc_configuration)
        .map(|v| (v.subnets, v.security_groups.unwrap_or_default()));
    // Fields the emulator drops on create come back empty: unknown, not "none".
    let strategy = s
        .capacity_provider_strategy
        .filter(|s| !s.is_empty())
        .map(strategy_of);
    let distinct_instance = s.placement_constraints.filter(|p| !p.is_empty()).map(|p| {
        p.iter()
            .any(|c| c.r#type == Some(PlacementConstraintType::DistinctInstance))
    });
    let deployment = s.deployment_configuration.and_then(|d| {
        Some(Deployment {
            minimum_healthy_percent: d.minimum_healthy_percent?.max(0) as u32,
            maximum_percent: d.maximum_percent?.max(0) as u32,
            circuit_breaker: d
                .deployment_circuit_breaker
                .is_some_and(|b| b.enable && b.rollback),
        })
    });
    ObservedService {
        name: s.service_name.unwrap_or_default(),
        arn: s.service_arn.unwrap_or_default(),
        status: s.status.unwrap_or_default(),
        desired_count: s.desired_count.max(0) as u32,
        running_count: s.running_count.max(0) as u32,
        task_definition_arn: s.task_definition.unwrap_or_default(),
        strategy,
        network,
        load_balancers: s
            .load_balancers
            .unwrap_or_default()
            .into_iter()
            .filter_map(|lb| {
                Some(LoadBalancer {
                    target_group_arn: lb.target_group_arn?,
                    container_name: lb.container_name?,
                    container_port: u16::try_from(lb.container_port?).ok()?,
                })
            })
            .collect(),
        registry_arns: s
            .service_registries
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.registry_arn)
            .collect(),
        distinct_instance,
        deployment,
        grace_period_seconds: s.health_check_grace_period_seconds.map(|g| g.max(0) as u32),
        events: s
            .events
            .unwrap_or_default()
            .into_iter()
            .take(3)
            .filter_map(|e| e.message)
            .collect(),
        tags: tags_of(s.tags),
    }
}

fn container_of(c: SdkContainer) -> ContainerDefinition {
    let options = c
        .log_configuration
        .as_ref()
        .and_then(|l| l.options.clone())
        .unwrap_or_default();
    ContainerDefinition {
        name: c.name.unwrap_or_default(),
        image: c.image.unwrap_or_default(),
        port: c
            .port_mappings
            .unwrap_or_default()
            .first()
            .and_then(|p| p.container_port)
            .and_then(|p| u16::try_from(p).ok()),
        cpu: c.cpu.max(0) as u32,
        memory: c.memory.unwrap_or_default().max(0) as u32,
        memory_reservation: c.memory_reservation.unwrap_or_default().max(0) as u32,
        command: c.command.unwrap_or_default(),
        environment: c
            .environment
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| Some((kv.name?, kv.value?)))
            .collect(),
        secrets: c
            .secrets
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.name, s.value_from))
            .collect(),
        health_check: c.health_check.map(|h| HealthCheck {
            command: h.command,
            interval_seconds: h.interval.unwrap_or(30).max(0) as u32,
            timeout_seconds: h.timeout.unwrap_or(5).max(0) as u32,
            retries: h.retries.unwrap_or(3).max(0) as u32,
            start_period_seconds: h.start_period.unwrap_or(0).max(0) as u32,
        }),
        stop_timeout_seconds: c.stop_timeout.map(|t| t.max(0) as u32),
        log: LogConfiguration {
            group: options.get("awslogs-group").cloned().unwrap_or_default(),
            region: options.get("awslogs-region").cloned().unwrap_or_default(),
            stream_prefix: options
                .get("awslogs-stream-prefix")
                .cloned()
                .unwrap_or_default(),
        },
    }
}

fn container(c: &ContainerDefinition) -> Result<SdkContainer, AwsError> {
    const OP: &str = "RegisterTaskDefinition";
    let log = SdkLog::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", &c.log.group)
        .options("awslogs-region", &c.log.region)
        .options("awslogs-stream-prefix", &c.log.stream_prefix)
        .build()
        .map_err(|e| AwsError::invalid(OP, e))?;
    let mut b = SdkContainer::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(true)
        .cpu(c.cpu as i32)
        // The emulator (and ECS on EC2) needs a container-level hard limit.
        .memory(c.memory as i32)
        .memory_reservation(c.memory_reservation as i32)
        .set_command((!c.command.is_empty()).then(|| c.command.clone()))
        .set_environment(Some(
            c.environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(
            c.secrets
                .iter()
                .map(|(k, v)| Secret::builder().name(k).value_from(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::invalid(OP, e))?,
        ))
        .set_stop_timeout(c.stop_timeout_seconds.map(|t| t as i32))
        .log_configuration(log);
    if let Some(port) = c.port {
        b = b.port_mappings(
            PortMapping::builder()
                .container_port(i32::from(port))
                .protocol(TransportProtocol::Tcp)
                .build(),
        );
    }
    if let Some(h) = &c.health_check {
        b = b.health_check(
            SdkHealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .interval(h.interval_seconds as i32)
                .timeout(h.timeout_seconds as i32)
                .retries(h.retries as i32)
                .start_period(h.start_period_seconds as i32)
                .build()
                .map_err(|e| AwsError::invalid(OP, e))?,
        );
    }
    Ok(b.build())
}

#[async_trait]
impl EcsApi for Ecs {
    async fn cluster(&self, name: &str) -> Result<Option<ObservedCluster>, AwsError> {
        let out = self
            .client
            .describe_clusters()
            .clusters(name)
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await
            .map_err(sdk_error("DescribeClusters"))?;
        Ok(out
            .clusters
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.cluster_name.as_deref() == Some(name))
            .map(|c| ObservedCluster {
                name: c.cluster_name.unwrap_or_default(),
                arn: c.cluster_arn.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                container_insights: c.settings.and_then(|s| {
                    s.into_iter()
                        .find(|s| s.name == Some(ClusterSettingName::ContainerInsights))
                        .and_then(|s| s.value)
                        .map(|v| v == "enabled" || v == "enhanced")
                }),
                capacity_providers: c.capacity_providers.unwrap_or_default(),
                default_strategy: strategy_of(
                    c.default_capacity_provider_strategy.unwrap_or_default(),
                ),
                tags: tags_of(c.tags),
            }))
    }

    async fn capacity_providers(&self) -> Result<Vec<ObservedCapacityProvider>, AwsError> {
        let mut providers = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_capacity_providers()
                .include(CapacityProviderField::Tags)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeCapacityProviders"))?;
            for p in out.capacity_providers.unwrap_or_default() {
                let asg = p.auto_scaling_group_provider;
                providers.push(ObservedCapacityProvider {
                    name: p.name.unwrap_or_default(),
                    arn: p.capacity_provider_arn.unwrap_or_default(),
                    status: p.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    update_status: p.update_status.map(|s| s.as_str().to_owned()),
                    update_status_reason: p.update_status_reason,
                    group_arn: asg.as_ref().map(|a| a.auto_scaling_group_arn.clone()),
                    target_capacity: asg
                        .as_ref()
                        .and_then(|a| a.managed_scaling.as_ref())
                        .and_then(|m| m.target_capacity)
                        .and_then(|t| u8::try_from(t).ok()),
                    managed_termination_protection: asg
                        .as_ref()
                        .and_then(|a| a.managed_termination_protection.as_ref())
                        .map(|m| *m == ManagedTerminationProtection::Enabled),
                    tags: tags_of(p.tags),
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(providers);
            }
        }
    }

    async fn services(&self, cluster: &str) -> Result<Vec<ObservedService>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = match self
                .client
                .list_services()
                .cluster(cluster)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListServices"))
                .none_if_not_found()?
            {
                Some(out) => out,
                None => return Ok(Vec::new()),
            };
            arns.extend(out.service_arns.unwrap_or_default());
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        let mut services = Vec::new();
        // DescribeServices takes at most 10 services.
        for chunk in arns.chunks(10) {
            let out = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(sdk_error("DescribeServices"))?;
            services.extend(
                out.services
                    .unwrap_or_default()
                    .into_iter()
                    .map(service_of)
                    .filter(|s| s.status != "INACTIVE"),
            );
        }
        Ok(services)
    }

    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ObservedService>, AwsError> {
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(sdk_error("DescribeServices"))
            .none_if_not_found()?;
        Ok(out.and_then(|o| {
            o.services
                .unwrap_or_default()
                .into_iter()
                .next()
                .map(service_of)
        }))
    }

    async fn task_definition(&self, arn: &str) -> Result<ObservedTaskDefinition, AwsError> {
        const OP: &str = "DescribeTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        let td = out
            .task_definition
            .ok_or_else(|| AwsError::invalid(OP, "no task definition in the response"))?;
        let container = td
            .container_definitions
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(container_of)
            .ok_or_else(|| AwsError::invalid(OP, "a task definition without containers"))?;
        Ok(ObservedTaskDefinition {
            arn: td.task_definition_arn.unwrap_or_default(),
            revision: td.revision.max(0) as u32,
            definition: TaskDefinition {
                family: td.family.unwrap_or_default(),
                execution_role_arn: td.execution_role_arn.unwrap_or_default(),
                task_role_arn: td.task_role_arn,
                fargate: td
                    .requires_compatibilities
                    .unwrap_or_default()
                    .contains(&Compatibility::Fargate),
                arm64: td
                    .runtime_platform
                    .and_then(|p| p.cpu_architecture)
                    .is_some_and(|a| a == CpuArchitecture::Arm64),
                container,
            },
        })
    }

    async fn container_instances(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_container_instances()
                .cluster(cluster)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListContainerInstances"))?;
            arns.extend(out.container_instance_arns.unwrap_or_default());
            token = out.next_token;
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_cluster()
            .cluster_name(name)
            .settings(
                ClusterSetting::builder()
                    .name(ClusterSettingName::ContainerInsights)
                    .value("enabled")
                    .build(),
            )
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateCluster"))?;
        Ok(out.cluster.and_then(|c| c.cluster_arn).unwrap_or_default())
    }

    async fn enable_container_insights(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .update_cluster_settings()
            .cluster(name)
            .settings(
                ClusterSetting::builder()
                    .name(ClusterSettingName::ContainerInsights)
                    .value("enabled")
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("UpdateClusterSettings"))?;
        Ok(())
    }

    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<(), AwsError> {
        self.client
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(providers.to_vec()))
            .set_default_capacity_provider_strategy(Some(strategy_items(default_strategy)?))
            .send()
            .await
            .map_err(sdk_error("PutClusterCapacityProviders"))?;
        Ok(())
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_cluster()
            .cluster(name)
            .send()
            .await
            .map_err(sdk_error("DeleteCluster"))?;
        Ok(())
    }

    async fn create_capacity_provider(
        &self,
        provider: &NewCapacityProvider,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateCapacityProvider";
        let asg = AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(&provider.group_arn)
            .managed_scaling(
                ManagedScaling::builder()
                    .status(ManagedScalingStatus::Enabled)
                    .target_capacity(i32::from(provider.target_capacity))
                    .build(),
            )
            .managed_termination_protection(ManagedTerminationProtection::Enabled)
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let out = self
            .client
            .create_capacity_provider()
            .name(&provider.name)
            .auto_scaling_group_provider(asg)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        Ok(out
            .capacity_provider
            .and_then(|p| p.capacity_provider_arn)
            .unwrap_or_default())
    }

    async fn update_capacity_provider(
        &self,
        name: &str,
        target_capacity: u8,
    ) -> Result<(), AwsError> {
        self.client
            .update_capacity_provider()
            .name(name)
            .auto_scaling_group_provider(
                AutoScalingGroupProviderUpdate::builder()
                    .managed_scaling(
                        ManagedScaling::builder()
                            .status(ManagedScalingStatus::Enabled)
                            .target_capacity(i32::from(target_capacity))
                            .build(),
                    )
                    .managed_termination_protection(ManagedTerminationProtection::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("UpdateCapacityProvider"))?;
        Ok(())
    }

    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_capacity_provider()
            .capacity_provider(name)
            .send()
            .await
            .map_err(sdk_error("DeleteCapacityProvider"))?;
        Ok(())
    }

    async fn register_task_definition(
        &self,
        definition: &TaskDefinition,
        tags: &Tags,
    ) -> Result<(String, u32), AwsError> {
        const OP: &str = "RegisterTaskDefinition";
        let mut b = self
            .client
            .register_task_definition()
            .family(&definition.family)
            .network_mode(NetworkMode::Awsvpc)
            .execution_role_arn(&definition.execution_role_arn)
            .set_task_role_arn(definition.task_role_arn.clone())
            .container_definitions(container(&definition.container)?)
            .set_tags(Some(sdk_tags(tags)));
        if definition.fargate {
            // Fargate sizes the task, not the container.
            b = b
                .requires_compatibilities(Compatibility::Fargate)
                .cpu(definition.container.cpu.to_string())
                .memory(definition.container.memory.to_string());
            if definition.arm64 {
                b = b.runtime_platform(
                    RuntimePlatform::builder()
                        .cpu_architecture(CpuArchitecture::Arm64)
                        .build(),
                );
            }
        } else {
            b = b.requires_compatibilities(Compatibility::Ec2);
        }
        let out = b.send().await.map_err(sdk_error(OP))?;
        let td = out
            .task_definition
            .ok_or_else(|| AwsError::invalid(OP, "no task definition in the response"))?;
        Ok((
            td.task_definition_arn.unwrap_or_default(),
            td.revision.max(0) as u32,
        ))
    }

    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(sdk_error("DeregisterTaskDefinition"))?;
        Ok(())
    }

    async fn active_revisions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListTaskDefinitions"))?;
            // `familyPrefix` matches the family exactly on AWS; keep only that family anyway.
            arns.extend(
                out.task_definition_arns
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|arn| crate::task_definition::family_of(arn) == family),
            );
            token = out.next_token;
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn create_service(
        &self,
        cluster: &str,
        service: &ServiceConfig,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateService";
        // ECS client tokens are at most 36 characters.
        let token: String = client_token.chars().take(36).collect();
        let out = self
            .client
            .create_service()
            .cluster(cluster)
            .service_name(&service.name)
            .task_definition(&service.task_definition_arn)
            .desired_count(service.desired_count as i32)
            .set_capacity_provider_strategy(Some(strategy_items(&service.strategy)?))
            .network_configuration(network(&service.subnets, &service.security_groups)?)
            .set_load_balancers(Some(load_balancers(&service.load_balancers)))
            .set_service_registries(Some(registries(&service.registry_arns)))
            .set_placement_constraints(service.distinct_instance.then(|| vec![distinct_instance()]))
            .deployment_configuration(deployment(&service.deployment)?)
            .set_health_check_grace_period_seconds(service.grace_period_seconds.map(|g| g as i32))
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .client_token(token)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        Ok(out.service.and_then(|s| s.service_arn).unwrap_or_default())
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        update: &ServiceUpdate,
    ) -> Result<(), AwsError> {
        let mut b = self
            .client
            .update_service()
            .cluster(cluster)
            .service(name)
            .set_task_definition(update.task_definition_arn.clone())
            .set_desired_count(update.desired_count.map(|c| c as i32))
            .set_health_check_grace_period_seconds(update.grace_period_seconds.map(|g| g as i32));
        if let Some(strategy) = &update.strategy {
            // A new strategy takes effect through a new deployment.
            b = b
                .set_capacity_provider_strategy(Some(strategy_items(strategy)?))
                .force_new_deployment(true);
        }
        if let Some((subnets, groups)) = &update.network {
            b = b.network_configuration(network(subnets, groups)?);
        }
        if let Some(lbs) = &update.load_balancers {
            b = b.set_load_balancers(Some(load_balancers(lbs)));
        }
        if let Some(arns) = &update.registry_arns {
            b = b.set_service_registries(Some(registries(arns)));
        }
        if let Some(distinct) = update.distinct_instance {
            b = b.set_placement_constraints(Some(if distinct {
                vec![distinct_instance()]
            } else {
                Vec::new()
            }));
        }
        if let Some(d) = &update.deployment {
            b = b.deployment_configuration(deployment(d)?);
        }
        b.send().await.map_err(sdk_error("UpdateService"))?;
        Ok(())
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map_err(sdk_error("DeleteService"))?;
        Ok(())
    }

    async fn deregister_container_instance(
        &self,
        cluster: &str,
        arn: &str,
    ) -> Result<(), AwsError> {
        self.client
            .deregister_container_instance()
            .cluster(cluster)
            .container_instance(arn)
            .force(true)
            .send()
            .await
            .map_err(sdk_error("DeregisterContainerInstance"))?;
        Ok(())
    }
}
