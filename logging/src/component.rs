//! The logging component: observe the stack's log groups, plan against the spec, apply.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use berth_core::{
    apply_phased, Action, Address, AwsError, AwsResultExt, Change, Component, ComponentError,
    FieldDiff, Grants, Phased, Plan, Reporter, Stack,
};
use futures::future::try_join_all;
use serde::Serialize;

use crate::api::{LogsApi, ObservedLogGroup};
use crate::{LogGroupSpec, LoggingSpec, COMPONENT};

/// The prefix of every log group of a stack: `/berth/<stack>/`.
pub fn group_prefix(stack: &Stack) -> String {
    format!("/berth/{}/", stack.name())
}

/// The log group of one service: `/berth/<stack>/<service>`.
pub fn group_name(stack: &Stack, service: &str) -> String {
    format!("{}{service}", group_prefix(stack))
}

fn address(service: &str) -> Address {
    Address::new(COMPONENT, "log_group", service)
}

/// What exists: the stack's log groups keyed by service name, and the service names of groups
/// under the stack's prefix that are not the stack's (never changed or deleted; configuring
/// one of their names is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingObserved {
    pub groups: BTreeMap<String, ObservedLogGroup>,
    pub foreign: BTreeSet<String>,
}

/// One step of a logging plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStep {
    Create {
        service: String,
        name: String,
        spec: LogGroupSpec,
    },
    Update {
        name: String,
        /// `Some(new)` when retention changes (`Some(None)`: keep forever).
        retention_days: Option<Option<u32>>,
        /// `Some(new)` when the KMS key changes (`Some(None)`: disassociate).
        kms_key_arn: Option<Option<String>>,
    },
    Delete {
        name: String,
    },
}

/// Log groups are independent of each other: one phase.
impl Phased for LogStep {
    type Phase = ();

    fn phases(&self) -> Vec<()> {
        vec![()]
    }
}

/// A log group for other components (the task definition's `awslogs-group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroupOutput {
    pub name: String,
    pub arn: String,
}

/// Outputs: log groups keyed by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoggingOutputs {
    pub groups: BTreeMap<String, LogGroupOutput>,
}

/// Errors of reading a group's events (the component itself fails with
/// [`ComponentError`]).
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("reading events of log group {name}")]
    Tail {
        name: String,
        #[source]
        source: AwsError,
    },
}

/// The logging component over a [`LogsApi`].
#[derive(Debug, Clone)]
pub struct Logging<A> {
    api: A,
}

impl<A: LogsApi> Logging<A> {
    pub fn new(api: A) -> Self {
        Self { api }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    async fn apply_step(&self, stack: &Stack, step: &LogStep) -> Result<(), ComponentError> {
        match step {
            LogStep::Create {
                service,
                name,
                spec,
            } => {
                let tags = stack.tags(COMPONENT, &self::address(service), name);
                // A run killed after the create finds the group there: that is progress.
                self.api
                    .create_group(name, spec.kms_key_arn.clone(), &tags)
                    .await
                    .ok_if_conflict()
                    .map_err(ComponentError::apply(
                        "creating",
                        format!("log group {name}"),
                    ))?;
                if let Some(days) = spec.retention_days {
                    self.api
                        .put_retention(name, days)
                        .await
                        .map_err(ComponentError::apply(
                            "creating",
                            format!("log group {name}"),
                        ))?;
                }
            }
            LogStep::Update {
                name,
                retention_days,
                kms_key_arn,
            } => {
                let update_err =
                    |source| ComponentError::apply("updating", format!("log group {name}"))(source);
                match retention_days {
                    Some(Some(days)) => self.api.put_retention(name, *days).await,
                    Some(None) => self.api.delete_retention(name).await,
                    None => Ok(()),
                }
                .map_err(update_err)?;
                match kms_key_arn {
                    Some(Some(key)) => self.api.associate_kms_key(name, key).await,
                    Some(None) => self.api.disassociate_kms_key(name).await,
                    None => Ok(()),
                }
                .map_err(update_err)?;
            }
            // Observe confirmed by its tags that the group is the stack's.
            LogStep::Delete { name } => {
                self.api
                    .delete_group(name)
                    .await
                    .ok_if_not_found()
                    .map_err(ComponentError::apply(
                        "deleting",
                        format!("log group {name}"),
                    ))?;
            }
        }
        Ok(())
    }
}

/// The pure plan: one change per group in the spec or the cloud.
pub fn plan(stack: &Stack, spec: &LoggingSpec, observed: &LoggingObserved) -> Plan<LogStep> {
    let mut changes = Vec::new();
    for (service, want) in &spec.groups {
        let address = address(service);
        let name = group_name(stack, service);
        let Some(have) = observed.groups.get(service) else {
            let mut fields = vec![FieldDiff::added("name", &name)];
            if let Some(days) = want.retention_days {
                fields.push(FieldDiff::added("retention_days", days));
            }
            if let Some(key) = &want.kms_key_arn {
                fields.push(FieldDiff::added("kms_key_arn", key));
            }
            let refusal = observed
                .foreign
                .contains(service)
                .then(|| stack.foreign_refusal(COMPONENT, "log group", &name));
            let change = Change::new(
                address,
                Action::Create,
                fields,
                LogStep::Create {
                    service: service.clone(),
                    name,
                    spec: want.clone(),
                },
            );
            changes.push(match refusal {
                Some(reason) => change.refuse(reason),
                None => change,
            });
            continue;
        };
        let mut fields = Vec::new();
        let retention_days = (have.retention_days != want.retention_days).then(|| {
            fields.push(FieldDiff::new(
                "retention_days",
                have.retention_days.map(berth_core::FieldValue::of),
                want.retention_days.map(berth_core::FieldValue::of),
            ));
            want.retention_days
        });
        let kms_key_arn = (have.kms_key_arn != want.kms_key_arn).then(|| {
            fields.push(FieldDiff::new(
                "kms_key_arn",
                have.kms_key_arn.as_ref().map(berth_core::FieldValue::of),
                want.kms_key_arn.as_ref().map(berth_core::FieldValue::of),
            ));
            want.kms_key_arn.clone()
        });
        if fields.is_empty() {
            changes.push(Change::no_op(address));
        } else {
            changes.push(Change::new(
                address,
                Action::Update,
                fields,
                LogStep::Update {
                    name: have.name.clone(),
                    retention_days,
                    kms_key_arn,
                },
            ));
        }
    }
    for (service, have) in &observed.groups {
        if !spec.groups.contains_key(service) {
            changes.push(Change::new(
                address(service),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.name)],
                LogStep::Delete {
                    name: have.name.clone(),
                },
            ));
        }
    }
    Plan::new(changes)
}

