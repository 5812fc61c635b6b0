//! The logging component: observe the stack's log groups, plan against the spec, apply.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::{
    Action, Address, AwsError, AwsResultExt, Change, Component, Event, FieldDiff, Plan, Reporter,
    Stack,
};
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

/// What exists: the stack's log groups keyed by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingObserved {
    pub groups: BTreeMap<String, ObservedLogGroup>,
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
        arn: String,
    },
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

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("listing the stack's log groups")]
    Observe(#[source] AwsError),
    #[error("creating log group {name}")]
    Create {
        name: String,
        #[source]
        source: AwsError,
    },
    #[error("updating log group {name}")]
    Update {
        name: String,
        #[source]
        source: AwsError,
    },
    #[error("deleting log group {name}")]
    Delete {
        name: String,
        #[source]
        source: AwsError,
    },
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

    async fn apply_step(
        &self,
        stack: &Stack,
        address: &Address,
        step: &LogStep,
        reporter: &dyn Reporter,
    ) -> Result<(), LoggingError> {
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
                    .map_err(|source| LoggingError::Create {
                        name: name.clone(),
                        source,
                    })?;
                if let Some(days) = spec.retention_days {
                    self.api.put_retention(name, days).await.map_err(|source| {
                        LoggingError::Create {
                            name: name.clone(),
                            source,
                        }
                    })?;
                }
            }
            LogStep::Update {
                name,
                retention_days,
                kms_key_arn,
            } => {
                let update_err = |source| LoggingError::Update {
                    name: name.clone(),
                    source,
                };
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
            LogStep::Delete { name, arn } => {
                let delete_err = |source| LoggingError::Delete {
                    name: name.clone(),
                    source,
                };
                let tags = match self.api.group_tags(arn).await {
                    Ok(tags) => tags,
                    Err(err) if err.is_not_found() => return Ok(()),
                    Err(err) => return Err(delete_err(err)),
                };
                if !stack.owns(COMPONENT, &tags) {
                    reporter.report(Event::Note {
                        address: address.clone(),
                        message: format!(
                            "left {name} in place: it is not tagged berth:stack={}",
                            stack.name()
                        ),
                    });
                    return Ok(());
                }
                self.api
                    .delete_group(name)
                    .await
                    .ok_if_not_found()
                    .map_err(delete_err)?;
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
            changes.push(Change::new(
                address,
                Action::Create,
                fields,
                LogStep::Create {
                    service: service.clone(),
                    name,
                    spec: want.clone(),
                },
            ));
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
                    arn: have.arn.clone(),
                },
            ));
        }
    }
    Plan::new(changes)
}

#[async_trait]
impl<A: LogsApi> Component for Logging<A> {
    type Spec = LoggingSpec;
    type Observed = LoggingObserved;
    type Step = LogStep;
    type Outputs = LoggingOutputs;
    type Error = LoggingError;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn observe(&self, stack: &Stack) -> Result<LoggingObserved, LoggingError> {
        let prefix = group_prefix(stack);
        let groups = self
            .api
            .list_groups(&prefix)
            .await
            .map_err(LoggingError::Observe)?;
        Ok(LoggingObserved {
            groups: groups
                .into_iter()
                .filter_map(|g| {
                    let service = g.name.strip_prefix(&prefix)?.to_owned();
                    // Nested names (`/berth/prod/web/x`) are not one of ours.
                    (!service.is_empty() && !service.contains('/')).then_some((service, g))
                })
                .collect(),
        })
    }

    fn plan(&self, stack: &Stack, spec: &LoggingSpec, observed: &LoggingObserved) -> Plan<LogStep> {
        plan(stack, spec, observed)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<LogStep>,
        _observed: &Self::Observed,
        reporter: &dyn Reporter,
    ) -> Result<(), LoggingError> {
        for change in plan.actionable() {
            let Some(step) = &change.step else { continue };
            reporter.report(Event::Started {
                address: change.address.clone(),
                action: change.action,
            });
            self.apply_step(stack, &change.address, step, reporter)
                .await?;
            reporter.report(Event::Finished {
                address: change.address.clone(),
                action: change.action,
            });
        }
        Ok(())
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
