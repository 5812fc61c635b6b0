//! [`AppScalingApi`] over `aws-sdk-applicationautoscaling`: ECS services' desired count.

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use berth_core::{sdk_error, AwsError};

use super::adapter;
use crate::api::{AppScalingApi, ObservedScalableTarget, ScalingPolicy};
use crate::ScalingMetric;

adapter!(
    AppScaling,
    aws_sdk_applicationautoscaling::Client,
    "[`AppScalingApi`] for a real (or emulated) Application Auto Scaling endpoint."
);

fn metric_type(metric: ScalingMetric) -> MetricType {
    match metric {
        ScalingMetric::Cpu => MetricType::EcsServiceAverageCpuUtilization,
        ScalingMetric::Memory => MetricType::EcsServiceAverageMemoryUtilization,
        ScalingMetric::AlbRequestsPerTarget => MetricType::AlbRequestCountPerTarget,
    }
}

#[async_trait]
impl AppScalingApi for AppScaling {
    async fn scalable_targets(
        &self,
        prefix: &str,
    ) -> Result<Vec<ObservedScalableTarget>, AwsError> {
        let mut targets = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeScalableTargets"))?;
            for t in out.scalable_targets.unwrap_or_default() {
                if t.resource_id.starts_with(prefix)
                    && t.scalable_dimension == ScalableDimension::EcsServiceDesiredCount
                {
                    targets.push(ObservedScalableTarget {
                        resource_id: t.resource_id,
                        min: t.min_capacity.max(0) as u32,
                        max: t.max_capacity.max(0) as u32,
                    });
                }
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(targets);
            }
        }
    }

    async fn scaling_policies(&self, prefix: &str) -> Result<Vec<ScalingPolicy>, AwsError> {
        let mut policies = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeScalingPolicies"))?;
            for p in out.scaling_policies.unwrap_or_default() {
                if !p.resource_id.starts_with(prefix) {
                    continue;
                }
                let config = p.target_tracking_scaling_policy_configuration;
                let predefined = config
                    .as_ref()
                    .and_then(|c| c.predefined_metric_specification.as_ref());
                let metric = match predefined.map(|m| &m.predefined_metric_type) {
                    Some(MetricType::EcsServiceAverageCpuUtilization) => ScalingMetric::Cpu,
                    Some(MetricType::EcsServiceAverageMemoryUtilization) => ScalingMetric::Memory,
                    Some(MetricType::AlbRequestCountPerTarget) => {
                        ScalingMetric::AlbRequestsPerTarget
                    }
                    // Not a policy berth writes: shown with a target of 0 so it is rewritten.
                    _ => ScalingMetric::Cpu,
                };
                policies.push(ScalingPolicy {
                    name: p.policy_name,
                    resource_id: p.resource_id,
                    metric,
                    target_value: config.as_ref().map_or(0, |c| c.target_value as u32),
                    resource_label: predefined.and_then(|m| m.resource_label.clone()),
                    scale_in_cooldown_seconds: config
                        .as_ref()
                        .and_then(|c| c.scale_in_cooldown)
                        .unwrap_or_default()
                        .max(0) as u32,
                    scale_out_cooldown_seconds: config
                        .as_ref()
                        .and_then(|c| c.scale_out_cooldown)
                        .unwrap_or_default()
                        .max(0) as u32,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(policies);
            }
        }
    }

    async fn register_scalable_target(
        &self,
        resource_id: &str,
        min: u32,
        max: u32,
    ) -> Result<(), AwsError> {
        self.client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .min_capacity(min as i32)
            .max_capacity(max as i32)
            .send()
            .await
            .map_err(sdk_error("RegisterScalableTarget"))?;
        Ok(())
    }

    async fn put_scaling_policy(&self, policy: &ScalingPolicy) -> Result<(), AwsError> {
        const OP: &str = "PutScalingPolicy";
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(metric_type(policy.metric))
            .set_resource_label(policy.resource_label.clone())
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(f64::from(policy.target_value))
            .predefined_metric_specification(metric)
            .scale_in_cooldown(policy.scale_in_cooldown_seconds as i32)
            .scale_out_cooldown(policy.scale_out_cooldown_seconds as i32)
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        self.client
            .put_scaling_policy()
            .policy_name(&policy.name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(&policy.resource_id)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        Ok(())
    }

    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .send()
            .await
            .map_err(sdk_error("DeleteScalingPolicy"))?;
        Ok(())
    }

    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError> {
        self.client
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .send()
            .await
            .map_err(sdk_error("DeregisterScalableTarget"))?;
        Ok(())
    }
}
