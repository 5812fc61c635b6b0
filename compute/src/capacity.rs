//! EC2 capacity pools: per pool a launch template (ECS-optimized AL2023 AMI, IMDSv2 with hop
//! limit 1, encrypted root volume, user data joining the cluster), an Auto Scaling group in
//! the private subnets with new instances protected from scale-in, and a capacity provider with
//! managed scaling and managed termination protection.
//!
//! A newer recommended AMI shows as a new launch-template version; the group launches `$Latest`,
//! so only instances started afterwards get it — running ones are never replaced silently.

use std::collections::BTreeSet;

use berth_core::{
    wait_for, Action, Address, AwsResultExt, Change, ComponentError, FieldDiff, Poll, WaitFor,
};
use serde::Serialize;

use crate::api::{
    AutoScalingApi, EcsApi, GroupConfig, LaunchTemplateApi, LaunchTemplateData, NewCapacityProvider,
};
use crate::component::{need, ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::diff;
use crate::iam::known;
use crate::names::address;
use crate::{Phase, PoolSpec, COMPONENT};

/// What a launch template's image shows as when the AMI parameter could not be read.
pub const AMI_NOT_FOUND: &str = "(not found: the recommended ECS AMI parameter)";

/// The user data of a pool's instances: join the cluster, drain before a spot interruption,
/// reuse cached images, keep awsvpc tasks away from the instance metadata.
pub fn user_data(cluster: &str) -> String {
    format!(
        "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={cluster}\n\
         ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\nECS_IMAGE_PULL_BEHAVIOR=prefer-cached\n\
         ECS_AWSVPC_BLOCK_IMDS=true\nEOF\n"
    )
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TemplateStep {
    Create {
        pool: String,
        name: String,
        data: LaunchTemplateData,
    },
    NewVersion {
        pool: String,
        id: String,
        data: LaunchTemplateData,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GroupStep {
    /// `config.launch_template_id` is filled in at apply time.
    Create {
        pool: String,
        config: GroupConfig,
    },
    Update {
        pool: String,
        config: GroupConfig,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ProviderStep {
    /// `provider.group_arn` is filled in at apply time.
    Create {
        pool: String,
        provider: NewCapacityProvider,
    },
    Update {
        name: String,
        target_capacity: u8,
    },
    Delete {
        name: String,
    },
}

pub(crate) fn template_data(ctx: &PlanCtx, pool: &PoolSpec) -> LaunchTemplateData {
    let image_id = pool.ami_override.clone().unwrap_or_else(|| {
        ctx.observed
            .amis
            .get(&pool.architecture())
            .cloned()
            .unwrap_or_else(|| AMI_NOT_FOUND.to_owned())
    });
    LaunchTemplateData {
        image_id,
        instance_type: pool.instance_types.first().cloned().unwrap_or_default(),
        instance_profile_name: ctx.names.instance_profile(),
        security_group_ids: vec![known(Some(&ctx.inputs.app_security_group_id), Clone::clone)],
        root_volume_gib: pool.root_volume_gib,
        root_volume_encrypted: true,
        imdsv2_required: true,
        metadata_hop_limit: 1,
        user_data: user_data(&ctx.names.cluster()),
    }
}

fn group_config(ctx: &PlanCtx, pool_name: &str, pool: &PoolSpec) -> GroupConfig {
    let mixed = pool.instance_types.len() > 1 || pool.spot;
    GroupConfig {
        name: ctx.names.group(pool_name),
        launch_template_id: String::new(),
        min_size: pool.min_size,
        max_size: pool.max_size,
        desired_capacity: None,
        subnet_ids: match &ctx.inputs.private_subnet_ids {
            berth_core::Known::Now(ids) => {
                let mut ids = ids.clone();
                ids.sort();
                ids
            }
            berth_core::Known::AfterApply => vec![berth_core::KNOWN_AFTER_APPLY.to_owned()],
        },
        instance_types: if mixed {
            pool.instance_types.clone()
        } else {
            Vec::new()
        },
        spot: pool.spot,
    }
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    let pools = &ctx.spec.pools;
    for (pool_name, pool) in pools {
        // Launch template.
        let address = address::launch_template(pool_name);
        let data = template_data(ctx, pool);
        match ctx.observed.launch_templates.get(pool_name) {
            None => changes.push(Change::new(
                address,
                Action::Create,
                diff::added("", &data),
                ComputeStep::LaunchTemplate(TemplateStep::Create {
                    pool: pool_name.clone(),
                    name: ctx.names.launch_template(pool_name),
                    data,
                }),
            )),
            Some(have) => {
                let fields = match &have.data {
                    Some(have_data) => diff::diff("", have_data, &data),
                    None => Vec::new(),
                };
                if fields.is_empty() {
                    changes.push(Change::no_op(address));
                } else {
                    let mut fields = fields;
                    fields.push(FieldDiff::changed(
                        "version",
                        have.latest_version,
                        have.latest_version + 1,
                    ));
                    changes.push(Change::new(
                        address,
                        Action::Update,
                        fields,
                        ComputeStep::LaunchTemplate(TemplateStep::NewVersion {
                            pool: pool_name.clone(),
                            id: have.id.clone(),
                            data,
                        }),
                    ));
                }
            }
        }

        // Auto Scaling group.
        let address = address::group(pool_name);
        let mut config = group_config(ctx, pool_name, pool);
        match ctx.observed.groups.get(pool_name) {
            None => {
                config.desired_capacity = Some(pool.desired_capacity.unwrap_or(pool.min_size));
                changes.push(Change::new(
                    address,
                    Action::Create,
                    diff::added("", &config),
                    ComputeStep::Group(GroupStep::Create {
                        pool: pool_name.clone(),
                        config,
                    }),
                ));
            }
            Some(have) => {
                let mut have_subnets = have.subnet_ids.clone();
                have_subnets.sort();
                let mut fields = Vec::new();
                if have.min_size != config.min_size {
                    fields.push(FieldDiff::changed(
                        "min_size",
                        have.min_size,
                        config.min_size,
                    ));
                }
                if have.max_size != config.max_size {
                    fields.push(FieldDiff::changed(
                        "max_size",
                        have.max_size,
                        config.max_size,
                    ));
                }
                if have_subnets != config.subnet_ids {
                    fields.push(FieldDiff::changed(
                        "subnet_ids",
                        &have_subnets,
                        &config.subnet_ids,
                    ));
                }
                if have.instance_types != config.instance_types {
                    fields.push(FieldDiff::changed(
                        "instance_types",
                        &have.instance_types,
                        &config.instance_types,
                    ));
                }
                if have.spot.is_some_and(|s| s != config.spot) {
                    fields.push(FieldDiff::changed("spot", have.spot, config.spot));
                }
                if !have.new_instances_protected {
                    fields.push(FieldDiff::changed(
                        "new_instances_protected_from_scale_in",
                        false,
                        true,
                    ));
                }
                let template = ctx
                    .observed
                    .launch_templates
                    .get(pool_name)
                    .map(|t| t.id.clone());
                if have.launch_template.as_ref().map(|(id, _)| id) != template.as_ref() {
                    fields.push(FieldDiff::changed(
                        "launch_template",
                        have.launch_template.as_ref().map(|(id, _)| id),
                        template.unwrap_or_else(|| berth_core::KNOWN_AFTER_APPLY.to_owned()),
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(address));
                } else {
                    changes.push(Change::new(
                        address,
                        Action::Update,
                        fields,
                        ComputeStep::Group(GroupStep::Update {
                            pool: pool_name.clone(),
                            config,
                        }),
                    ));
                }
            }
        }

        // Capacity provider.
        let address = address::capacity_provider(pool_name);
        let name = ctx.names.capacity_provider(pool_name);
        let create = ComputeStep::CapacityProvider(ProviderStep::Create {
            pool: pool_name.clone(),
            provider: NewCapacityProvider {
                name: name.clone(),
                group_arn: String::new(),
                target_capacity: pool.target_capacity,
            },
        });
        match ctx.observed.capacity_providers.get(pool_name) {
            None => changes.push(Change::new(
                address,
                Action::Create,
                vec![
                    FieldDiff::added("name", &name),
                    FieldDiff::added("target_capacity", pool.target_capacity),
                    FieldDiff::added("managed_termination_protection", true),
                ],
                create,
            )),
            Some(have) => {
                let group_arn = ctx.observed.groups.get(pool_name).map(|g| &g.arn);
                if have.group_arn.is_some() && have.group_arn.as_ref() != group_arn {
                    // A provider's group cannot change: a new group needs a new provider.
                    changes.push(Change::new(
                        address,
                        Action::Replace,
                        vec![FieldDiff::changed(
                            "auto_scaling_group",
                            &have.group_arn,
                            group_arn.map_or(berth_core::KNOWN_AFTER_APPLY, |a| a.as_str()),
                        )],
                        create,
                    ));
                } else if have
                    .target_capacity
                    .is_some_and(|t| t != pool.target_capacity)
                {
                    changes.push(Change::new(
                        address,
                        Action::Update,
                        vec![FieldDiff::changed(
                            "target_capacity",
                            have.target_capacity,
                            pool.target_capacity,
                        )],
                        ComputeStep::CapacityProvider(ProviderStep::Update {
                            name,
                            target_capacity: pool.target_capacity,
                        }),
                    ));
                } else {
                    changes.push(Change::no_op(address));
                }
            }
        }
    }

    // What the spec no longer has.
    for (pool, have) in &ctx.observed.launch_templates {
        if !pools.contains_key(pool) {
            changes.push(Change::new(
                Address::new(COMPONENT, "launch_template", pool),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.name)],
                ComputeStep::LaunchTemplate(TemplateStep::Delete {
                    id: have.id.clone(),
                }),
            ));
        }
    }
    for (pool, have) in &ctx.observed.groups {
        if !pools.contains_key(pool) {
            changes.push(Change::new(
                address::group(pool),
                Action::Delete,
                vec![
                    FieldDiff::removed("name", &have.name),
                    FieldDiff::removed("instances", have.instances.len()),
                ],
                ComputeStep::Group(GroupStep::Delete {
                    name: have.name.clone(),
                }),
            ));
        }
    }
    for (pool, have) in &ctx.observed.capacity_providers {
        if !pools.contains_key(pool) {
            changes.push(Change::new(
                address::capacity_provider(pool),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.name)],
                ComputeStep::CapacityProvider(ProviderStep::Delete {
                    name: have.name.clone(),
                }),
            ));
        }
    }
}

impl TemplateStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            TemplateStep::Delete { .. } => vec![Phase::DeleteLaunchTemplates],
            _ => vec![Phase::LaunchTemplates],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let api = ctx.apis.launch_templates();
        match self {
            TemplateStep::Create { pool, name, data } => {
                let id = api
                    .create_launch_template(name, data, &ctx.tags(name), &ctx.client_token(data))
                    .await
                    .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
                Ok(vec![Record::Template(pool.clone(), id)])
            }
            TemplateStep::NewVersion { pool, id, data } => {
                api.create_launch_template_version(id, data, &ctx.client_token(data))
                    .await
                    .map_err(ComponentError::apply("updating", ctx.address.clone()))?;
                Ok(vec![Record::Template(pool.clone(), id.clone())])
            }
            TemplateStep::Delete { id } => {
                api.delete_launch_template(id)
                    .await
                    .ok_if_not_found()
                    .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
                Ok(vec![])
            }
        }
    }
}

impl GroupStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            GroupStep::Delete { .. } => vec![Phase::LiftScaleInProtection, Phase::DeleteGroups],
            _ => vec![Phase::Groups],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        phase: Phase,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let api = ctx.apis.auto_scaling();
        match self {
            GroupStep::Create { pool, config } | GroupStep::Update { pool, config } => {
                let mut config = config.clone();
                config.launch_template_id = need(
                    made.templates.get(pool),
                    ctx.address,
                    format!("the launch template of pool {pool}"),
                )?
                .clone();
                if matches!(self, GroupStep::Create { .. }) {
                    api.create_group(&config, &ctx.tags(&config.name))
                        .await
                        .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
                } else {
                    api.update_group(&config)
                        .await
                        .map_err(ComponentError::apply("updating", ctx.address.clone()))?;
                }
                let arn = api
                    .group(&config.name)
                    .await
                    .map_err(ComponentError::apply("reading", ctx.address.clone()))?
                    .map(|g| g.arn);
                let arn = need(arn.as_ref(), ctx.address, "the group just created")?;
                Ok(vec![Record::Group(pool.clone(), arn.clone())])
            }
            GroupStep::Delete { name } if phase == Phase::LiftScaleInProtection => {
                let fail = |e| {
                    ComponentError::apply("lifting scale-in protection of", ctx.address.clone())(e)
                };
                let Some(group) = api.group(name).await.map_err(fail)? else {
                    return Ok(vec![]);
                };
                let protected: Vec<String> = group
                    .instances
                    .iter()
                    .filter(|i| i.protected_from_scale_in)
                    .map(|i| i.id.clone())
                    .collect();
                // Auto Scaling takes at most 50 instances per call.
                for chunk in protected.chunks(50) {
                    api.set_scale_in_protection(name, chunk, false)
                        .await
                        .ok_if_not_found()
                        .map_err(fail)?;
                }
                Ok(vec![])
            }
            GroupStep::Delete { name } => {
                api.delete_group(name, true)
                    .await
                    .ok_if_not_found()
                    .or_else(|e| {
                        // Already being deleted by an earlier, interrupted run.
                        if e.code.as_deref() == Some("ScalingActivityInProgress") {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
                let wait = WaitFor::new(
                    format!("auto scaling group {name} and its instances to be gone"),
                    ctx.timeouts.group_delete,
                );
                wait_for(&wait, ctx.reporter, || async {
                    Ok::<_, berth_core::AwsError>(match api.group(name).await? {
                        None => Poll::Ready(()),
                        Some(g) => Poll::Pending(format!(
                            "{} instance(s) left: {}",
                            g.instances.len(),
                            g.instances
                                .iter()
                                .map(|i| format!("{} {}", i.id, i.lifecycle_state))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    })
                })
                .await
                .map_err(|e| ComponentError::wait(ctx.address, e))?;
                Ok(vec![])
            }
        }
    }
}

impl ProviderStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            ProviderStep::Delete { .. } => vec![Phase::DeleteCapacityProviders],
            _ => vec![Phase::CapacityProviders],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let api = ctx.apis.ecs();
        match self {
            ProviderStep::Create { pool, provider } => {
                let mut provider = provider.clone();
                provider.group_arn = need(
                    made.groups.get(pool),
                    ctx.address,
                    format!("the auto scaling group of pool {pool}"),
                )?
                .clone();
                if ctx.observed.capacity_providers.contains_key(pool) {
                    // A replace: the old provider (same name) goes first.
                    delete_provider(ctx, &provider.name).await?;
                }
                api.create_capacity_provider(&provider, &ctx.tags(&provider.name))
                    .await
                    .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
                Ok(vec![])
            }
            ProviderStep::Update {
                name,
                target_capacity,
            } => {
                api.update_capacity_provider(name, *target_capacity)
                    .await
                    .map_err(ComponentError::apply("updating", ctx.address.clone()))?;
                Ok(vec![])
            }
            ProviderStep::Delete { name } => {
                delete_provider(ctx, name).await?;
                Ok(vec![])
            }
        }
    }
}

/// Deletes a capacity provider and waits until it is gone; `DELETE_FAILED` ends the wait with
/// ECS's reason.
async fn delete_provider<F: Facades>(
    ctx: &ApplyCtx<'_, F>,
    name: &str,
) -> Result<(), ComponentError> {
    let api = ctx.apis.ecs();
    api.delete_capacity_provider(name)
        .await
        .ok_if_not_found()
        .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
    let wait = WaitFor::new(
        format!("capacity provider {name} to be deleted"),
        ctx.timeouts.capacity_provider_delete,
    );
    wait_for(&wait, ctx.reporter, || async {
        let providers = api.capacity_providers().await?;
        Ok::<_, berth_core::AwsError>(match providers.into_iter().find(|p| p.name == name) {
            None => Poll::Ready(()),
            Some(p) if p.status == "INACTIVE" => Poll::Ready(()),
            Some(p) if p.update_status.as_deref() == Some("DELETE_FAILED") => Poll::Failed(
                p.update_status_reason
                    .unwrap_or_else(|| "DELETE_FAILED without a reason".to_owned()),
            ),
            Some(p) => Poll::Pending(p.update_status.unwrap_or(p.status)),
        })
    })
    .await
    .map_err(|e| ComponentError::wait(ctx.address, e))
}

/// The pools whose providers the cluster should list.
pub(crate) fn provider_names(ctx: &PlanCtx) -> BTreeSet<String> {
    ctx.spec
        .pools
        .keys()
        .map(|p| ctx.names.capacity_provider(p))
        .collect()
}
