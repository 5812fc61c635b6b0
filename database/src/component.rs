//! The database component: observe, the pure plan, and apply with waits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use berth_core::{
    apply_phased, wait_for, Action, Address, AwsError, AwsResultExt, Change, Component,
    ComponentError, Event, FieldDiff, FieldValue, Grants, Phased, Plan, Poll, Reporter, Stack,
    WaitFor, KNOWN_AFTER_APPLY,
};
use futures::future::try_join_all;

use crate::api::*;
use crate::{
    address, names, DatabaseInputs, DatabaseOutputs, DatabaseSpec, Engine, PlacedSpec, COMPONENT,
    PASSWORD_LENGTH,
};

/// Creating a cluster or instance takes 10+ minutes on AWS; deleting one, several.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(45 * 60);

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

/// The master password inside the master secret (a JSON document with `password`).
fn master_password(secret: &ObservedSecret) -> Option<String> {
    let value = secret.value.as_ref()?;
    let json: serde_json::Value = serde_json::from_str(value).ok()?;
    json.get("password")?.as_str().map(str::to_owned)
}

fn instance_index(stack: &Stack, id: &str) -> Option<u8> {
    id.strip_prefix(&format!("{}-", names::cluster(stack)))?
        .parse()
        .ok()
}

/// Refuses the create of a name that something not the stack's already has.
fn refuse_if_foreign(
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

/// Deleting or replacing the cluster would take instances that are not the stack's with it.
fn foreign_instances_refusal(cluster: &str, obs: &DatabaseObserved) -> Option<String> {
    (!obs.foreign_instances.is_empty()).then(|| {
        format!(
            "cluster {cluster} holds instances that are not the stack's ({}); berth deletes only \
             the stack's own: remove them first",
            obs.foreign_instances
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
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
    let (tls_name, tls_value) = spec.engine.tls_parameter();

    // The master secret.
    match &obs.master_secret {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::master_secret(),
                Action::Create,
                vec![
                    FieldDiff::added("name", names::master_secret(stack)),
                    FieldDiff::sensitive("password", false, true),
                ],
                DbAction::EnsureMasterSecret { restore: false },
            ),
            stack,
            "secret",
            &names::master_secret(stack),
            obs.foreign_secrets.contains(&names::master_secret(stack)),
        )),
        Some(secret) if secret.deleted => changes.push(Change::new(
            address::master_secret(),
            Action::Update,
            vec![FieldDiff::changed("scheduled_for_deletion", true, false)],
            DbAction::EnsureMasterSecret { restore: true },
        )),
        Some(_) => changes.push(Change::no_op(address::master_secret())),
    }

    // Subnet group over the data subnets.
    let wanted_subnets = inputs.data_subnet_ids.now().cloned().map(|mut s| {
        s.sort();
        s
    });
    match (&obs.subnet_group, &wanted_subnets) {
        (None, _) => changes.push(refuse_if_foreign(
            Change::new(
                address::subnet_group(),
                Action::Create,
                vec![FieldDiff::added(
                    "subnets",
                    wanted_subnets
                        .as_ref()
                        .map_or(KNOWN_AFTER_APPLY.to_owned(), |s| s.join(",")),
                )],
                DbAction::CreateSubnetGroup,
            ),
            stack,
            "DB subnet group",
            &names::subnet_group(stack),
            obs.foreign_subnet_group,
        )),
        (Some(have), Some(want)) => {
            let mut have = have.clone();
            have.sort();
            if &have == want {
                changes.push(Change::no_op(address::subnet_group()));
            } else {
                changes.push(Change::new(
                    address::subnet_group(),
                    Action::Update,
                    vec![FieldDiff::changed(
                        "subnets",
                        have.join(","),
                        want.join(","),
                    )],
                    DbAction::UpdateSubnetGroup,
                ));
            }
        }
        (Some(_), None) => changes.push(Change::no_op(address::subnet_group())),
    }

    // Parameter group forcing TLS.
    match obs.parameter_groups.get(&group_name) {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::parameter_group(&family.replace('.', "-")),
                Action::Create,
                vec![
                    FieldDiff::added("family", &family),
                    FieldDiff::added(tls_name, tls_value),
                ],
                DbAction::SyncParameterGroup {
                    name: group_name.clone(),
                    family: family.clone(),
                    create: true,
                },
            ),
            stack,
            "cluster parameter group",
            &group_name,
            obs.foreign_parameter_groups.contains(&group_name),
        )),
        Some(params) if params.get(tls_name).map(String::as_str) != Some(tls_value) => changes
            .push(Change::new(
                address::parameter_group(&family.replace('.', "-")),
                Action::Update,
                vec![FieldDiff::new(
                    tls_name,
                    params.get(tls_name).map(FieldValue::of),
                    Some(FieldValue::of(tls_value)),
                )],
                DbAction::SyncParameterGroup {
                    name: group_name.clone(),
                    family: family.clone(),
                    create: false,
                },
            )),
        Some(_) => changes.push(Change::no_op(address::parameter_group(
            &family.replace('.', "-"),
        ))),
    }

    // The cluster.
    let mut replacing = false;
    match &obs.cluster {
        None => {
            let mut fields = vec![
                FieldDiff::added("identifier", names::cluster(stack)),
                FieldDiff::added("engine", spec.engine.as_str()),
                FieldDiff::added("engine_version", &spec.engine_version),
                FieldDiff::added("port", spec.port),
                FieldDiff::added("master_username", &spec.master_username),
                FieldDiff::sensitive("master_password", false, true),
                FieldDiff::added("storage_encrypted", true),
                FieldDiff::added("backup_retention_days", spec.backup_retention_days),
                FieldDiff::added("backup_window", &spec.backup_window),
                FieldDiff::added("maintenance_window", &spec.maintenance_window),
                FieldDiff::added("deletion_protection", spec.deletion_protection),
            ];
            if let Some(key) = &spec.kms_key_arn {
                fields.push(FieldDiff::added("kms_key_arn", key));
            }
            let change = Change::new(
                address::cluster(),
                Action::Create,
                fields,
                DbAction::CreateCluster,
            );
            changes.push(refuse_if_foreign(
                change,
                stack,
                "cluster",
                &names::cluster(stack),
                obs.foreign_cluster,
            ));
        }
        Some(have) => {
            let fixed: Vec<FieldDiff> = [
                ("engine", have.engine.as_str(), spec.engine.as_str()),
                ("port", &have.port.to_string(), &spec.port.to_string()),
                (
                    "master_username",
                    &have.master_username,
                    &spec.master_username,
                ),
            ]
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(name, a, b)| FieldDiff::changed(name, a, b))
            .collect();
            let encryption_changed = !have.storage_encrypted
                || (spec.kms_key_arn.is_some() && have.kms_key_arn != spec.kms_key_arn);
            if !fixed.is_empty() || encryption_changed {
                replacing = true;
                let mut fields = fixed;
                if encryption_changed {
                    fields.push(FieldDiff::changed(
                        "kms_key_arn",
                        &have.kms_key_arn,
                        &spec.kms_key_arn,
                    ));
                }
                let change = Change::new(
                    address::cluster(),
                    Action::Replace,
                    fields,
                    DbAction::ReplaceCluster,
                );
                changes.push(if let Some(reason) = foreign_instances_refusal(&have.id, obs) {
                    change.refuse(reason)
                } else if grants.replace_database {
                    change
                } else {
                    change.refuse(format!(
                        "the engine, port, user or encryption of cluster {} cannot change in place: the database would be \
                         deleted (after a final snapshot) and created empty; allow it with --replace-database",
                        have.id
                    ))
                });
            } else if have.engine_version != spec.engine_version {
                changes.push(
                    Change::new(
                        address::cluster(),
                        Action::Update,
                        vec![FieldDiff::changed("engine_version", &have.engine_version, &spec.engine_version)],
                        DbAction::ModifyCluster { changes: ClusterChanges::default() },
                    )
                    .refuse(format!(
                        "berth does not upgrade engines in place; upgrade cluster {} from {} to {} in the console or CLI, \
                         or set engine_version back to {}",
                        have.id, have.engine_version, spec.engine_version, have.engine_version
                    )),
                );
            } else {
                let mut fields = Vec::new();
                let mut diff = ClusterChanges::default();
                if have.backup_retention_days != spec.backup_retention_days {
                    fields.push(FieldDiff::changed(
                        "backup_retention_days",
                        have.backup_retention_days,
                        spec.backup_retention_days,
                    ));
                    diff.backup_retention_days = Some(spec.backup_retention_days);
                }
                if have.backup_window != spec.backup_window {
                    fields.push(FieldDiff::changed(
                        "backup_window",
                        &have.backup_window,
                        &spec.backup_window,
                    ));
                    diff.backup_window = Some(spec.backup_window.clone());
                }
                if !have
                    .maintenance_window
                    .eq_ignore_ascii_case(&spec.maintenance_window)
                {
                    fields.push(FieldDiff::changed(
                        "maintenance_window",
                        &have.maintenance_window,
                        &spec.maintenance_window,
                    ));
                    diff.maintenance_window = Some(spec.maintenance_window.clone());
                }
                if have.deletion_protection != spec.deletion_protection {
                    fields.push(FieldDiff::changed(
                        "deletion_protection",
                        have.deletion_protection,
                        spec.deletion_protection,
                    ));
                    diff.deletion_protection = Some(spec.deletion_protection);
                }
                if let Some(group) = inputs.security_group_id.now() {
                    if have.security_group_ids != [group.clone()] {
                        fields.push(FieldDiff::changed(
                            "security_groups",
                            &have.security_group_ids,
                            [group],
                        ));
                        diff.security_group_ids = Some(vec![group.clone()]);
                    }
                }
                if have.parameter_group != group_name {
                    fields.push(FieldDiff::changed(
                        "parameter_group",
                        &have.parameter_group,
                        &group_name,
                    ));
                    diff.parameter_group = Some(group_name.clone());
                }
                if diff.is_empty() {
                    changes.push(Change::no_op(address::cluster()));
                } else {
                    changes.push(Change::new(
                        address::cluster(),
                        Action::Update,
                        fields,
                        DbAction::ModifyCluster { changes: diff },
                    ));
                }
            }
        }
    }

    // Instances: 1..=count; a class change goes instance by instance, readers first.
    let mut resize: Vec<&ObservedInstance> = Vec::new();
    for index in 1..=spec.instance_count {
        let addr = address::instance(index);
        match obs.instances.get(&index) {
            _ if replacing => changes.push(Change {
                address: addr,
                action: Action::Replace,
                fields: vec![FieldDiff::added("class", &spec.instance_class)],
                refused: None,
                step: None, // carried by the cluster's replacement
            }),
            None => changes.push(refuse_if_foreign(
                Change::new(
                    addr,
                    Action::Create,
                    vec![
                        FieldDiff::added("identifier", names::instance(stack, index)),
                        FieldDiff::added("class", &spec.instance_class),
                    ],
                    DbAction::CreateInstance { index },
                ),
                stack,
                "database instance",
                &names::instance(stack, index),
                obs.foreign_instances
                    .contains(&names::instance(stack, index)),
            )),
            Some(have) if have.class != spec.instance_class => {
                resize.push(have);
                changes.push(Change {
                    address: addr,
                    action: Action::Update,
                    fields: vec![FieldDiff::changed(
                        "class",
                        &have.class,
                        &spec.instance_class,
                    )],
                    refused: None,
                    step: None, // carried by one sequential resize step
                });
            }
            Some(_) => changes.push(Change::no_op(addr)),
        }
    }
    if !resize.is_empty() {
        resize.sort_by_key(|i| (i.writer, i.id.clone()));
        let ids_in_order: Vec<String> = resize.iter().map(|i| i.id.clone()).collect();
        // The first resized instance's change carries the sequential step.
        let first = address::instance(instance_index(stack, &ids_in_order[0]).unwrap_or(1));
        if let Some(change) = changes.iter_mut().find(|c| c.address == first) {
            change.step = Some(DbAction::ResizeInstances { ids_in_order });
        }
    }
    for (index, have) in &obs.instances {
        if *index > spec.instance_count || *index == 0 {
            changes.push(Change::new(
                address::instance(*index),
                Action::Delete,
                vec![
                    FieldDiff::removed("identifier", &have.id),
                    FieldDiff::removed("writer", have.writer),
                ],
                DbAction::DeleteInstance {
                    id: have.id.clone(),
                },
            ));
        }
    }

    // The URL secret follows the master password and the endpoint.
    let desired_url = match (
        &obs.cluster,
        obs.master_secret.as_ref().and_then(master_password),
    ) {
        (Some(cluster), Some(password)) if !replacing => cluster.endpoint.as_ref().map(|host| {
            spec.engine.url(
                &spec.master_username,
                &password,
                host,
                spec.port,
                &spec.database_name,
            )
        }),
        _ => None,
    };
    match &obs.url_secret {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::url_secret(),
                Action::Create,
                vec![
                    FieldDiff::added("name", names::url_secret(stack)),
                    FieldDiff::sensitive("url", false, true),
                ],
                DbAction::PutUrlSecret { create: true },
            ),
            stack,
            "secret",
            &names::url_secret(stack),
            obs.foreign_secrets.contains(&names::url_secret(stack)),
        )),
        Some(have) if have.deleted || desired_url.is_none() || have.value != desired_url => changes
            .push(Change::new(
                address::url_secret(),
                Action::Update,
                vec![FieldDiff::sensitive("url", true, true)],
                DbAction::PutUrlSecret { create: false },
            )),
        Some(_) => changes.push(Change::no_op(address::url_secret())),
    }

    // Parameter groups of another family (after an engine change) go.
    for name in obs.parameter_groups.keys().filter(|n| **n != group_name) {
        changes.push(Change {
            address: address::parameter_group(
                name.strip_prefix(&format!("{}-db-", stack.name()))
                    .unwrap_or(name),
            ),
            action: Action::Delete,
            fields: vec![FieldDiff::removed("name", name)],
            refused: None,
            step: Some(DbAction::DeleteParameterGroup { name: name.clone() }),
        });
    }
    changes
}

