//! The database component: the `Database` type over its two facades, what it observes, the
//! step enum, the top-level plan (each family planned in its own file: `secrets`, `groups`,
//! `cluster`, `instances`), the phases steps run in, and the `Component` impl.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{
    apply_phased, Address, AwsError, Change, Component, ComponentError, Grants, Phased, Plan,
    Reporter, Stack,
};
use futures::future::try_join_all;

use crate::api::*;
use crate::instances::instance_index;
use crate::{cluster, groups, instances, secrets};
use crate::{names, DatabaseInputs, DatabaseOutputs, DatabaseSpec, Engine, PlacedSpec, COMPONENT};

/// Creating a cluster or instance takes 10+ minutes on AWS; deleting one, several.
pub(crate) const DATABASE_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// Everything of the stack's database that exists: only what carries the stack's and the
/// component's tags. What has a name the stack uses but is not the stack's is noted as
/// foreign: never adopted, changed or deleted, and a create of its name is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseObserved {
    pub cluster: Option<ObservedCluster>,
    /// A cluster named `<stack>-db` exists but is not tagged for the stack.
    pub foreign_cluster: bool,
    /// Instances by index (`<stack>-db-<index>`).
    pub instances: BTreeMap<u8, ObservedInstance>,
    /// Ids of instances in the stack's cluster that are not the stack's.
    pub foreign_instances: BTreeSet<String>,
    /// The subnet ids of the stack's subnet group.
    pub subnet_group: Option<Vec<String>>,
    /// A subnet group named `<stack>-db` exists but is not the stack's.
    pub foreign_subnet_group: bool,
    /// The stack's parameter groups and their user-set parameters.
    pub parameter_groups: BTreeMap<String, BTreeMap<String, String>>,
    /// Names of parameter groups with the stack's prefix that are not the stack's (another
    /// stack's whose name extends this one's, say `prod-db-eu`'s for `prod`).
    pub foreign_parameter_groups: BTreeSet<String>,
    pub master_secret: Option<ObservedSecret>,
    pub url_secret: Option<ObservedSecret>,
    /// Names of secrets under the stack's secret path that are not the stack's.
    pub foreign_secrets: BTreeSet<String>,
}

/// One step of a database plan: what to do, with the spec it carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStep {
    pub action: DbAction,
    pub spec: Option<std::sync::Arc<PlacedSpec>>,
}

/// What a database step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbAction {
    /// Generates the master password into a new secret, or restores one scheduled for deletion.
    EnsureMasterSecret {
        restore: bool,
    },
    CreateSubnetGroup,
    UpdateSubnetGroup,
    /// Creates the group (unless it exists) and sets the TLS parameter.
    SyncParameterGroup {
        name: String,
        family: String,
        create: bool,
    },
    CreateCluster,
    ModifyCluster {
        changes: ClusterChanges,
    },
    /// Engine change: delete (final snapshot) and create again, instances included.
    ReplaceCluster,
    CreateInstance {
        index: u8,
    },
    ResizeInstances {
        ids_in_order: Vec<String>,
    },
    DeleteInstance {
        id: String,
    },
    PutUrlSecret {
        create: bool,
    },
    DeleteCluster {
        lift_protection: bool,
        final_snapshot: bool,
        instance_ids: Vec<String>,
    },
    DeleteSubnetGroup,
    DeleteParameterGroup {
        name: String,
    },
    DeleteSecret {
        name: String,
        force: bool,
    },
}

/// Refuses the create of a name that something not the stack's already has.
pub(crate) fn refuse_if_foreign(
    change: Change<DbAction>,
    stack: &Stack,
    kind: &str,
    name: &str,
    foreign: bool,
) -> Change<DbAction> {
    if foreign {
        change.refuse(stack.foreign_refusal(COMPONENT, kind, name))
    } else {
        change
    }
}

