//! Service autoscaling: a scalable target (min/max) and one target-tracking policy per metric
//! (CPU, memory, ALB requests per target). Registered once the service is released: before,
//! scaling would start tasks of an image that does not exist yet.

use berth_core::{Action, AwsResultExt, Change, ComponentError, FieldDiff, Known};
use serde::Serialize;

use crate::api::{AppScalingApi, ScalingPolicy};
use crate::component::{ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::names::address;
use crate::task_definition::released;
use crate::{Phase, ScalingMetric, ServiceSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScalingStep {
    Ensure {
        resource_id: String,
        min: u32,
        max: u32,
        /// Whether the target needs registering (new, or min/max changed).
        register: bool,
        put: Vec<ScalingPolicy>,
        /// Policy names to delete.
        remove: Vec<String>,
    },
    Delete {
        resource_id: String,
        policies: Vec<String>,
    },
}

/// `app/<lb>/<id>/targetgroup/<tg>/<id>`, from the ALB's and the target group's ARNs.
pub fn resource_label(alb_arn: &str, target_group_arn: &str) -> Option<String> {
    let lb = alb_arn.split_once(":loadbalancer/")?.1;
    let tg = target_group_arn.split_once(":targetgroup/")?.1;
    Some(format!("{lb}/targetgroup/{tg}"))
}

fn policies(ctx: &PlanCtx, service: &str, spec: &ServiceSpec) -> Vec<ScalingPolicy> {
    let Some(scaling) = &spec.autoscaling else {
        return Vec::new();
    };
    let resource_id = ctx.names.scaling_resource_id(service);
    let mut out: Vec<ScalingPolicy> = scaling
        .targets
        .iter()
        .map(|t| ScalingPolicy {
            name: ctx.names.scaling_policy(service, t.metric),
            resource_id: resource_id.clone(),
            metric: t.metric,
            target_value: t.value,
            resource_label: (t.metric == ScalingMetric::AlbRequestsPerTarget).then(|| {
                match (
                    &ctx.inputs.alb_arn,
                    spec.alb_target_group
                        .as_ref()
                        .and_then(|n| ctx.inputs.target_groups.get(n)),
                ) {
                    (Known::Now(lb), Some(Known::Now(tg))) => {
                        resource_label(lb, tg).unwrap_or_default()
                    }
                    _ => berth_core::KNOWN_AFTER_APPLY.to_owned(),
                }
            }),
            scale_in_cooldown_seconds: scaling.scale_in_cooldown_seconds,
            scale_out_cooldown_seconds: scaling.scale_out_cooldown_seconds,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    for (service, spec) in &ctx.spec.services {
        let Some(scaling) = &spec.autoscaling else {
            continue;
        };
        let address = address::scaling(service);
        let have_target = ctx.observed.scalable_targets.get(service);
        if !released(ctx, service, spec) && have_target.is_none() {
            // Registered after the first release; nothing to show before.
            continue;
        }
        let resource_id = ctx.names.scaling_resource_id(service);
        let want = policies(ctx, service, spec);
        let have: Vec<ScalingPolicy> = ctx
            .observed
            .scaling_policies
            .get(service)
            .cloned()
            .unwrap_or_default();
        let mut fields = Vec::new();
        let register = have_target.is_none_or(|t| t.min != scaling.min || t.max != scaling.max);
        if register {
            fields.push(FieldDiff::new(
                "min_max",
                have_target.map(|t| berth_core::FieldValue::of((t.min, t.max))),
                Some(berth_core::FieldValue::of((scaling.min, scaling.max))),
            ));
        }
        let put: Vec<ScalingPolicy> = want.iter().filter(|p| !have.contains(p)).cloned().collect();
        for p in &put {
            let before = have.iter().find(|h| h.name == p.name);
            fields.extend(crate::diff::diff(
                &format!("policy.{}", p.metric.key()),
                &before,
                p,
            ));
        }
        let remove: Vec<String> = have
            .iter()
            .filter(|h| !want.iter().any(|w| w.name == h.name))
            .map(|h| h.name.clone())
            .collect();
        for name in &remove {
            fields.push(FieldDiff::removed(&format!("policy.{name}"), name));
        }
        if fields.is_empty() {
            changes.push(Change::no_op(address));
        } else {
            let action = if have_target.is_none() {
                Action::Create
            } else {
                Action::Update
            };
            changes.push(Change::new(
                address,
                action,
                fields,
                ComputeStep::Scaling(ScalingStep::Ensure {
                    resource_id,
                    min: scaling.min,
                    max: scaling.max,
                    register,
                    put,
                    remove,
                }),
            ));
        }
    }
    for (service, have) in &ctx.observed.scalable_targets {
        if ctx
            .spec
            .services
            .get(service)
            .is_none_or(|s| s.autoscaling.is_none())
        {
            changes.push(Change::new(
                address::scaling(service),
                Action::Delete,
                vec![FieldDiff::removed("min_max", (have.min, have.max))],
                ComputeStep::Scaling(ScalingStep::Delete {
                    resource_id: have.resource_id.clone(),
                    policies: ctx
                        .observed
                        .scaling_policies
                        .get(service)
                        .into_iter()
                        .flatten()
                        .map(|p| p.name.clone())
                        .collect(),
                }),
            ));
        }
    }
}

impl ScalingStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            ScalingStep::Ensure { .. } => vec![Phase::Scaling],
            ScalingStep::Delete { .. } => vec![Phase::DeleteScaling],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let api = ctx.apis.app_scaling();
        match self {
            ScalingStep::Ensure {
                resource_id,
                min,
                max,
                register,
                put,
                remove,
            } => {
                let fail = |a| ComponentError::apply(a, ctx.address.clone());
                if *register {
                    api.register_scalable_target(resource_id, *min, *max)
                        .await
                        .map_err(fail("registering"))?;
                }
                for policy in put {
                    api.put_scaling_policy(policy)
                        .await
                        .map_err(fail("updating"))?;
                }
                for name in remove {
                    api.delete_scaling_policy(name, resource_id)
                        .await
                        .ok_if_not_found()
                        .map_err(fail("updating"))?;
                }
            }
            ScalingStep::Delete {
                resource_id,
                policies,
            } => {
                let fail = |e| ComponentError::apply("deleting", ctx.address.clone())(e);
                for name in policies {
                    api.delete_scaling_policy(name, resource_id)
                        .await
                        .ok_if_not_found()
                        .map_err(fail)?;
                }
                api.deregister_scalable_target(resource_id)
                    .await
                    .ok_if_not_found()
                    .map_err(fail)?;
            }
        }
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_label_joins_the_load_balancer_and_target_group() {
        assert_eq!(
            resource_label(
                "arn:aws:elasticloadbalancing:us-east-2:1:loadbalancer/app/prod-alb/50dc6c495c0c9188",
                "arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/prod-web/943f017f100becff"
            )
            .as_deref(),
            Some("app/prod-alb/50dc6c495c0c9188/targetgroup/prod-web/943f017f100becff")
        );
    }
}
