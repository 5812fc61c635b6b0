//! The cluster: its plan (fixed settings force a replacement, the engine version is never
//! upgraded in place, the rest is modified) and the steps that create, modify, replace and
//! delete it, waiting until it is available or gone.

use std::time::SystemTime;

use berth_core::{
    wait_for, Action, AwsResultExt, Change, ComponentError, Event, FieldDiff, Grants, Poll,
    Reporter, Stack, WaitFor,
};
use futures::future::try_join_all;

use crate::api::*;
use crate::component::{
    apply_err, refuse_if_foreign, Database, DatabaseObserved, DbAction, DbStep, DATABASE_TIMEOUT,
};
use crate::{address, names, DatabaseInputs, DatabaseSpec, Engine, PlacedSpec, COMPONENT};

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

/// The cluster. Returns whether it is being replaced (its instances go with it).
pub(crate) fn plan_cluster(
    stack: &Stack,
    spec: &DatabaseSpec,
    inputs: &DatabaseInputs,
    grants: &Grants,
    group_name: &str,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) -> bool {
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
                        group_name,
                    ));
                    diff.parameter_group = Some(group_name.to_owned());
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
    replacing
}

/// The cluster goes only with `--delete-database`, after a final snapshot unless skipped.
pub(crate) fn plan_cluster_absent(
    stack: &Stack,
    grants: &Grants,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
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
    }
}

/// `prod-final-20261122-201500`.
pub fn final_snapshot_name(stack: &Stack, now: SystemTime) -> String {
    format!(
        "{}-final-{}",
        stack.name(),
        berth_core::UtcTime::from_system_time(now).compact()
    )
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
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
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    /// Creates, modifies, replaces or deletes the cluster.
    pub(crate) async fn run_cluster_step(
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
        match &step.action {
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
            other => unreachable!("not a cluster step: {other:?}"),
        }
        Ok(())
    }
}
