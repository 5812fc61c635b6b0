//! The cluster's instances: `1..=count`, resized one at a time (readers first) — their plan
//! and the steps that create, resize and delete them, waiting on each.

use berth_core::{
    wait_for, Action, AwsResultExt, Change, ComponentError, FieldDiff, Poll, Reporter, Stack,
    WaitFor,
};

use crate::api::*;
use crate::component::{
    apply_err, refuse_if_foreign, Database, DatabaseObserved, DbAction, DbStep, DATABASE_TIMEOUT,
};
use crate::{address, names, DatabaseSpec, COMPONENT};

/// An instance's index from its id (`<stack>-db-<index>`).
pub(crate) fn instance_index(stack: &Stack, id: &str) -> Option<u8> {
    id.strip_prefix(&format!("{}-", names::cluster(stack)))?
        .parse()
        .ok()
}

/// Instances: 1..=count; a class change goes instance by instance, readers first.
pub(crate) fn plan_instances(
    stack: &Stack,
    spec: &DatabaseSpec,
    replacing: bool,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
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
}

/// Without a cluster its instances go one by one; with one, its deletion takes them first.
pub(crate) fn plan_instances_absent(obs: &DatabaseObserved, changes: &mut Vec<Change<DbAction>>) {
    if obs.cluster.is_some() {
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
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    pub(crate) async fn wait_instance(
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

    pub(crate) async fn create_instance(
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
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    /// Creates, resizes or deletes instances.
    pub(crate) async fn run_instances_step(
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
            other => unreachable!("not an instances step: {other:?}"),
        }
        Ok(())
    }
}
