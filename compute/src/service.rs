//! ECS services: awsvpc in the private subnets with the app security group, on a pool's
//! capacity provider or Fargate, attached to the ALB and/or NLB target groups and to Cloud
//! Map, rolling deployments with a circuit breaker. Deleting one scales it to zero, waits for
//! its tasks to stop, deletes it and waits until it is INACTIVE.

use berth_core::{
    wait_for, Action, AwsResultExt, Change, ComponentError, FieldDiff, FieldValue, Known, Poll,
    WaitFor,
};
use serde::Serialize;

use crate::api::{Deployment, EcsApi, LoadBalancer, ServiceConfig, ServiceUpdate};
use crate::cluster::strategy;
use crate::component::{need, ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::names::address;
use crate::task_definition::{desired as desired_definition, released};
use crate::{Phase, ServiceSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ServiceStep {
    /// The task definition ARN and registry ARNs are filled in at apply time.
    Create {
        service: String,
        config: ServiceConfig,
        discovery: bool,
    },
    Update {
        service: String,
        update: ServiceUpdate,
        /// Move to the revision registered in this run.
        new_revision: bool,
        /// Register with the service's Cloud Map service (`Some(false)`: with none).
        discovery: Option<bool>,
    },
    Delete {
        name: String,
    },
}

fn known_or_marker<T: Clone>(value: &Known<T>, marker: impl FnOnce() -> T) -> T {
    match value {
        Known::Now(v) => v.clone(),
        Known::AfterApply => marker(),
    }
}

pub(crate) fn config(ctx: &PlanCtx, service: &str, spec: &ServiceSpec) -> ServiceConfig {
    let mut subnets = known_or_marker(&ctx.inputs.private_subnet_ids, || {
        vec![berth_core::KNOWN_AFTER_APPLY.to_owned()]
    });
    subnets.sort();
    let target_group = |name: &Option<String>| {
        name.as_ref().and_then(|n| {
            spec.container_port.map(|port| LoadBalancer {
                target_group_arn: crate::iam::known(ctx.inputs.target_groups.get(n), Clone::clone),
                container_name: service.to_owned(),
                container_port: port,
            })
        })
    };
    let mut load_balancers: Vec<LoadBalancer> = [
        target_group(&spec.alb_target_group),
        target_group(&spec.nlb_target_group),
    ]
    .into_iter()
    .flatten()
    .collect();
    load_balancers.sort();
    let released = released(ctx, service, spec);
    let desired_count = match (&spec.autoscaling, released) {
        (_, false) => 0,
        (Some(scaling), true) => scaling.min,
        (None, true) => spec.desired_count,
    };
    ServiceConfig {
        name: ctx.names.service(service),
        task_definition_arn: String::new(),
        desired_count,
        strategy: strategy(ctx, spec.pool.as_deref()),
        subnets,
        security_groups: vec![known_or_marker(&ctx.inputs.app_security_group_id, || {
            berth_core::KNOWN_AFTER_APPLY.to_owned()
        })],
        grace_period_seconds: if load_balancers.is_empty() {
            None
        } else {
            spec.deployment.health_check_grace_period_seconds
        },
        load_balancers,
        registry_arns: Vec::new(),
        distinct_instance: spec.one_task_per_instance
            && ctx.spec.launch_type == crate::LaunchType::Ec2,
        deployment: Deployment {
            minimum_healthy_percent: spec.deployment.minimum_healthy_percent,
            maximum_percent: spec.deployment.maximum_percent,
            circuit_breaker: spec.deployment.circuit_breaker,
        },
    }
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    for (service, spec) in &ctx.spec.services {
        let address = address::service(service);
        let want = config(ctx, service, spec);
        let released = released(ctx, service, spec);
        let Some(have) = ctx.observed.services.get(service) else {
            let mut fields = crate::diff::added(
                "",
                &ServiceConfig {
                    task_definition_arn: berth_core::KNOWN_AFTER_APPLY.to_owned(),
                    ..want.clone()
                },
            );
            if !released {
                note_unreleased(&mut fields);
            }
            changes.push(Change::new(
                address,
                Action::Create,
                fields,
                ComputeStep::Service(ServiceStep::Create {
                    service: service.clone(),
                    config: want,
                    discovery: spec.discovery,
                }),
            ));
            continue;
        };
        let mut fields = Vec::new();
        let mut update = ServiceUpdate::default();
        let new_revision = ctx
            .observed
            .task_definitions
            .get(service)
            .is_none_or(|td| td.definition != desired_definition(ctx, service, spec));
        if new_revision {
            fields.push(FieldDiff::changed(
                "task_definition",
                &have.task_definition_arn,
                berth_core::KNOWN_AFTER_APPLY,
            ));
        }
        // A count autoscaling manages is not drift; before the first release it stays 0.
        let count_owned = spec.autoscaling.is_none() || !released;
        if count_owned && have.desired_count != want.desired_count {
            fields.push(FieldDiff::changed(
                "desired_count",
                have.desired_count,
                want.desired_count,
            ));
            if !released {
                note_unreleased(&mut fields);
            }
            update.desired_count = Some(want.desired_count);
        }
        if let Some(strategy) = &have.strategy {
            let (mut a, mut b) = (strategy.clone(), want.strategy.clone());
            a.sort();
            b.sort();
            if !a.is_empty() && a != b {
                fields.push(FieldDiff::changed("strategy", &a, &b));
                update.strategy = Some(want.strategy.clone());
            }
        }
        if let Some((subnets, groups)) = &have.network {
            let mut subnets = subnets.clone();
            subnets.sort();
            if subnets != want.subnets || groups != &want.security_groups {
                fields.push(FieldDiff::changed(
                    "network",
                    (&subnets, groups),
                    (&want.subnets, &want.security_groups),
                ));
                update.network = Some((want.subnets.clone(), want.security_groups.clone()));
            }
        }
        let mut have_lbs = have.load_balancers.clone();
        have_lbs.sort();
        if have_lbs != want.load_balancers {
            fields.push(FieldDiff::changed(
                "load_balancers",
                &have_lbs,
                &want.load_balancers,
            ));
            update.load_balancers = Some(want.load_balancers.clone());
        }
        let want_registries: Vec<String> = if spec.discovery {
            ctx.observed.discovery.get(service).map_or_else(
                || vec![berth_core::KNOWN_AFTER_APPLY.to_owned()],
                |d| vec![d.arn.clone()],
            )
        } else {
            Vec::new()
        };
        let discovery = (have.registry_arns != want_registries).then(|| {
            fields.push(FieldDiff::changed(
                "service_registries",
                &have.registry_arns,
                &want_registries,
            ));
            spec.discovery
        });
        if have
            .distinct_instance
            .is_some_and(|d| d != want.distinct_instance)
        {
            fields.push(FieldDiff::changed(
                "one_task_per_instance",
                have.distinct_instance,
                want.distinct_instance,
            ));
            update.distinct_instance = Some(want.distinct_instance);
        }
        if have.deployment.is_some_and(|d| d != want.deployment) {
            fields.push(FieldDiff::changed(
                "deployment",
                have.deployment,
                want.deployment,
            ));
            update.deployment = Some(want.deployment);
        }
        if let (Some(have_grace), Some(want_grace)) =
            (have.grace_period_seconds, want.grace_period_seconds)
        {
            if have_grace != want_grace {
                fields.push(FieldDiff::changed(
                    "health_check_grace_period_seconds",
                    have_grace,
                    want_grace,
                ));
                update.grace_period_seconds = Some(want_grace);
            }
        }
        if fields.is_empty() {
            changes.push(Change::no_op(address));
        } else {
            changes.push(Change::new(
                address,
                Action::Update,
                fields,
                ComputeStep::Service(ServiceStep::Update {
                    service: service.clone(),
                    update,
                    new_revision,
                    discovery,
                }),
            ));
        }
    }
    for (service, have) in &ctx.observed.services {
        if !ctx.spec.services.contains_key(service) {
            changes.push(Change::new(
                address::service(service),
                Action::Delete,
                vec![
                    FieldDiff::removed("name", &have.name),
                    FieldDiff::removed("desired_count", have.desired_count),
                ],
                ComputeStep::Service(ServiceStep::Delete {
                    name: have.name.clone(),
                }),
            ));
        }
    }
}

fn note_unreleased(fields: &mut Vec<FieldDiff>) {
    fields.push(FieldDiff::new(
        "release",
        None,
        Some(FieldValue::of(
            "none yet: held at 0 tasks until the first deploy",
        )),
    ));
}

impl ServiceStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            ServiceStep::Delete { .. } => vec![Phase::DrainServices, Phase::DeleteServices],
            _ => vec![Phase::Services],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        phase: Phase,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let ecs = ctx.apis.ecs();
        let cluster = ctx.names.cluster();
        let task_definition = |service: &String| {
            need(
                made.task_definitions.get(service),
                ctx.address,
                format!("the task definition of {service}"),
            )
            .cloned()
        };
        let registries = |service: &String, on: bool| -> Result<Vec<String>, ComponentError> {
            if on {
                Ok(vec![need(
                    made.discovery.get(service),
                    ctx.address,
                    format!("the Cloud Map service of {service}"),
                )?
                .clone()])
            } else {
                Ok(Vec::new())
            }
        };
        match self {
            ServiceStep::Create {
                service,
                config,
                discovery,
            } => {
                let mut config = config.clone();
                config.task_definition_arn = task_definition(service)?;
                config.registry_arns = registries(service, *discovery)?;
                // The token makes a create retried after a crash return the same service.
                let token = ctx.client_token(&config.name);
                ecs.create_service(&cluster, &config, &ctx.tags(&config.name), &token)
                    .await
                    .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
            }
            ServiceStep::Update {
                service,
                update,
                new_revision,
                discovery,
            } => {
                let mut update = update.clone();
                if *new_revision {
                    update.task_definition_arn = Some(task_definition(service)?);
                }
                if let Some(on) = discovery {
                    update.registry_arns = Some(registries(service, *on)?);
                }
                ecs.update_service(&cluster, &ctx.names.service(service), &update)
                    .await
                    .map_err(ComponentError::apply("updating", ctx.address.clone()))?;
            }
            ServiceStep::Delete { name } if phase == Phase::DrainServices => {
                let drain = ServiceUpdate {
                    desired_count: Some(0),
                    ..ServiceUpdate::default()
                };
                match ecs.update_service(&cluster, name, &drain).await {
                    Ok(()) => {}
                    // Gone, or already being deleted (ServiceNotActiveException).
                    Err(e)
                        if e.is_not_found()
                            || e.code.as_deref() == Some("ServiceNotActiveException") =>
                    {
                        return Ok(vec![])
                    }
                    Err(e) => {
                        return Err(ComponentError::apply(
                            "scaling to zero",
                            ctx.address.clone(),
                        )(e))
                    }
                }
                let wait = WaitFor::new(
                    format!("service {name} to stop its tasks"),
                    ctx.timeouts.service_drain,
                );
                wait_for(&wait, ctx.reporter, || async {
                    Ok::<_, berth_core::AwsError>(match ecs.service(&cluster, name).await? {
                        None => Poll::Ready(()),
                        Some(s) if s.running_count == 0 || s.status == "INACTIVE" => {
                            Poll::Ready(())
                        }
                        Some(s) => Poll::Pending(format!(
                            "{} task(s) running{}",
                            s.running_count,
                            s.events
                                .first()
                                .map(|e| format!("; {e}"))
                                .unwrap_or_default()
                        )),
                    })
                })
                .await
                .map_err(|e| ComponentError::wait(ctx.address, e))?;
            }
            ServiceStep::Delete { name } => {
                ecs.delete_service(&cluster, name)
                    .await
                    .ok_if_not_found()
                    .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
                let wait = WaitFor::new(
                    format!("service {name} to be inactive"),
                    ctx.timeouts.service_delete,
                );
                wait_for(&wait, ctx.reporter, || async {
                    Ok::<_, berth_core::AwsError>(
                        match ecs
                            .service(&cluster, name)
                            .await
                            .none_if_not_found()?
                            .flatten()
                        {
                            None => Poll::Ready(()),
                            Some(s) if s.status == "INACTIVE" => Poll::Ready(()),
                            Some(s) => Poll::Pending(s.status),
                        },
                    )
                })
                .await
                .map_err(|e| ComponentError::wait(ctx.address, e))?;
            }
        }
        Ok(vec![])
    }
}