#[async_trait]
impl<A: LogsApi> Component for Logging<A> {
    type Spec = LoggingSpec;
    type Inputs = ();
    type Observed = LoggingObserved;
    type Step = LogStep;
    type Outputs = LoggingOutputs;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    /// One paged DescribeLogGroups with the stack's prefix, then each group's tags
    /// (CloudWatch Logs has no batch call for them), concurrently: a prefix is anyone's, the
    /// tags say which groups are the stack's.
    async fn observe(&self, stack: &Stack) -> Result<LoggingObserved, ComponentError> {
        let prefix = group_prefix(stack);
        let groups = self
            .api
            .list_groups(&prefix)
            .await
            .map_err(ComponentError::observe("log groups"))?;
        let candidates = groups.into_iter().filter_map(|g| {
            let service = g.name.strip_prefix(&prefix)?.to_owned();
            // Nested names (`/berth/prod/web/x`) are not one of ours.
            (!service.is_empty() && !service.contains('/')).then_some((service, g))
        });
        let tagged = try_join_all(candidates.map(|(service, group)| async move {
            match self.api.group_tags(&group.arn).await {
                Ok(tags) => Ok(Some((service, group, tags))),
                // Deleted since it was listed.
                Err(err) if err.is_not_found() => Ok(None),
                Err(source) => Err(ComponentError::Observe {
                    what: "log group tags",
                    source,
                }),
            }
        }))
        .await?;
        let mut observed = LoggingObserved::default();
        for (service, group, tags) in tagged.into_iter().flatten() {
            if stack.owns(COMPONENT, &tags) {
                observed.groups.insert(service, group);
            } else {
                observed.foreign.insert(service);
            }
        }
        Ok(observed)
    }

    fn plan(
        &self,
        stack: &Stack,
        spec: &LoggingSpec,
        _inputs: &(),
        observed: &LoggingObserved,
        _grants: &Grants,
    ) -> Plan<LogStep> {
        plan(stack, spec, observed)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<LogStep>,
        _observed: &Self::Observed,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        apply_phased(
            plan,
            (),
            reporter,
            |_, step, _, _| async move {
                self.apply_step(stack, step)
                    .await
                    .map(|()| Vec::<()>::new())
            },
            |_, ()| {},
        )
        .await
        .map(drop)
    }

    fn outputs(&self, _stack: &Stack, observed: &LoggingObserved) -> LoggingOutputs {
        LoggingOutputs {
            groups: observed
                .groups
                .iter()
                .map(|(service, g)| {
                    (
                        service.clone(),
                        LogGroupOutput {
                            name: g.name.clone(),
                            arn: g.arn.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
