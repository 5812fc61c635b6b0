//! Alarms: one SNS topic per stack (with the config's email subscriptions) and per service a
//! CPU alarm on the service's average utilisation that notifies it.

use std::collections::BTreeSet;

use berth_core::{Action, AwsResultExt, Change, ComponentError, FieldDiff};
use serde::Serialize;

use crate::api::{CloudWatchApi, CpuAlarm, SnsApi};
use crate::component::{need, ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::names::address;
use crate::Phase;

/// What an email subscription's ARN is until the address confirms it (it cannot be removed
/// before).
pub const PENDING_CONFIRMATION: &str = "PendingConfirmation";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TopicStep {
    Ensure {
        name: String,
        subscribe: Vec<String>,
        unsubscribe: Vec<String>,
    },
    Delete {
        arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AlarmStep {
    /// `alarm.topic_arn` is filled in at apply time.
    Put {
        alarm: CpuAlarm,
    },
    Delete {
        name: String,
    },
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    let topic_name = ctx.names.alarm_topic();
    let wanted = ctx.spec.has_alarms();
    match (&ctx.observed.topic, wanted) {
        (have, true) => {
            let emails: BTreeSet<&String> = ctx.spec.alarm_emails.iter().collect();
            let subs = have
                .as_ref()
                .map(|t| t.email_subscriptions.clone())
                .unwrap_or_default();
            let subscribed: BTreeSet<&String> = subs.iter().map(|s| &s.endpoint).collect();
            let subscribe: Vec<String> = emails
                .difference(&subscribed)
                .map(|e| e.to_string())
                .collect();
            let unsubscribe: Vec<String> = subs
                .iter()
                .filter(|s| !emails.contains(&s.endpoint) && s.arn != PENDING_CONFIRMATION)
                .map(|s| s.arn.clone())
                .collect();
            let mut fields = Vec::new();
            if have.is_none() {
                fields.push(FieldDiff::added("name", &topic_name));
            }
            for email in &subscribe {
                fields.push(FieldDiff::added(&format!("subscription.{email}"), "email"));
            }
            for sub in subs.iter().filter(|s| unsubscribe.contains(&s.arn)) {
                fields.push(FieldDiff::removed(
                    &format!("subscription.{}", sub.endpoint),
                    "email",
                ));
            }
            if fields.is_empty() {
                changes.push(Change::no_op(address::alarm_topic()));
            } else {
                changes.push(Change::new(
                    address::alarm_topic(),
                    if have.is_none() {
                        Action::Create
                    } else {
                        Action::Update
                    },
                    fields,
                    ComputeStep::AlarmTopic(TopicStep::Ensure {
                        name: topic_name.clone(),
                        subscribe,
                        unsubscribe,
                    }),
                ));
            }
        }
        (Some(have), false) => changes.push(Change::new(
            address::alarm_topic(),
            Action::Delete,
            vec![FieldDiff::removed("name", &topic_name)],
            ComputeStep::AlarmTopic(TopicStep::Delete {
                arn: have.arn.clone(),
            }),
        )),
        (None, false) => {}
    }

    let topic_arn = ctx.observed.topic.as_ref().map_or_else(
        || berth_core::KNOWN_AFTER_APPLY.to_owned(),
        |t| t.arn.clone(),
    );
    for (service, spec) in &ctx.spec.services {
        let Some(cpu) = &spec.cpu_alarm else { continue };
        let address = address::cpu_alarm(service);
        let alarm = CpuAlarm {
            name: ctx.names.cpu_alarm(service),
            cluster: ctx.names.cluster(),
            service: ctx.names.service(service),
            threshold_percent: cpu.threshold_percent,
            period_seconds: cpu.period_seconds,
            evaluation_periods: cpu.evaluation_periods,
            topic_arn: topic_arn.clone(),
        };
        let step = ComputeStep::Alarm(AlarmStep::Put {
            alarm: CpuAlarm {
                topic_arn: String::new(),
                ..alarm.clone()
            },
        });
        match ctx.observed.alarms.get(service) {
            None => changes.push(Change::new(
                address,
                Action::Create,
                crate::diff::added("", &alarm),
                step,
            )),
            Some(have) => {
                // An alarm berth cannot read back as a CPU alarm is drift: it is rewritten.
                let fields = match &have.alarm {
                    Some(h) => crate::diff::diff("", h, &alarm),
                    None => crate::diff::added("", &alarm),
                };
                if fields.is_empty() {
                    changes.push(Change::no_op(address));
                } else {
                    changes.push(Change::new(address, Action::Update, fields, step));
                }
            }
        }
    }
    for (service, have) in &ctx.observed.alarms {
        if ctx
            .spec
            .services
            .get(service)
            .is_none_or(|s| s.cpu_alarm.is_none())
        {
            changes.push(Change::new(
                address::cpu_alarm(service),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.name)],
                ComputeStep::Alarm(AlarmStep::Delete {
                    name: have.name.clone(),
                }),
            ));
        }
    }
}

impl TopicStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            TopicStep::Ensure { .. } => vec![Phase::AlarmTopic],
            TopicStep::Delete { .. } => vec![Phase::DeleteAlarmTopic],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let sns = ctx.apis.sns();
        match self {
            TopicStep::Ensure {
                name,
                subscribe,
                unsubscribe,
            } => {
                let fail = |a| ComponentError::apply(a, ctx.address.clone());
                // CreateTopic of an existing name returns its ARN.
                let arn = sns
                    .create_topic(name, &ctx.tags(name))
                    .await
                    .map_err(fail("creating"))?;
                for email in subscribe {
                    sns.subscribe_email(&arn, email)
                        .await
                        .map_err(fail("subscribing"))?;
                }
                for sub in unsubscribe {
                    sns.unsubscribe(sub)
                        .await
                        .ok_if_not_found()
                        .map_err(fail("unsubscribing"))?;
                }
                Ok(vec![Record::Topic(arn)])
            }
            TopicStep::Delete { arn } => {
                sns.delete_topic(arn)
                    .await
                    .ok_if_not_found()
                    .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
                Ok(vec![])
            }
        }
    }
}

impl AlarmStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            AlarmStep::Put { .. } => vec![Phase::Alarms],
            AlarmStep::Delete { .. } => vec![Phase::DeleteAlarms],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let cw = ctx.apis.cloudwatch();
        match self {
            AlarmStep::Put { alarm } => {
                let mut alarm = alarm.clone();
                alarm.topic_arn =
                    need(made.topic.as_ref(), ctx.address, "the alarm topic")?.clone();
                cw.put_cpu_alarm(&alarm, &ctx.tags(&alarm.name))
                    .await
                    .map_err(ComponentError::apply("putting", ctx.address.clone()))?;
            }
            AlarmStep::Delete { name } => {
                cw.delete_alarms(std::slice::from_ref(name))
                    .await
                    .ok_if_not_found()
                    .map_err(ComponentError::apply("deleting", ctx.address.clone()))?;
            }
        }
        Ok(vec![])
    }
}