/// The pure plan.
pub fn plan(
    stack: &Stack,
    spec: &Option<DatabaseSpec>,
    inputs: &DatabaseInputs,
    obs: &DatabaseObserved,
    grants: &Grants,
) -> Plan<DbStep> {
    let changes = match spec {
        Some(spec) => plan_present(stack, spec, inputs, grants, obs),
        None => plan_absent(stack, grants, obs),
    };
    let spec = spec.clone().map(|spec| {
        std::sync::Arc::new(PlacedSpec {
            spec,
            inputs: inputs.clone(),
        })
    });
    Plan::new(
        changes
            .into_iter()
            .map(|c| Change {
                address: c.address,
                action: c.action,
                fields: c.fields,
                refused: c.refused,
                step: c.step.map(|action| DbStep {
                    action,
                    spec: spec.clone(),
                }),
            })
            .collect(),
    )
}

fn plan_present(
    stack: &Stack,
    spec: &DatabaseSpec,
    inputs: &DatabaseInputs,
    grants: &Grants,
    obs: &DatabaseObserved,
) -> Vec<Change<DbAction>> {
    let mut changes = Vec::new();
    let family = spec.engine.family(&spec.engine_version);
    let group_name = names::parameter_group(stack, &family);
    secrets::plan_master_secret(stack, obs, &mut changes);
    groups::plan_subnet_group(stack, inputs, obs, &mut changes);
    groups::plan_parameter_group(stack, spec, &family, &group_name, obs, &mut changes);
    let replacing =
        cluster::plan_cluster(stack, spec, inputs, grants, &group_name, obs, &mut changes);
    instances::plan_instances(stack, spec, replacing, obs, &mut changes);
    secrets::plan_url_secret(stack, spec, replacing, obs, &mut changes);
    groups::plan_old_parameter_groups(stack, &group_name, obs, &mut changes);
    changes
}

fn plan_absent(stack: &Stack, grants: &Grants, obs: &DatabaseObserved) -> Vec<Change<DbAction>> {
    let mut changes = Vec::new();
    cluster::plan_cluster_absent(stack, grants, obs, &mut changes);
    instances::plan_instances_absent(obs, &mut changes);
    groups::plan_groups_absent(stack, obs, &mut changes);
    secrets::plan_secrets_absent(obs, &mut changes);
    changes
}

/// The database component over its two facades.
#[derive(Debug, Clone)]
pub struct Database<R, S> {
    pub(crate) rds: R,
    pub(crate) secrets: S,
}

pub(crate) fn apply_err<'a>(
    action: &'static str,
    address: &'a Address,
) -> impl Fn(AwsError) -> ComponentError + 'a {
    move |source| ComponentError::Apply {
        action,
        address: address.to_string(),
        source,
    }
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    pub fn new(rds: R, secrets: S) -> Self {
        Self { rds, secrets }
    }

    pub(crate) fn wait_error(
        address: &Address,
    ) -> impl Fn(berth_core::WaitError<AwsError>) -> ComponentError + '_ {
        move |e| ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(e),
        }
    }

    /// Runs one step through the family its resource belongs to.
    async fn run(
        &self,
        stack: &Stack,
        change: &Change<DbStep>,
        step: &DbStep,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        match &step.action {
            DbAction::EnsureMasterSecret { .. }
            | DbAction::PutUrlSecret { .. }
            | DbAction::DeleteSecret { .. } => self.run_secrets_step(stack, change, step).await,
            DbAction::CreateSubnetGroup
            | DbAction::UpdateSubnetGroup
            | DbAction::SyncParameterGroup { .. }
            | DbAction::DeleteSubnetGroup
            | DbAction::DeleteParameterGroup { .. } => {
                self.run_groups_step(stack, change, step).await
            }
            DbAction::CreateCluster
            | DbAction::ModifyCluster { .. }
            | DbAction::ReplaceCluster
            | DbAction::DeleteCluster { .. } => {
                self.run_cluster_step(stack, change, step, reporter).await
            }
            DbAction::CreateInstance { .. }
            | DbAction::ResizeInstances { .. }
            | DbAction::DeleteInstance { .. } => {
                self.run_instances_step(stack, change, step, reporter).await
            }
        }
    }
}

