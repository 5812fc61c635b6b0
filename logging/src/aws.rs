//! The CloudWatch Logs implementation of [`LogsApi`] over `aws-sdk-cloudwatchlogs`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use berth_core::{sdk_error, AwsError, Tags};

use crate::api::{LogEvent, LogEventsPage, LogsApi, ObservedLogGroup};

/// [`LogsApi`] for a real (or emulated) CloudWatch Logs endpoint.
#[derive(Debug, Clone)]
pub struct CloudWatchLogs {
    client: Client,
}

impl CloudWatchLogs {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl LogsApi for CloudWatchLogs {
    async fn list_groups(&self, prefix: &str) -> Result<Vec<ObservedLogGroup>, AwsError> {
        let mut groups = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeLogGroups"))?;
            for group in out.log_groups.unwrap_or_default() {
                let Some(name) = group.log_group_name else {
                    continue;
                };
                // DescribeLogGroups' `arn` ends in `:*`; tagging APIs want it without.
                let arn = group
                    .log_group_arn
                    .or(group.arn.map(|a| a.trim_end_matches(":*").to_owned()))
                    .unwrap_or_default();
                groups.push(ObservedLogGroup {
                    name,
                    arn,
                    retention_days: group.retention_in_days.and_then(|d| u32::try_from(d).ok()),
                    kms_key_arn: group.kms_key_id,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(groups);
            }
        }
    }

    async fn group_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(sdk_error("ListTagsForResource"))?;
        Ok(out.tags.unwrap_or_default().into_iter().collect())
    }

    async fn create_group(
        &self,
        name: &str,
        kms_key_arn: Option<String>,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        let mut request = self
            .client
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(kms_key_arn);
        for (key, value) in tags.iter() {
            request = request.tags(key, value);
        }
        request.send().await.map_err(sdk_error("CreateLogGroup"))?;
        Ok(())
    }

    async fn put_retention(&self, name: &str, days: u32) -> Result<(), AwsError> {
        self.client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days as i32)
            .send()
            .await
            .map_err(sdk_error("PutRetentionPolicy"))?;
        Ok(())
    }

    async fn delete_retention(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_retention_policy()
            .log_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteRetentionPolicy"))?;
        Ok(())
    }

    async fn associate_kms_key(&self, name: &str, kms_key_arn: &str) -> Result<(), AwsError> {
        self.client
            .associate_kms_key()
            .log_group_name(name)
            .kms_key_id(kms_key_arn)
            .send()
            .await
            .map_err(sdk_error("AssociateKmsKey"))?;
        Ok(())
    }

    async fn disassociate_kms_key(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .disassociate_kms_key()
            .log_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DisassociateKmsKey"))?;
        Ok(())
    }

    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteLogGroup"))?;
        Ok(())
    }

    async fn filter_events(
        &self,
        group: &str,
        start_ms: i64,
        next_token: Option<String>,
    ) -> Result<LogEventsPage, AwsError> {
        let out = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(sdk_error("FilterLogEvents"))?;
        let events = out
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|e| LogEvent {
                id: e.event_id.unwrap_or_default(),
                timestamp_ms: e.timestamp.unwrap_or_default(),
                stream: e.log_stream_name.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
            })
            .collect();
        Ok(LogEventsPage {
            events,
            next_token: out.next_token,
        })
    }
}
