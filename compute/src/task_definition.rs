//! Task definitions: one family per service, `awsvpc`, one container with the awslogs driver.
//! `up` owns every setting but the image: a changed setting registers a new revision with the
//! image the service runs now. Before the first release the image is the repository URI alone
//! (see the crate doc).

use berth_core::{Action, AwsResultExt, Change, ComponentError, FieldDiff, Known};
use serde::Serialize;

use crate::api::{ContainerDefinition, EcsApi, LogConfiguration, TaskDefinition};
use crate::component::{
    need, resolve_generated, ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record,
};
use crate::diff;
use crate::iam::known;
use crate::names::{address, RoleKind};
use crate::{LaunchType, Phase, ServiceSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskDefinitionStep {
    /// Role ARNs are filled in at apply time from the roles' names.
    Register {
        service: String,
        definition: Box<TaskDefinition>,
        execution_role: String,
        task_role: String,
    },
    Deregister {
        arn: String,
    },
}

/// The repository URI a service's image comes from.
fn repository_uri(ctx: &PlanCtx, spec: &ServiceSpec) -> String {
    known(ctx.inputs.repositories.get(&spec.repository), |r| {
        r.uri.clone()
    })
}

/// The family of a task definition ARN (`…:task-definition/FAMILY:REVISION`).
pub(crate) fn family_of(arn: &str) -> &str {
    let name = arn.rsplit_once('/').map_or(arn, |(_, name)| name);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// Whether the pipeline has released the service: its revision's image is pinned to a tag or
/// digest rather than the bare repository URI `up` creates it with.
pub(crate) fn released(ctx: &PlanCtx, service: &str, spec: &ServiceSpec) -> bool {
    ctx.observed
        .task_definitions
        .get(service)
        .is_some_and(|td| td.definition.container.image != repository_uri(ctx, spec))
}

/// The environment a service's container gets: the config's, plus what discovery needs.
fn environment(
    ctx: &PlanCtx,
    service: &str,
    spec: &ServiceSpec,
) -> std::collections::BTreeMap<String, String> {
    let mut env = spec.environment.clone();
    if spec.discovery {
        let namespace = match &ctx.inputs.namespace {
            Known::Now(ns) => ns.name.clone(),
            Known::AfterApply => berth_core::KNOWN_AFTER_APPLY.to_owned(),
        };
        // dns_cluster / libcluster's DNS strategy query the service's A records; nodes are
        // `<basename>@<task ip>`: the release's env.sh sets
        // RELEASE_NODE=$RELEASE_NODE_BASENAME@$(hostname -i) from these.
        env.insert(
            "DNS_CLUSTER_QUERY".to_owned(),
            format!("{}.{namespace}", ctx.names.discovery_service(service)),
        );
        env.insert("RELEASE_DISTRIBUTION".to_owned(), "name".to_owned());
        env.insert("RELEASE_NODE_BASENAME".to_owned(), service.to_owned());
    }
    env
}

/// What the service's task definition should be, with the role ARNs as they exist now (or
/// "known after apply").
pub(crate) fn desired(ctx: &PlanCtx, service: &str, spec: &ServiceSpec) -> TaskDefinition {
    let role_arn = |kind: RoleKind| {
        ctx.observed.roles.get(&ctx.names.role(&kind)).map_or_else(
            || berth_core::KNOWN_AFTER_APPLY.to_owned(),
            |r| r.arn.clone(),
        )
    };
    let image = ctx.observed.task_definitions.get(service).map_or_else(
        || repository_uri(ctx, spec),
        |td| td.definition.container.image.clone(),
    );
    let fargate = ctx.spec.launch_type == LaunchType::Fargate;
    TaskDefinition {
        family: ctx.names.task_family(service),
        execution_role_arn: role_arn(RoleKind::Execution(service.to_owned())),
        task_role_arn: Some(role_arn(RoleKind::Task(service.to_owned()))),
        fargate,
        arm64: false,
        container: ContainerDefinition {
            name: service.to_owned(),
            image,
            port: spec.container_port,
            cpu: spec.cpu,
            memory: spec.memory,
            memory_reservation: spec.memory_reservation,
            command: spec.command.clone(),
            environment: environment(ctx, service, spec),
            secrets: ctx.secret_arns(service, spec),
            health_check: spec.health_check.clone(),
            stop_timeout_seconds: spec.stop_timeout_seconds,
            log: LogConfiguration {
                group: known(ctx.inputs.log_groups.get(&spec.log_group), |g| {
                    g.name.clone()
                }),
                region: ctx.inputs.region.clone(),
                stream_prefix: service.to_owned(),
            },
        },
    }
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    for (service, spec) in &ctx.spec.services {
        let address = address::task_definition(service);
        let definition = desired(ctx, service, spec);
        let step = ComputeStep::TaskDefinition(TaskDefinitionStep::Register {
            service: service.clone(),
            definition: Box::new(TaskDefinition {
                execution_role_arn: String::new(),
                task_role_arn: None,
                ..definition.clone()
            }),
            execution_role: ctx.names.execution_role(service),
            task_role: ctx.names.task_role(service),
        });
        match ctx.observed.task_definitions.get(service) {
            None => changes.push(Change::new(
                address,
                Action::Create,
                diff::added("", &definition),
                step,
            )),
            Some(have) => {
                let mut fields = diff::diff("", &have.definition, &definition);
                if fields.is_empty() {
                    changes.push(Change::no_op(address));
                } else {
                    fields.push(FieldDiff::changed(
                        "revision",
                        have.revision,
                        berth_core::KNOWN_AFTER_APPLY,
                    ));
                    changes.push(Change::new(address, Action::Update, fields, step));
                }
            }
        }
    }
    for (service, have) in &ctx.observed.task_definitions {
        if !ctx.spec.services.contains_key(service) {
            changes.push(Change::new(
                address::task_definition(service),
                Action::Delete,
                vec![FieldDiff::removed("revision", have.revision)],
                ComputeStep::TaskDefinition(TaskDefinitionStep::Deregister {
                    arn: have.arn.clone(),
                }),
            ));
        }
    }
}

impl TaskDefinitionStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            TaskDefinitionStep::Register { .. } => vec![Phase::TaskDefinitions],
            TaskDefinitionStep::Deregister { .. } => vec![Phase::DeregisterTaskDefinitions],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let ecs = ctx.apis.ecs();
        match self {
            TaskDefinitionStep::Register {
                service,
                definition,
                execution_role,
                task_role,
            } => {
                let mut definition = (**definition).clone();
                definition.execution_role_arn = need(
                    made.roles.get(execution_role),
                    ctx.address,
                    format!("role {execution_role}"),
                )?
                .clone();
                definition.task_role_arn = Some(
                    need(
                        made.roles.get(task_role),
                        ctx.address,
                        format!("role {task_role}"),
                    )?
                    .clone(),
                );
                for arn in definition.container.secrets.values_mut() {
                    let mut value = serde_json::Value::String(arn.clone());
                    resolve_generated(&mut value, made, ctx.address)?;
                    *arn = value.as_str().unwrap_or_default().to_owned();
                }
                let (arn, _) = ecs
                    .register_task_definition(&definition, &ctx.tags(&definition.family))
                    .await
                    .map_err(ComponentError::apply("registering", ctx.address.clone()))?;
                Ok(vec![Record::TaskDefinition(service.clone(), arn)])
            }
            TaskDefinitionStep::Deregister { arn } => {
                // Every ACTIVE revision of the stack's family goes, not only the one the
                // service ran: earlier ones (berth's and the pipeline's) stay ACTIVE otherwise.
                let family = family_of(arn);
                let mut revisions =
                    ecs.active_revisions(family)
                        .await
                        .map_err(ComponentError::apply(
                            "listing the revisions of",
                            ctx.address.clone(),
                        ))?;
                if !revisions.iter().any(|r| r == arn) {
                    revisions.push(arn.clone());
                }
                for revision in &revisions {
                    ecs.deregister_task_definition(revision)
                        .await
                        .ok_if_not_found()
                        .map_err(ComponentError::apply("deregistering", ctx.address.clone()))?;
                }
                Ok(vec![])
            }
        }
    }
}