/// The order the database's resources are created in, then deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DbPhase {
    /// The master secret, the subnet and parameter groups.
    Prerequisites,
    Cluster,
    Instances,
    /// New instance classes, readers first.
    Resize,
    /// The URL secret, once the endpoint exists.
    Url,
    DeleteInstances,
    /// The cluster, with its final snapshot.
    DeleteCluster,
    /// What the cluster used: groups and secrets.
    DeleteRest,
}

impl Phased for DbStep {
    type Phase = DbPhase;

    fn phases(&self) -> Vec<DbPhase> {
        vec![match &self.action {
            DbAction::EnsureMasterSecret { .. }
            | DbAction::CreateSubnetGroup
            | DbAction::UpdateSubnetGroup
            | DbAction::SyncParameterGroup { .. } => DbPhase::Prerequisites,
            DbAction::CreateCluster | DbAction::ModifyCluster { .. } | DbAction::ReplaceCluster => {
                DbPhase::Cluster
            }
            DbAction::CreateInstance { .. } => DbPhase::Instances,
            DbAction::ResizeInstances { .. } => DbPhase::Resize,
            DbAction::PutUrlSecret { .. } => DbPhase::Url,
            DbAction::DeleteInstance { .. } => DbPhase::DeleteInstances,
            DbAction::DeleteCluster { .. } => DbPhase::DeleteCluster,
            DbAction::DeleteSubnetGroup
            | DbAction::DeleteParameterGroup { .. }
            | DbAction::DeleteSecret { .. } => DbPhase::DeleteRest,
        }]
    }
}

#[async_trait]
impl<R: RdsApi, S: SecretsApi> Component for Database<R, S> {
    /// `None`: the stack has no database (deleted only with `Grants::delete_database`).
    type Spec = Option<DatabaseSpec>;
    type Inputs = DatabaseInputs;
    type Observed = DatabaseObserved;
    type Step = DbStep;
    type Outputs = DatabaseOutputs;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    /// The cluster by name and its instances (one call), the subnet group by name, the
    /// parameter groups with the stack's prefix (one paged list), the stack's secrets (one
    /// list); then the tags of the subnet and parameter groups (RDS lists them apart), and the
    /// parameters of the stack's parameter groups. Only what the tags say is the stack's is
    /// kept; what is named like it but is not, is noted as foreign.
    async fn observe(&self, stack: &Stack) -> Result<DatabaseObserved, ComponentError> {
        let observe_err = |what| move |source| ComponentError::Observe { what, source };
        let cluster_id = names::cluster(stack);
        let prefix = format!("{}-", names::cluster(stack));
        let (cluster, instances, subnet_group, groups, secrets) = futures::try_join!(
            async {
                self.rds
                    .cluster(&cluster_id)
                    .await
                    .map_err(observe_err("database cluster"))
            },
            async {
                self.rds
                    .instances(&cluster_id)
                    .await
                    .map_err(observe_err("database instances"))
            },
            async {
                self.rds
                    .subnet_group(&names::subnet_group(stack))
                    .await
                    .map_err(observe_err("database subnet group"))
            },
            async {
                self.rds
                    .parameter_groups(&prefix)
                    .await
                    .map_err(observe_err("database parameter groups"))
            },
            async {
                self.secrets
                    .secrets(&format!("berth/{}/database/", stack.name()))
                    .await
                    .map_err(observe_err("database secrets"))
            },
        )?;
        // Names and prefixes only find candidates; their tags say which are the stack's.
        let ours = |tags: &BTreeMap<String, String>| stack.owns(COMPONENT, tags);
        let (subnet_group_tags, group_tags) = futures::try_join!(
            async {
                match &subnet_group {
                    Some(group) => self.rds.tags(&group.arn).await.map(Some),
                    None => Ok(None),
                }
                .map_err(observe_err("database subnet group tags"))
            },
            try_join_all(groups.iter().map(|group| async move {
                self.rds
                    .tags(&group.arn)
                    .await
                    .map_err(observe_err("database parameter group tags"))
            })),
        )?;
        let foreign_subnet_group =
            subnet_group.is_some() && !subnet_group_tags.is_some_and(|t| ours(&t));
        let subnet_group = subnet_group
            .filter(|_| !foreign_subnet_group)
            .map(|g| g.subnet_ids);
        let (groups, foreign_groups): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .zip(group_tags)
            .partition(|(_, tags)| ours(tags));
        let parameter_groups = try_join_all(groups.into_iter().map(|(group, _)| async move {
            let parameters = self
                .rds
                .parameters(&group.name)
                .await
                .map_err(observe_err("database parameters"))?;
            Ok::<_, ComponentError>((group.name, parameters))
        }))
        .await?
        .into_iter()
        .collect();
        let (secrets, foreign_secrets): (Vec<_>, Vec<_>) =
            secrets.into_iter().partition(|s| ours(&s.tags));
        let find = |name: String| secrets.iter().find(|s| s.name == name).cloned();
        let master_secret = find(names::master_secret(stack));
        let url_secret = find(names::url_secret(stack));
        let (cluster, foreign_cluster) = match cluster {
            Some(c) if ours(&c.tags) => (Some(c), false),
            Some(_) => (None, true),
            None => (None, false),
        };
        // Someone else's cluster's instances are not looked at; in the stack's cluster, an
        // instance without the stack's tags is someone else's.
        let (instances, foreign_instances): (Vec<_>, Vec<_>) = if foreign_cluster {
            (Vec::new(), Vec::new())
        } else {
            instances.into_iter().partition(|i| ours(&i.tags))
        };
        let writers = cluster
            .as_ref()
            .map(|c| c.writers.clone())
            .unwrap_or_default();
        Ok(DatabaseObserved {
            instances: instances
                .into_iter()
                .map(|i| ObservedInstance {
                    writer: writers.contains(&i.id),
                    ..i
                })
                .filter_map(|i| Some((instance_index(stack, &i.id)?, i)))
                .collect(),
            foreign_instances: foreign_instances.into_iter().map(|i| i.id).collect(),
            cluster,
            foreign_cluster,
            subnet_group,
            foreign_subnet_group,
            parameter_groups,
            foreign_parameter_groups: foreign_groups.into_iter().map(|(g, _)| g.name).collect(),
            master_secret,
            url_secret,
            foreign_secrets: foreign_secrets.into_iter().map(|s| s.name).collect(),
        })
    }

