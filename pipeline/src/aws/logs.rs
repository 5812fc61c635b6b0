//! [`ReleaseLogs`] over `aws-sdk-cloudwatchlogs`.

use async_trait::async_trait;
use berth_core::{sdk_error, AwsError, AwsResultExt};

use crate::api::{LogPage, ReleaseLogs};

/// [`ReleaseLogs`] for a real (or emulated) CloudWatch Logs endpoint.
#[derive(Debug, Clone)]
pub struct Logs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl Logs {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ReleaseLogs for Logs {
    async fn lines_after(
        &self,
        group: &str,
        stream: &str,
        after: Option<String>,
    ) -> Result<LogPage, AwsError> {
        let out = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(after.clone())
            .send()
            .await
            .map_err(sdk_error("GetLogEvents"))
            .none_if_not_found()?;
        Ok(match out {
            None => LogPage {
                lines: Vec::new(),
                next: after,
            },
            Some(o) => LogPage {
                lines: o
                    .events
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|e| e.message)
                    .map(|m| m.trim_end().to_owned())
                    .collect(),
                next: o.next_forward_token.or(after),
            },
        })
    }

    async fn last_lines(
        &self,
        group: &str,
        stream: &str,
        count: usize,
    ) -> Result<Vec<String>, AwsError> {
        let limit = i32::try_from(count.clamp(1, 10_000)).unwrap_or(10_000);
        let out = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(limit)
            .send()
            .await
            .map_err(sdk_error("GetLogEvents"))
            .none_if_not_found()?;
        Ok(out
            .map(|o| {
                o.events
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|e| e.message)
                    .map(|m| m.trim_end().to_owned())
                    .collect()
            })
            .unwrap_or_default())
    }
}