fn plan_absent(stack: &Stack, grants: &Grants, obs: &DatabaseObserved) -> Vec<Change<DbAction>> {
    let mut changes = Vec::new();
    let instance_ids: Vec<String> = obs.instances.values().map(|i| i.id.clone()).collect();
    if let Some(cluster) = &obs.cluster {
        let snapshot = if grants.skip_final_snapshot {
            "(skipped: --skip-final-snapshot)".to_owned()
        } else {
            format!("{}-final-<UTC timestamp>", stack.name())
        };
        let change = Change::new(
            address::cluster(),
            Action::Delete,
            vec![
                FieldDiff::removed("identifier", &cluster.id),
                FieldDiff::added("final_snapshot", snapshot),
            ],
            DbAction::DeleteCluster {
                lift_protection: cluster.deletion_protection,
                final_snapshot: !grants.skip_final_snapshot,
                instance_ids: instance_ids.clone(),
            },
        );
        let foreign = foreign_instances_refusal(&cluster.id, obs);
        changes.push(match (grants.delete_database, cluster.deletion_protection) {
            _ if foreign.is_some() => change.refuse(foreign.unwrap_or_default()),
            (true, _) => change,
            (false, true) => change.refuse(format!(
                "cluster {} has deletion protection on; delete it only with --delete-database, which lifts the \
                 protection and takes a final snapshot first (unless --skip-final-snapshot)",
                cluster.id
            )),
            (false, false) => change.refuse(format!(
                "deleting cluster {} deletes its data; allow it with --delete-database (a final snapshot is taken \
                 first unless --skip-final-snapshot)",
                cluster.id
            )),
        });
        for (index, instance) in &obs.instances {
            changes.push(Change {
                address: address::instance(*index),
                action: Action::Delete,
                fields: vec![FieldDiff::removed("identifier", &instance.id)],
                refused: None,
                step: None, // the cluster's deletion deletes its instances first
            });
        }
    } else {
        for (index, instance) in &obs.instances {
            changes.push(Change::new(
                address::instance(*index),
                Action::Delete,
                vec![FieldDiff::removed("identifier", &instance.id)],
                DbAction::DeleteInstance {
                    id: instance.id.clone(),
                },
            ));
        }
    }
    if obs.subnet_group.is_some() {
        changes.push(Change::new(
            address::subnet_group(),
            Action::Delete,
            vec![FieldDiff::removed("name", names::subnet_group(stack))],
            DbAction::DeleteSubnetGroup,
        ));
    }
    for name in obs.parameter_groups.keys() {
        changes.push(Change::new(
            address::parameter_group(
                name.strip_prefix(&format!("{}-db-", stack.name()))
                    .unwrap_or(name),
            ),
            Action::Delete,
            vec![FieldDiff::removed("name", name)],
            DbAction::DeleteParameterGroup { name: name.clone() },
        ));
    }
    if let Some(secret) = obs.master_secret.as_ref().filter(|s| !s.deleted) {
        changes.push(Change::new(
            address::master_secret(),
            Action::Delete,
            vec![
                FieldDiff::removed("name", &secret.name),
                FieldDiff::added("recoverable_for_days", 7),
            ],
            DbAction::DeleteSecret {
                name: secret.name.clone(),
                force: false,
            },
        ));
    }
    if let Some(secret) = obs.url_secret.as_ref().filter(|s| !s.deleted) {
        changes.push(Change::new(
            address::url_secret(),
            Action::Delete,
            vec![FieldDiff::removed("name", &secret.name)],
            DbAction::DeleteSecret {
                name: secret.name.clone(),
                force: true,
            },
        ));
    }
    changes
}

