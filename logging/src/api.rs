//! The CloudWatch Logs facade: only the calls berth-logging makes, in domain types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::{AwsError, Tags};

/// A log group as CloudWatch describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLogGroup {
    pub name: String,
    pub arn: String,
    pub retention_days: Option<u32>,
    pub kms_key_arn: Option<String>,
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub id: String,
    pub timestamp_ms: i64,
    pub stream: String,
    pub message: String,
}

/// One page of FilterLogEvents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEventsPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LogsApi: Send + Sync {
    /// Every group whose name starts with `prefix`, all pages.
    async fn list_groups(&self, prefix: &str) -> Result<Vec<ObservedLogGroup>, AwsError>;
    async fn group_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError>;
    async fn create_group(
        &self,
        name: &str,
        kms_key_arn: Option<String>,
        tags: &Tags,
    ) -> Result<(), AwsError>;
    async fn put_retention(&self, name: &str, days: u32) -> Result<(), AwsError>;
    async fn delete_retention(&self, name: &str) -> Result<(), AwsError>;
    async fn associate_kms_key(&self, name: &str, kms_key_arn: &str) -> Result<(), AwsError>;
    async fn disassociate_kms_key(&self, name: &str) -> Result<(), AwsError>;
    async fn delete_group(&self, name: &str) -> Result<(), AwsError>;
    /// One page of a group's events at or after `start_ms`.
    async fn filter_events(
        &self,
        group: &str,
        start_ms: i64,
        next_token: Option<String>,
    ) -> Result<LogEventsPage, AwsError>;
}
