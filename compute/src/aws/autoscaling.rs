//! [`AutoScalingApi`] over `aws-sdk-autoscaling`.

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter, InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides,
    LaunchTemplateSpecification, MixedInstancesPolicy, Tag,
};
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{AutoScalingApi, GroupConfig, GroupInstance, ObservedGroup};

adapter!(
    AutoScaling,
    aws_sdk_autoscaling::Client,
    "[`AutoScalingApi`] for a real (or emulated) Auto Scaling endpoint."
);

/// The group launches the template's latest version: new instances get a new AMI, running
/// ones are never replaced by berth on its own.
const LATEST: &str = "$Latest";

fn group_of(g: AutoScalingGroup) -> ObservedGroup {
    let mixed = g.mixed_instances_policy;
    let launch_template = g
        .launch_template
        .or_else(|| {
            mixed
                .as_ref()
                .and_then(|m| m.launch_template.as_ref())
                .and_then(|t| t.launch_template_specification.clone())
        })
        .and_then(|t| Some((t.launch_template_id?, t.version.unwrap_or_default())));
    let instance_types = mixed
        .as_ref()
        .and_then(|m| m.launch_template.as_ref())
        .map(|t| {
            t.overrides()
                .iter()
                .filter_map(|o| o.instance_type.clone())
                .collect()
        })
        .unwrap_or_default();
    let spot = mixed
        .as_ref()
        .and_then(|m| m.instances_distribution.as_ref())
        .map(|d| d.on_demand_percentage_above_base_capacity == Some(0));
    ObservedGroup {
        name: g.auto_scaling_group_name.unwrap_or_default(),
        arn: g.auto_scaling_group_arn.unwrap_or_default(),
        min_size: g.min_size.unwrap_or_default().max(0) as u32,
        max_size: g.max_size.unwrap_or_default().max(0) as u32,
        desired_capacity: g.desired_capacity.unwrap_or_default().max(0) as u32,
        launch_template,
        instance_types,
        spot,
        subnet_ids: g
            .vpc_zone_identifier
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        new_instances_protected: g.new_instances_protected_from_scale_in.unwrap_or_default(),
        instances: g
            .instances
            .unwrap_or_default()
            .into_iter()
            .map(|i| GroupInstance {
                id: i.instance_id.unwrap_or_default(),
                lifecycle_state: i
                    .lifecycle_state
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                protected_from_scale_in: i.protected_from_scale_in.unwrap_or_default(),
            })
            .collect(),
        status: g.status,
        tags: g
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
    }
}

fn template_spec(id: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version(LATEST)
        .build()
}

fn mixed_policy(group: &GroupConfig) -> MixedInstancesPolicy {
    let mut template = LaunchTemplate::builder()
        .launch_template_specification(template_spec(&group.launch_template_id));
    for t in &group.instance_types {
        template = template.overrides(LaunchTemplateOverrides::builder().instance_type(t).build());
    }
    let distribution = if group.spot {
        InstancesDistribution::builder()
            .on_demand_base_capacity(0)
            .on_demand_percentage_above_base_capacity(0)
            .spot_allocation_strategy("price-capacity-optimized")
            .build()
    } else {
        InstancesDistribution::builder()
            .on_demand_percentage_above_base_capacity(100)
            .build()
    };
    MixedInstancesPolicy::builder()
        .launch_template(template.build())
        .instances_distribution(distribution)
        .build()
}

fn mixed(group: &GroupConfig) -> bool {
    !group.instance_types.is_empty() || group.spot
}

#[async_trait]
impl AutoScalingApi for AutoScaling {
    async fn groups(&self, stack: &str) -> Result<Vec<ObservedGroup>, AwsError> {
        let mut groups = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_auto_scaling_groups()
                .filters(
                    Filter::builder()
                        .name(format!("tag:{}", berth_core::stack::TAG_STACK))
                        .values(stack)
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeAutoScalingGroups"))?;
            groups.extend(
                out.auto_scaling_groups
                    .unwrap_or_default()
                    .into_iter()
                    .map(group_of),
            );
            token = out.next_token;
            if token.is_none() {
                return Ok(groups);
            }
        }
    }

    async fn group(&self, name: &str) -> Result<Option<ObservedGroup>, AwsError> {
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(sdk_error("DescribeAutoScalingGroups"))?;
        Ok(out
            .auto_scaling_groups
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(group_of))
    }

    async fn create_group(&self, group: &GroupConfig, tags: &Tags) -> Result<(), AwsError> {
        let mut b = self
            .client
            .create_auto_scaling_group()
            .auto_scaling_group_name(&group.name)
            .min_size(group.min_size as i32)
            .max_size(group.max_size as i32)
            .set_desired_capacity(group.desired_capacity.map(|d| d as i32))
            .vpc_zone_identifier(group.subnet_ids.join(","))
            .new_instances_protected_from_scale_in(true)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| {
                        Tag::builder()
                            .key(k)
                            .value(v)
                            .propagate_at_launch(true)
                            .build()
                    })
                    .collect(),
            ));
        b = if mixed(group) {
            b.mixed_instances_policy(mixed_policy(group))
        } else {
            b.launch_template(template_spec(&group.launch_template_id))
        };
        b.send()
            .await
            .map_err(sdk_error("CreateAutoScalingGroup"))?;
        Ok(())
    }

    async fn update_group(&self, group: &GroupConfig) -> Result<(), AwsError> {
        let mut b = self
            .client
            .update_auto_scaling_group()
            .auto_scaling_group_name(&group.name)
            .min_size(group.min_size as i32)
            .max_size(group.max_size as i32)
            .vpc_zone_identifier(group.subnet_ids.join(","))
            .new_instances_protected_from_scale_in(true);
        b = if mixed(group) {
            b.mixed_instances_policy(mixed_policy(group))
        } else {
            b.launch_template(template_spec(&group.launch_template_id))
        };
        b.send()
            .await
            .map_err(sdk_error("UpdateAutoScalingGroup"))?;
        Ok(())
    }

    async fn set_scale_in_protection(
        &self,
        name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError> {
        self.client
            .set_instance_protection()
            .auto_scaling_group_name(name)
            .set_instance_ids(Some(instance_ids.to_vec()))
            .protected_from_scale_in(protected)
            .send()
            .await
            .map_err(sdk_error("SetInstanceProtection"))?;
        Ok(())
    }

    async fn delete_group(&self, name: &str, force: bool) -> Result<(), AwsError> {
        match self
            .client
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(force)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk("DeleteAutoScalingGroup", e);
                // Auto Scaling says a missing group is a ValidationError.
                if e.message.contains("not found") {
                    Err(AwsError {
                        class: berth_core::ErrorClass::NotFound,
                        ..e
                    })
                } else {
                    Err(e)
                }
            }
        }
    }
}
