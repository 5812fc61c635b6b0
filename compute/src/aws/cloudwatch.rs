//! [`CloudWatchApi`] over `aws-sdk-cloudwatch` (pinned to 1.99.0: later versions speak CBOR,
//! which the emulator does not serve).

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{CloudWatchApi, CpuAlarm, ObservedAlarm};

adapter!(
    CloudWatch,
    aws_sdk_cloudwatch::Client,
    "[`CloudWatchApi`] for a real (or emulated) CloudWatch endpoint."
);

#[async_trait]
impl CloudWatchApi for CloudWatch {
    async fn alarms(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, AwsError> {
        let mut alarms = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeAlarms"))?;
            for a in out.metric_alarms.unwrap_or_default() {
                let (Some(name), Some(arn)) = (a.alarm_name.clone(), a.alarm_arn.clone()) else {
                    continue;
                };
                let dimension = |key: &str| {
                    a.dimensions()
                        .iter()
                        .find(|d| d.name() == Some(key))
                        .and_then(|d| d.value().map(str::to_owned))
                };
                let is_cpu = a.namespace() == Some("AWS/ECS")
                    && a.metric_name() == Some("CPUUtilization")
                    && a.comparison_operator() == Some(&ComparisonOperator::GreaterThanThreshold)
                    && a.statistic() == Some(&Statistic::Average);
                let alarm = match (is_cpu, dimension("ClusterName"), dimension("ServiceName")) {
                    (true, Some(cluster), Some(service)) => Some(CpuAlarm {
                        name: name.clone(),
                        cluster,
                        service,
                        threshold_percent: a.threshold().unwrap_or_default() as u32,
                        period_seconds: a.period().unwrap_or_default().max(0) as u32,
                        evaluation_periods: a.evaluation_periods().unwrap_or_default().max(0)
                            as u32,
                        topic_arn: a.alarm_actions().first().cloned().unwrap_or_default(),
                    }),
                    _ => None,
                };
                let tags = self
                    .client
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(sdk_error("ListTagsForResource"))?
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|t| Some((t.key?, t.value?)))
                    .collect();
                alarms.push(ObservedAlarm {
                    name,
                    arn,
                    alarm,
                    tags,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(alarms);
            }
        }
    }

    async fn put_cpu_alarm(&self, alarm: &CpuAlarm, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .dimensions(
                Dimension::builder()
                    .name("ClusterName")
                    .value(&alarm.cluster)
                    .build(),
            )
            .dimensions(
                Dimension::builder()
                    .name("ServiceName")
                    .value(&alarm.service)
                    .build(),
            )
            .statistic(Statistic::Average)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .threshold(f64::from(alarm.threshold_percent))
            .period(alarm.period_seconds as i32)
            .evaluation_periods(alarm.evaluation_periods as i32)
            .alarm_actions(&alarm.topic_arn)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(sdk_error("PutMetricAlarm"))?;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError> {
        self.client
            .delete_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(sdk_error("DeleteAlarms"))?;
        Ok(())
    }
}