    fn plan(
        &self,
        stack: &Stack,
        spec: &Option<DatabaseSpec>,
        inputs: &DatabaseInputs,
        observed: &DatabaseObserved,
        grants: &Grants,
    ) -> Plan<DbStep> {
        plan(stack, spec, inputs, observed, grants)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<DbStep>,
        _observed: &DatabaseObserved,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        apply_phased(
            plan,
            (),
            reporter,
            |change, step, _, _| async move {
                self.run(stack, change, step, reporter)
                    .await
                    .map(|()| Vec::<()>::new())
            },
            |_, ()| {},
        )
        .await
        .map(drop)
    }

    fn outputs(&self, _stack: &Stack, observed: &DatabaseObserved) -> DatabaseOutputs {
        let engine = observed.cluster.as_ref().map(|c| c.engine.clone());
        DatabaseOutputs {
            endpoint: observed.cluster.as_ref().and_then(|c| c.endpoint.clone()),
            reader_endpoint: observed
                .cluster
                .as_ref()
                .and_then(|c| c.reader_endpoint.clone()),
            port: observed.cluster.as_ref().map(|c| c.port),
            url_secret_arn: observed
                .url_secret
                .as_ref()
                .filter(|s| !s.deleted)
                .map(|s| s.arn.clone()),
            url_variable: engine.map(|e| {
                if e == Engine::Docdb.as_str() {
                    Engine::Docdb
                } else {
                    Engine::AuroraPostgresql
                }
                .url_variable()
                .to_owned()
            }),
            master_secret_arn: observed
                .master_secret
                .as_ref()
                .filter(|s| !s.deleted)
                .map(|s| s.arn.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
