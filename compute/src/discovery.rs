//! Cloud Map services: per service that asks for discovery, an A-record service in the
//! stack's namespace (TTL 10 s), which ECS registers each task's IP in. The release's nodes
//! find each other by querying it (`DNS_CLUSTER_QUERY`).

use berth_core::{
    wait_for, Action, AwsResultExt, Change, ComponentError, FieldDiff, Known, Poll, WaitFor,
};
use serde::Serialize;

use crate::api::CloudMapApi;
use crate::component::{ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::names::address;
use crate::Phase;

/// Short, so a replaced task drops out of the answers quickly.
pub const DNS_TTL_SECONDS: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DiscoveryStep {
    Create {
        service: String,
        name: String,
        namespace_id: String,
    },
    Delete {
        id: String,
    },
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    for (service, spec) in ctx.spec.services.iter().filter(|(_, s)| s.discovery) {
        let address = address::discovery(service);
        if ctx.observed.discovery.contains_key(service) {
            changes.push(Change::no_op(address));
            continue;
        }
        let name = ctx.names.discovery_service(service);
        let namespace_id = match &ctx.inputs.namespace {
            Known::Now(ns) => ns.id.clone(),
            Known::AfterApply => berth_core::KNOWN_AFTER_APPLY.to_owned(),
        };
        let _ = spec;
        changes.push(Change::new(
            address,
            Action::Create,
            vec![
                FieldDiff::added("name", &name),
                FieldDiff::added("namespace_id", &namespace_id),
                FieldDiff::added("dns_ttl", DNS_TTL_SECONDS),
            ],
            ComputeStep::Discovery(DiscoveryStep::Create {
                service: service.clone(),
                name,
                namespace_id,
            }),
        ));
    }
    for (service, have) in &ctx.observed.discovery {
        if ctx.spec.services.get(service).is_none_or(|s| !s.discovery) {
            changes.push(Change::new(
                address::discovery(service),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.name)],
                ComputeStep::Discovery(DiscoveryStep::Delete {
                    id: have.id.clone(),
                }),
            ));
        }
    }
}

impl DiscoveryStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            DiscoveryStep::Create { .. } => vec![Phase::Discovery],
            DiscoveryStep::Delete { .. } => vec![Phase::DeleteDiscovery],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let api = ctx.apis.cloud_map();
        match self {
            DiscoveryStep::Create {
                service,
                name,
                namespace_id,
            } => {
                let (_, arn) = api
                    .create_service(
                        name,
                        namespace_id,
                        &ctx.names.discovery_description(),
                        DNS_TTL_SECONDS,
                        &ctx.tags(name),
                        &ctx.client_token(&(name, namespace_id)),
                    )
                    .await
                    .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
                Ok(vec![Record::Discovery(service.clone(), arn)])
            }
            DiscoveryStep::Delete { id } => {
                // ECS deregisters the tasks' instances after the service is gone; until then
                // Cloud Map refuses (ResourceInUse).
                let wait = WaitFor::new(
                    format!("Cloud Map service {id} to be free"),
                    ctx.timeouts.in_use,
                );
                wait_for(&wait, ctx.reporter, || async {
                    match api.delete_service(id).await.ok_if_not_found() {
                        Ok(()) => Ok(Poll::Ready(())),
                        Err(e) if e.is_conflict() => Ok(Poll::Pending(e.message.clone())),
                        Err(e) => Err(e),
                    }
                })
                .await
                .map_err(|e| ComponentError::wait(ctx.address, e))?;
                Ok(vec![])
            }
        }
    }
}