/// `prod-final-20261122-201500`.
pub fn final_snapshot_name(stack: &Stack, now: SystemTime) -> String {
    format!(
        "{}-final-{}",
        stack.name(),
        berth_core::UtcTime::from_system_time(now).compact()
    )
}

/// The database component over its two facades.
#[derive(Debug, Clone)]
pub struct Database<R, S> {
    rds: R,
    secrets: S,
}

fn apply_err<'a>(
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

    fn wait_error(
        address: &Address,
    ) -> impl Fn(berth_core::WaitError<AwsError>) -> ComponentError + '_ {
        move |e| ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(e),
        }
    }

    async fn wait_cluster(
        &self,
        stack: &Stack,
        reporter: &dyn Reporter,
        gone: bool,
    ) -> Result<Option<ObservedCluster>, ComponentError> {
        let id = names::cluster(stack);
        let addr = address::cluster();
        let what = format!(
            "database cluster {id} to be {}",
            if gone { "deleted" } else { "available" }
        );
        wait_for(&WaitFor::new(what, DATABASE_TIMEOUT), reporter, || async {
            let cluster = self.rds.cluster(&id).await?;
            Ok(match (cluster, gone) {
                (None, true) => Poll::Ready(None),
                (None, false) => Poll::Failed("the cluster disappeared".into()),
                (Some(c), false) if c.status == "available" => Poll::Ready(Some(c)),
                (Some(c), _)
                    if matches!(
                        c.status.as_str(),
                        "failed"
                            | "inaccessible-encryption-credentials"
                            | "incompatible-parameters"
                    ) =>
                {
                    Poll::Failed(format!("the cluster is {}", c.status))
                }
                (Some(c), _) => Poll::Pending(c.status),
            })
        })
        .await
        .map_err(Self::wait_error(&addr))
    }

    async fn wait_instance(
        &self,
        stack: &Stack,
        id: &str,
        reporter: &dyn Reporter,
        gone: bool,
    ) -> Result<(), ComponentError> {
        let cluster = names::cluster(stack);
        let addr = address::instance(instance_index(stack, id).unwrap_or(0));
        let what = format!(
            "database instance {id} to be {}",
            if gone { "deleted" } else { "available" }
        );
        wait_for(&WaitFor::new(what, DATABASE_TIMEOUT), reporter, || async {
            let instances = self.rds.instances(&cluster).await?;
            let instance = instances.into_iter().find(|i| i.id == id);
            Ok(match (instance, gone) {
                (None, true) => Poll::Ready(()),
                (None, false) => Poll::Failed("the instance disappeared".into()),
                (Some(i), false) if i.status == "available" => Poll::Ready(()),
                (Some(i), _)
                    if matches!(
                        i.status.as_str(),
                        "failed" | "incompatible-parameters" | "storage-full"
                    ) =>
                {
                    Poll::Failed(format!("the instance is {}", i.status))
                }
                (Some(i), _) => Poll::Pending(i.status),
            })
        })
        .await
        .map_err(Self::wait_error(&addr))
    }

    async fn master_password(
        &self,
        stack: &Stack,
        addr: &Address,
    ) -> Result<String, ComponentError> {
        let secret = self
            .secrets
            .secret(&names::master_secret(stack))
            .await
            .map_err(apply_err("reading the master secret for", addr))?;
        secret
            .as_ref()
            .and_then(master_password)
            .ok_or_else(|| ComponentError::Missing {
                address: addr.to_string(),
                needs: "the master secret".into(),
            })
    }

    async fn create_cluster(
        &self,
        stack: &Stack,
        spec: &PlacedSpec,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let addr = address::cluster();
        let security_group = spec
            .inputs
            .security_group_id
            .now()
            .cloned()
            .ok_or_else(|| ComponentError::Missing {
                address: addr.to_string(),
                needs: "the network's database security group".into(),
            })?;
        let cluster = NewCluster {
            id: names::cluster(stack),
            engine: spec.engine.as_str().into(),
            engine_version: spec.engine_version.clone(),
            port: spec.port,
            master_username: spec.master_username.clone(),
            master_password: self.master_password(stack, &addr).await?,
            subnet_group: names::subnet_group(stack),
            parameter_group: names::parameter_group(
                stack,
                &spec.engine.family(&spec.engine_version),
            ),
            security_group_ids: vec![security_group],
            kms_key_arn: spec.kms_key_arn.clone(),
            backup_retention_days: spec.backup_retention_days,
            backup_window: spec.backup_window.clone(),
            maintenance_window: spec.maintenance_window.clone(),
            deletion_protection: spec.deletion_protection,
            database_name: (spec.engine == Engine::AuroraPostgresql)
                .then(|| spec.database_name.clone()),
        };
        self.rds
            .create_cluster(&cluster, &stack.tags(COMPONENT, &addr, &cluster.id))
            .await
            .ok_if_conflict()
            .map_err(apply_err("creating", &addr))?;
        self.wait_cluster(stack, reporter, false).await?;
        Ok(())
    }

    async fn create_instance(
        &self,
        stack: &Stack,
        spec: &DatabaseSpec,
        index: u8,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let addr = address::instance(index);
        let id = names::instance(stack, index);
        self.rds
            .create_instance(
                &id,
                &names::cluster(stack),
                spec.engine.as_str(),
                &spec.instance_class,
                &stack.tags(COMPONENT, &addr, &id),
            )
            .await
            .ok_if_conflict()
            .map_err(apply_err("creating", &addr))?;
        self.wait_instance(stack, &id, reporter, false).await
    }

    async fn delete_cluster(
        &self,
        stack: &Stack,
        lift_protection: bool,
        final_snapshot: bool,
        instance_ids: &[String],
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let addr = address::cluster();
        let id = names::cluster(stack);
        if lift_protection {
            let lift = ClusterChanges {
                deletion_protection: Some(false),
                ..Default::default()
            };
            self.rds
                .modify_cluster(&id, &lift)
                .await
                .map_err(apply_err("lifting deletion protection of", &addr))?;
        }
        let cluster_address = &addr;
        try_join_all(instance_ids.iter().map(|instance| async move {
            self.rds
                .delete_instance(instance)
                .await
                .ok_if_not_found()
                .map_err(apply_err("deleting an instance of", cluster_address))?;
            self.wait_instance(stack, instance, reporter, true).await
        }))
        .await?;
        let snapshot = final_snapshot.then(|| final_snapshot_name(stack, SystemTime::now()));
        self.rds
            .delete_cluster(&id, snapshot.clone())
            .await
            .ok_if_not_found()
            .map_err(apply_err("deleting", &addr))?;
        self.wait_cluster(stack, reporter, true).await?;
        if let Some(snapshot) = snapshot {
            reporter.report(Event::Note {
                address: addr.clone(),
                message: format!("final snapshot {snapshot} keeps the data; restore from it to get the database back"),
            });
        }
        Ok(())
    }

    async fn run(
        &self,
        stack: &Stack,
        change: &Change<DbStep>,
        step: &DbStep,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let addr = &change.address;
        let need_spec = || {
            step.spec
                .as_deref()
                .cloned()
                .ok_or_else(|| ComponentError::Missing {
                    address: addr.to_string(),
                    needs: "a database spec".into(),
                })
        };
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        match &step.action {
            DbAction::EnsureMasterSecret { restore: true } => {
                self.secrets
                    .restore_secret(&names::master_secret(stack))
                    .await
                    .map_err(apply_err("restoring", addr))?;
            }
            DbAction::EnsureMasterSecret { restore: false } => {
                let spec = need_spec()?;
                let password = self
                    .secrets
                    .random_password(PASSWORD_LENGTH)
                    .await
                    .map_err(apply_err("generating a password for", addr))?;
                let value = serde_json::json!({
                    "engine": spec.engine.as_str(),
                    "username": spec.master_username,
                    "password": password,
                    "port": spec.port,
                })
                .to_string();
                let name = names::master_secret(stack);
                // Created by an interrupted run: keep the password it generated.
                self.secrets
                    .create_secret(
                        &name,
                        "berth: the database's master credentials",
                        &value,
                        spec.kms_key_arn.clone(),
                        &tags(&name),
                    )
                    .await
                    .ok_if_conflict()
                    .map_err(apply_err("creating", addr))?;
            }
            DbAction::CreateSubnetGroup | DbAction::UpdateSubnetGroup => {
                let spec = need_spec()?;
                let subnets = spec.inputs.data_subnet_ids.now().cloned().ok_or_else(|| {
                    ComponentError::Missing {
                        address: addr.to_string(),
                        needs: "the network's data subnets".into(),
                    }
                })?;
                let name = names::subnet_group(stack);
                if matches!(step.action, DbAction::CreateSubnetGroup) {
                    match self
                        .rds
                        .create_subnet_group(&name, subnets.clone(), &tags(&name))
                        .await
                    {
                        Err(err) if err.is_conflict() => {
                            self.rds.modify_subnet_group(&name, subnets).await
                        }
                        other => other,
                    }
                } else {
                    self.rds.modify_subnet_group(&name, subnets).await
                }
                .map_err(apply_err("writing", addr))?;
            }
            DbAction::SyncParameterGroup {
                name,
                family,
                create,
            } => {
                let spec = need_spec()?;
                if *create {
                    self.rds
                        .create_parameter_group(name, family, &tags(name))
                        .await
                        .ok_if_conflict()
                        .map_err(apply_err("creating", addr))?;
                }
                let (parameter, value) = spec.engine.tls_parameter();
                self.rds
                    .set_parameter(name, parameter, value)
                    .await
                    .map_err(apply_err("forcing TLS in", addr))?;
            }
            DbAction::CreateCluster => self.create_cluster(stack, &need_spec()?, reporter).await?,
            DbAction::ModifyCluster { changes } => {
                self.rds
                    .modify_cluster(&names::cluster(stack), changes)
                    .await
                    .map_err(apply_err("modifying", addr))?;
                self.wait_cluster(stack, reporter, false).await?;
            }
            DbAction::ReplaceCluster => {
                let spec = need_spec()?;
                let old = self
                    .rds
                    .instances(&names::cluster(stack))
                    .await
                    .map_err(apply_err("reading", addr))?;
                let ids: Vec<String> = old.into_iter().map(|i| i.id).collect();
                self.delete_cluster(stack, true, true, &ids, reporter)
                    .await?;
                self.create_cluster(stack, &spec, reporter).await?;
                try_join_all(
                    (1..=spec.instance_count)
                        .map(|i| self.create_instance(stack, &spec, i, reporter)),
                )
                .await?;
            }
            DbAction::CreateInstance { index } => {
                self.create_instance(stack, &need_spec()?.spec, *index, reporter)
                    .await?
            }
            DbAction::ResizeInstances { ids_in_order } => {
                let spec = need_spec()?;
                // One at a time, readers first: the cluster keeps serving throughout.
                for id in ids_in_order {
                    self.rds
                        .modify_instance_class(id, &spec.instance_class)
                        .await
                        .map_err(apply_err("resizing", addr))?;
                    self.wait_instance(stack, id, reporter, false).await?;
                }
            }
            DbAction::DeleteInstance { id } => {
                self.rds
                    .delete_instance(id)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
                self.wait_instance(stack, id, reporter, true).await?;
            }
            DbAction::PutUrlSecret { create } => {
                let spec = need_spec()?;
                let cluster = self
                    .rds
                    .cluster(&names::cluster(stack))
                    .await
                    .map_err(apply_err("reading the endpoint for", addr))?
                    .and_then(|c| c.endpoint)
                    .ok_or_else(|| ComponentError::Missing {
                        address: addr.to_string(),
                        needs: "the cluster's endpoint".into(),
                    })?;
                let password = self.master_password(stack, addr).await?;
                let url = spec.engine.url(
                    &spec.master_username,
                    &password,
                    &cluster,
                    spec.port,
                    &spec.database_name,
                );
                let name = names::url_secret(stack);
                let existing = self
                    .secrets
                    .secret(&name)
                    .await
                    .map_err(apply_err("reading", addr))?;
                if existing.as_ref().is_some_and(|s| s.deleted) {
                    self.secrets
                        .restore_secret(&name)
                        .await
                        .map_err(apply_err("restoring", addr))?;
                }
                if *create && existing.is_none() {
                    self.secrets
                        .create_secret(
                            &name,
                            "berth: the app's database connection URL",
                            &url,
                            spec.kms_key_arn.clone(),
                            &tags(&name),
                        )
                        .await
                        .map_err(apply_err("creating", addr))?;
                } else {
                    self.secrets
                        .put_secret_value(&name, &url)
                        .await
                        .map_err(apply_err("updating", addr))?;
                }
            }
            DbAction::DeleteCluster {
                lift_protection,
                final_snapshot,
                instance_ids,
            } => {
                self.delete_cluster(
                    stack,
                    *lift_protection,
                    *final_snapshot,
                    instance_ids,
                    reporter,
                )
                .await?;
            }
            DbAction::DeleteSubnetGroup => {
                self.rds
                    .delete_subnet_group(&names::subnet_group(stack))
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
            DbAction::DeleteParameterGroup { name } => {
                self.rds
                    .delete_parameter_group(name)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
            DbAction::DeleteSecret { name, force } => {
                self.secrets
                    .delete_secret(name, *force)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
        }
        Ok(())
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
