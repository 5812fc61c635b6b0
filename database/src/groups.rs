//! The groups the cluster is made with: the subnet group over the network's data subnets and
//! the cluster parameter group that forces TLS — their plan and the steps that write them.

use berth_core::{
    Action, AwsResultExt, Change, ComponentError, FieldDiff, FieldValue, Stack, KNOWN_AFTER_APPLY,
};

use crate::api::*;
use crate::component::{
    apply_err, refuse_if_foreign, Database, DatabaseObserved, DbAction, DbStep,
};
use crate::{address, names, DatabaseInputs, DatabaseSpec, COMPONENT};

/// The subnet group over the data subnets.
pub(crate) fn plan_subnet_group(
    stack: &Stack,
    inputs: &DatabaseInputs,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
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
}

/// The parameter group of the engine's family, forcing TLS.
pub(crate) fn plan_parameter_group(
    stack: &Stack,
    spec: &DatabaseSpec,
    family: &str,
    group_name: &str,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
    let (tls_name, tls_value) = spec.engine.tls_parameter();
    match obs.parameter_groups.get(group_name) {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::parameter_group(&family.replace('.', "-")),
                Action::Create,
                vec![
                    FieldDiff::added("family", family),
                    FieldDiff::added(tls_name, tls_value),
                ],
                DbAction::SyncParameterGroup {
                    name: group_name.to_owned(),
                    family: family.to_owned(),
                    create: true,
                },
            ),
            stack,
            "cluster parameter group",
            group_name,
            obs.foreign_parameter_groups.contains(group_name),
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
                    name: group_name.to_owned(),
                    family: family.to_owned(),
                    create: false,
                },
            )),
        Some(_) => changes.push(Change::no_op(address::parameter_group(
            &family.replace('.', "-"),
        ))),
    }
}

/// Parameter groups of another family (after an engine change) go.
pub(crate) fn plan_old_parameter_groups(
    stack: &Stack,
    group_name: &str,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
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
}

/// The subnet group and every parameter group go.
pub(crate) fn plan_groups_absent(
    stack: &Stack,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
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
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    /// Creates, updates or deletes the subnet group or a parameter group.
    pub(crate) async fn run_groups_step(
        &self,
        stack: &Stack,
        change: &Change<DbStep>,
        step: &DbStep,
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
            other => unreachable!("not a groups step: {other:?}"),
        }
        Ok(())
    }
}
