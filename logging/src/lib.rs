//! berth-logging: the stack's CloudWatch Logs groups — one per service, with retention, an
//! optional KMS key and tags — reconciled by the component contract, plus `tail`, which
//! streams a group's events by polling FilterLogEvents.
//!
//! Log groups live under `/berth/<stack>/`: the prefix is the stack's namespace, so observing
//! is one paged list call; a group is only deleted after its tags confirm it is the stack's.

pub mod api;
pub mod aws;
mod component;
mod tail;

pub use api::{LogEvent, LogEventsPage, LogsApi, ObservedLogGroup};
pub use component::{
    group_name, group_prefix, LogGroupOutput, LogStep, Logging, LoggingError, LoggingObserved,
    LoggingOutputs,
};
pub use tail::{tail, TailOptions};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The component's name: first segment of its addresses, value of its `berth:component` tag.
pub const COMPONENT: &str = "logging";

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Whether CloudWatch Logs accepts `days` as a retention period.
pub fn is_valid_retention(days: u32) -> bool {
    RETENTION_DAYS.contains(&days)
}

/// The desired log groups, keyed by service name (`web` → `/berth/<stack>/web`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggingSpec {
    pub groups: BTreeMap<String, LogGroupSpec>,
}

/// One log group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogGroupSpec {
    /// Days to keep events (one of [`RETENTION_DAYS`]); `None` keeps them forever.
    pub retention_days: Option<u32>,
    /// KMS key ARN to encrypt the group with; `None` uses CloudWatch's own encryption.
    pub kms_key_arn: Option<String>,
}
