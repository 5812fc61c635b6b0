//! The facades of berth-database — RDS (which also serves DocumentDB: one control-plane API)
//! and Secrets Manager — with only the calls it makes, in domain types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::{AwsError, Tags};

/// A cluster as RDS describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedCluster {
    pub id: String,
    pub arn: String,
    pub status: String,
    pub engine: String,
    pub engine_version: String,
    pub port: u16,
    pub master_username: String,
    pub endpoint: Option<String>,
    pub reader_endpoint: Option<String>,
    pub backup_retention_days: u8,
    pub backup_window: String,
    pub maintenance_window: String,
    pub deletion_protection: bool,
    pub storage_encrypted: bool,
    pub kms_key_arn: Option<String>,
    pub parameter_group: String,
    pub subnet_group: String,
    pub security_group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// The instance ids RDS reports as the cluster's writer.
    pub writers: Vec<String>,
}

/// An instance of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedInstance {
    pub id: String,
    pub cluster_id: String,
    pub class: String,
    pub status: String,
    pub writer: bool,
    pub tags: BTreeMap<String, String>,
}

/// A DB subnet group (its tags are read apart: RDS does not describe them with it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedSubnetGroup {
    pub arn: String,
    pub subnet_ids: Vec<String>,
}

/// A cluster parameter group (its tags, like its parameters, are read apart).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedParameterGroup {
    pub name: String,
    pub arn: String,
}

/// What a new cluster is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCluster {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    pub port: u16,
    pub master_username: String,
    pub master_password: String,
    pub subnet_group: String,
    pub parameter_group: String,
    pub security_group_ids: Vec<String>,
    pub kms_key_arn: Option<String>,
    pub backup_retention_days: u8,
    pub backup_window: String,
    pub maintenance_window: String,
    pub deletion_protection: bool,
    /// Aurora PostgreSQL's initial database; DocumentDB has none.
    pub database_name: Option<String>,
}

/// Settings of an existing cluster that change in place (`None`: leave as is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterChanges {
    pub backup_retention_days: Option<u8>,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub deletion_protection: Option<bool>,
    pub security_group_ids: Option<Vec<String>>,
    pub parameter_group: Option<String>,
}

impl ClusterChanges {
    pub fn is_empty(&self) -> bool {
        *self == ClusterChanges::default()
    }
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RdsApi: Send + Sync {
    /// The cluster with this identifier, if it exists.
    async fn cluster(&self, id: &str) -> Result<Option<ObservedCluster>, AwsError>;
    /// Every instance of the cluster, one call (`writer` is left false: the cluster says).
    async fn instances(&self, cluster_id: &str) -> Result<Vec<ObservedInstance>, AwsError>;
    /// The subnet group with this name, if it exists.
    async fn subnet_group(&self, name: &str) -> Result<Option<ObservedSubnetGroup>, AwsError>;
    async fn create_subnet_group(
        &self,
        name: &str,
        subnet_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<(), AwsError>;
    async fn modify_subnet_group(
        &self,
        name: &str,
        subnet_ids: Vec<String>,
    ) -> Result<(), AwsError>;
    async fn delete_subnet_group(&self, name: &str) -> Result<(), AwsError>;
    /// The cluster parameter groups whose names start with `prefix`, one paged list call.
    /// A prefix is anyone's: the tags say which are the stack's.
    async fn parameter_groups(&self, prefix: &str)
        -> Result<Vec<ObservedParameterGroup>, AwsError>;
    /// The tags of an RDS resource (subnet or parameter group), by ARN.
    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError>;
    /// The user-set parameters of a cluster parameter group.
    async fn parameters(&self, name: &str) -> Result<BTreeMap<String, String>, AwsError>;
    async fn create_parameter_group(
        &self,
        name: &str,
        family: &str,
        tags: &Tags,
    ) -> Result<(), AwsError>;
    async fn set_parameter(&self, name: &str, parameter: &str, value: &str)
        -> Result<(), AwsError>;
    async fn delete_parameter_group(&self, name: &str) -> Result<(), AwsError>;
    async fn create_cluster(&self, cluster: &NewCluster, tags: &Tags) -> Result<(), AwsError>;
    async fn modify_cluster(&self, id: &str, changes: &ClusterChanges) -> Result<(), AwsError>;
    /// Deletes the cluster, taking `final_snapshot` first unless `None`.
    async fn delete_cluster(
        &self,
        id: &str,
        final_snapshot: Option<String>,
    ) -> Result<(), AwsError>;
    async fn create_instance(
        &self,
        id: &str,
        cluster_id: &str,
        engine: &str,
        class: &str,
        tags: &Tags,
    ) -> Result<(), AwsError>;
    async fn modify_instance_class(&self, id: &str, class: &str) -> Result<(), AwsError>;
    async fn delete_instance(&self, id: &str) -> Result<(), AwsError>;
}

/// A secret berth keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedSecret {
    pub arn: String,
    pub name: String,
    /// The current value. Read to compare, never printed.
    pub value: Option<String>,
    /// Scheduled for deletion (restorable).
    pub deleted: bool,
    pub tags: BTreeMap<String, String>,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SecretsApi: Send + Sync {
    /// The secret with this name and its value, including one scheduled for deletion.
    async fn secret(&self, name: &str) -> Result<Option<ObservedSecret>, AwsError>;
    /// Every secret whose name starts with `prefix` (including those scheduled for deletion)
    /// with its value: one paged list call and one batch read.
    async fn secrets(&self, prefix: &str) -> Result<Vec<ObservedSecret>, AwsError>;
    /// A random password of letters and digits.
    async fn random_password(&self, length: u8) -> Result<String, AwsError>;
    /// Creates the secret; returns its ARN.
    async fn create_secret(
        &self,
        name: &str,
        description: &str,
        value: &str,
        kms_key_arn: Option<String>,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn put_secret_value(&self, name: &str, value: &str) -> Result<(), AwsError>;
    async fn restore_secret(&self, name: &str) -> Result<(), AwsError>;
    /// Deletes the secret; without `force` it stays restorable for 7 days.
    async fn delete_secret(&self, name: &str, force: bool) -> Result<(), AwsError>;
}
