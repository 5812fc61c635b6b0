//! The ECS cluster (Container Insights on) and its capacity providers with the default
//! strategy: the pools' providers on EC2 (the `default` pool, or the first, as the default),
//! `FARGATE` with an optional `FARGATE_SPOT` share on Fargate.

use berth_core::{
    wait_for, Action, AwsResultExt, Change, ComponentError, FieldDiff, Poll, WaitFor,
};
use serde::Serialize;

use crate::api::{EcsApi, StrategyItem};
use crate::capacity::provider_names;
use crate::component::{ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::names::address;
use crate::{LaunchType, Phase};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ClusterStep {
    Create {
        name: String,
    },
    EnableInsights {
        name: String,
    },
    /// Deregisters what container instances are left, then deletes the cluster.
    Delete {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AttachStep {
    Put {
        cluster: String,
        providers: Vec<String>,
        default_strategy: Vec<StrategyItem>,
    },
    /// Detaches every provider (before they are deleted).
    Detach { cluster: String },
}

/// The strategy a service (or the cluster by default) uses: a pool's provider, or Fargate.
pub(crate) fn strategy(ctx: &PlanCtx, pool: Option<&str>) -> Vec<StrategyItem> {
    match ctx.spec.launch_type {
        LaunchType::Ec2 => {
            let pool = pool.or_else(|| {
                if ctx.spec.pools.contains_key("default") {
                    Some("default")
                } else {
                    ctx.spec.pools.keys().next().map(String::as_str)
                }
            });
            pool.map(|p| StrategyItem {
                provider: ctx.names.capacity_provider(p),
                weight: 1,
                base: 0,
            })
            .into_iter()
            .collect()
        }
        LaunchType::Fargate => {
            let spot = u32::from(ctx.spec.fargate_spot_percent.min(100));
            let mut items = Vec::new();
            if spot < 100 {
                items.push(StrategyItem {
                    provider: "FARGATE".to_owned(),
                    weight: 100 - spot,
                    base: 0,
                });
            }
            if spot > 0 {
                items.push(StrategyItem {
                    provider: "FARGATE_SPOT".to_owned(),
                    weight: spot,
                    base: 0,
                });
            }
            items
        }
    }
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    let name = ctx.names.cluster();
    let wanted = !ctx.spec.is_empty();
    match (&ctx.observed.cluster, wanted) {
        (None, true) => changes.push(Change::new(
            address::cluster(),
            Action::Create,
            vec![
                FieldDiff::added("name", &name),
                FieldDiff::added("container_insights", true),
            ],
            ComputeStep::Cluster(ClusterStep::Create { name: name.clone() }),
        )),
        (Some(have), true) => {
            if have.container_insights == Some(false) {
                changes.push(Change::new(
                    address::cluster(),
                    Action::Update,
                    vec![FieldDiff::changed("container_insights", false, true)],
                    ComputeStep::Cluster(ClusterStep::EnableInsights { name: name.clone() }),
                ));
            } else {
                changes.push(Change::no_op(address::cluster()));
            }
        }
        (Some(have), false) => changes.push(Change::new(
            address::cluster(),
            Action::Delete,
            vec![FieldDiff::removed("name", &have.name)],
            ComputeStep::Cluster(ClusterStep::Delete {
                name: have.name.clone(),
            }),
        )),
        (None, false) => {}
    }

    // The cluster's providers and default strategy.
    let address = address::cluster_capacity_providers();
    let providers: Vec<String> = match ctx.spec.launch_type {
        LaunchType::Ec2 => provider_names(ctx).into_iter().collect(),
        LaunchType::Fargate => vec!["FARGATE".to_owned(), "FARGATE_SPOT".to_owned()],
    };
    let default_strategy = strategy(ctx, None);
    let have = ctx.observed.cluster.as_ref();
    let have_providers = have.map(|c| {
        let mut p = c.capacity_providers.clone();
        p.sort();
        p
    });
    let have_strategy = have.map(|c| {
        let mut s = c.default_strategy.clone();
        s.sort();
        s
    });
    if wanted {
        let mut want_strategy = default_strategy.clone();
        want_strategy.sort();
        if have_providers.as_ref() == Some(&providers)
            && have_strategy.as_ref() == Some(&want_strategy)
        {
            changes.push(Change::no_op(address));
        } else {
            let action = if have_providers.as_ref().is_none_or(|p| p.is_empty()) {
                Action::Create
            } else {
                Action::Update
            };
            let mut fields = Vec::new();
            if have_providers.as_ref() != Some(&providers) {
                fields.push(FieldDiff::new(
                    "providers",
                    have_providers.map(berth_core::FieldValue::of),
                    Some(berth_core::FieldValue::of(&providers)),
                ));
            }
            if have_strategy.as_ref() != Some(&want_strategy) {
                fields.push(FieldDiff::new(
                    "default_strategy",
                    have_strategy.map(berth_core::FieldValue::of),
                    Some(berth_core::FieldValue::of(&want_strategy)),
                ));
            }
            changes.push(Change::new(
                address,
                action,
                fields,
                ComputeStep::ClusterCapacityProviders(AttachStep::Put {
                    cluster: name,
                    providers,
                    default_strategy,
                }),
            ));
        }
    } else if let (Some(cluster), Some(p)) = (have, have_providers) {
        if !p.is_empty() {
            changes.push(Change::new(
                address,
                Action::Delete,
                vec![FieldDiff::removed("providers", &p)],
                ComputeStep::ClusterCapacityProviders(AttachStep::Detach {
                    cluster: cluster.name.clone(),
                }),
            ));
        }
    }
}

impl ClusterStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            ClusterStep::Delete { .. } => {
                vec![Phase::DeregisterContainerInstances, Phase::DeleteCluster]
            }
            _ => vec![Phase::Cluster],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        phase: Phase,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let ecs = ctx.apis.ecs();
        match self {
            ClusterStep::Create { name } => {
                // CreateCluster of an existing name returns it: a rerun after a crash is fine.
                ecs.create_cluster(name, &ctx.tags(name))
                    .await
                    .map_err(ComponentError::apply("creating", ctx.address.clone()))?;
            }
            ClusterStep::EnableInsights { name } => {
                ecs.enable_container_insights(name)
                    .await
                    .map_err(ComponentError::apply("updating", ctx.address.clone()))?;
            }
            ClusterStep::Delete { name } if phase == Phase::DeregisterContainerInstances => {
                // Instances of a deleted group that ECS still lists would keep the cluster.
                let fail = |e| {
                    ComponentError::apply(
                        "deregistering container instances of",
                        ctx.address.clone(),
                    )(e)
                };
                let instances = ecs
                    .container_instances(name)
                    .await
                    .ok_if_not_found_vec()
                    .map_err(fail)?;
                for arn in instances {
                    ecs.deregister_container_instance(name, &arn)
                        .await
                        .ok_if_not_found()
                        .map_err(fail)?;
                }
            }
            ClusterStep::Delete { name } => {
                let wait =
                    WaitFor::new(format!("cluster {name} to be deleted"), ctx.timeouts.in_use);
                wait_for(&wait, ctx.reporter, || async {
                    match ecs.delete_cluster(name).await.ok_if_not_found() {
                        Ok(()) => Ok(Poll::Ready(())),
                        // Tasks or instances still leaving: try again.
                        Err(e)
                            if e.code
                                .as_deref()
                                .is_some_and(|c| c.starts_with("ClusterContains")) =>
                        {
                            Ok(Poll::Pending(e.message.clone()))
                        }
                        Err(e) => Err(e),
                    }
                })
                .await
                .map_err(|e| ComponentError::wait(ctx.address, e))?;
            }
        }
        Ok(vec![])
    }
}

/// `[]` for a list of something whose parent is gone.
trait VecNotFound<T> {
    fn ok_if_not_found_vec(self) -> Result<Vec<T>, berth_core::AwsError>;
}

impl<T> VecNotFound<T> for Result<Vec<T>, berth_core::AwsError> {
    fn ok_if_not_found_vec(self) -> Result<Vec<T>, berth_core::AwsError> {
        self.none_if_not_found().map(Option::unwrap_or_default)
    }
}

impl AttachStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            AttachStep::Put { .. } => vec![Phase::ClusterCapacityProviders],
            AttachStep::Detach { .. } => vec![Phase::DetachCapacityProviders],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let ecs = ctx.apis.ecs();
        match self {
            AttachStep::Put {
                cluster,
                providers,
                default_strategy,
            } => ecs
                .put_cluster_capacity_providers(cluster, providers, default_strategy)
                .await
                .map_err(ComponentError::apply("updating", ctx.address.clone()))?,
            AttachStep::Detach { cluster } => ecs
                .put_cluster_capacity_providers(cluster, &[], &[])
                .await
                .ok_if_not_found()
                .map_err(ComponentError::apply("detaching", ctx.address.clone()))?,
        }
        Ok(vec![])
    }
}
