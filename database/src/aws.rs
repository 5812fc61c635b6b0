//! The RDS (and DocumentDB) and Secrets Manager implementations of the database facades.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, Filter, Parameter, Tag as RdsTag};
use aws_sdk_secretsmanager::types::{
    Filter as SecretFilter, FilterNameStringType, Tag as SecretTag,
};
use berth_core::{sdk_error, AwsError, AwsResultExt, ErrorClass, Tags};

use crate::api::*;

fn rds_tags(tags: &Tags) -> Vec<RdsTag> {
    tags.iter()
        .map(|(k, v)| RdsTag::builder().key(k).value(v).build())
        .collect()
}

fn tag_map(tags: &[RdsTag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn secret_tag_map(tags: &[SecretTag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// [`RdsApi`] over `aws-sdk-rds`; DocumentDB clusters are managed through the same API.
#[derive(Debug, Clone)]
pub struct Rds {
    client: aws_sdk_rds::Client,
}

impl Rds {
    pub fn new(client: aws_sdk_rds::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl RdsApi for Rds {
    async fn cluster(&self, id: &str) -> Result<Option<ObservedCluster>, AwsError> {
        let out = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(sdk_error("DescribeDBClusters"))
            .none_if_not_found()?;
        let Some(cluster) = out.and_then(|o| o.db_clusters.and_then(|c| c.into_iter().next()))
        else {
            return Ok(None);
        };
        Ok(Some(ObservedCluster {
            id: cluster
                .db_cluster_identifier()
                .unwrap_or_default()
                .to_owned(),
            arn: cluster.db_cluster_arn().unwrap_or_default().to_owned(),
            status: cluster.status().unwrap_or_default().to_owned(),
            engine: cluster.engine().unwrap_or_default().to_owned(),
            engine_version: cluster.engine_version().unwrap_or_default().to_owned(),
            port: cluster
                .port()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_default(),
            master_username: cluster.master_username().unwrap_or_default().to_owned(),
            endpoint: cluster.endpoint().map(str::to_owned),
            reader_endpoint: cluster.reader_endpoint().map(str::to_owned),
            backup_retention_days: cluster
                .backup_retention_period()
                .and_then(|d| u8::try_from(d).ok())
                .unwrap_or_default(),
            backup_window: cluster
                .preferred_backup_window()
                .unwrap_or_default()
                .to_owned(),
            maintenance_window: cluster
                .preferred_maintenance_window()
                .unwrap_or_default()
                .to_owned(),
            deletion_protection: cluster.deletion_protection().unwrap_or(false),
            storage_encrypted: cluster.storage_encrypted().unwrap_or(false),
            kms_key_arn: cluster.kms_key_id().map(str::to_owned),
            parameter_group: cluster
                .db_cluster_parameter_group()
                .unwrap_or_default()
                .to_owned(),
            subnet_group: cluster.db_subnet_group().unwrap_or_default().to_owned(),
            security_group_ids: cluster
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
                .collect(),
            tags: tag_map(cluster.tag_list()),
            writers: cluster
                .db_cluster_members()
                .iter()
                .filter(|m| m.is_cluster_writer().unwrap_or(false))
                .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
                .collect(),
        }))
    }

    async fn instances(&self, cluster_id: &str) -> Result<Vec<ObservedInstance>, AwsError> {
        let instances: Vec<_> = self
            .client
            .describe_db_instances()
            .filters(
                Filter::builder()
                    .name("db-cluster-id")
                    .values(cluster_id)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeDBInstances"))?;
        Ok(instances
            .into_iter()
            .filter(|i| i.db_cluster_identifier() == Some(cluster_id))
            .map(|i| {
                let id = i.db_instance_identifier().unwrap_or_default().to_owned();
                ObservedInstance {
                    writer: false,
                    id,
                    cluster_id: cluster_id.to_owned(),
                    class: i.db_instance_class().unwrap_or_default().to_owned(),
                    status: i.db_instance_status().unwrap_or_default().to_owned(),
                    tags: tag_map(i.tag_list()),
                }
            })
            .collect())
    }

    async fn subnet_group(&self, name: &str) -> Result<Option<ObservedSubnetGroup>, AwsError> {
        let out = self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DescribeDBSubnetGroups"))
            .none_if_not_found()?;
        Ok(out.and_then(|o| {
            o.db_subnet_groups().first().map(|g| ObservedSubnetGroup {
                arn: g.db_subnet_group_arn().unwrap_or_default().to_owned(),
                subnet_ids: g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_owned))
                    .collect(),
            })
        }))
    }

    async fn create_subnet_group(
        &self,
        name: &str,
        subnet_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        self.client
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description("berth: the data subnets")
            .set_subnet_ids(Some(subnet_ids))
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateDBSubnetGroup"))?;
        Ok(())
    }

    async fn modify_subnet_group(
        &self,
        name: &str,
        subnet_ids: Vec<String>,
    ) -> Result<(), AwsError> {
        self.client
            .modify_db_subnet_group()
            .db_subnet_group_name(name)
            .set_subnet_ids(Some(subnet_ids))
            .send()
            .await
            .map_err(sdk_error("ModifyDBSubnetGroup"))?;
        Ok(())
    }

    async fn delete_subnet_group(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteDBSubnetGroup"))?;
        Ok(())
    }

    async fn parameter_groups(
        &self,
        prefix: &str,
    ) -> Result<Vec<ObservedParameterGroup>, AwsError> {
        let groups: Vec<_> = self
            .client
            .describe_db_cluster_parameter_groups()
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeDBClusterParameterGroups"))?;
        Ok(groups
            .iter()
            .flat_map(|page| page.db_cluster_parameter_groups())
            .filter_map(|g| {
                Some(ObservedParameterGroup {
                    name: g.db_cluster_parameter_group_name()?.to_owned(),
                    arn: g
                        .db_cluster_parameter_group_arn()
                        .unwrap_or_default()
                        .to_owned(),
                })
            })
            .filter(|g| g.name.starts_with(prefix))
            .collect())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(sdk_error("ListTagsForResource"))?;
        Ok(tag_map(out.tag_list()))
    }

    async fn parameters(&self, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let pages: Vec<_> = self
            .client
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeDBClusterParameters"))?;
        Ok(pages
            .iter()
            .flat_map(|page| page.parameters())
            .filter_map(|p| {
                Some((
                    p.parameter_name()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect())
    }

    async fn create_parameter_group(
        &self,
        name: &str,
        family: &str,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        self.client
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description("berth: TLS required")
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateDBClusterParameterGroup"))?;
        Ok(())
    }

    async fn set_parameter(
        &self,
        name: &str,
        parameter: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.client
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .parameters(
                Parameter::builder()
                    .parameter_name(parameter)
                    .parameter_value(value)
                    .apply_method(ApplyMethod::PendingReboot)
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("ModifyDBClusterParameterGroup"))?;
        Ok(())
    }

    async fn delete_parameter_group(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteDBClusterParameterGroup"))?;
        Ok(())
    }

    async fn create_cluster(&self, cluster: &NewCluster, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .create_db_cluster()
            .db_cluster_identifier(&cluster.id)
            .engine(&cluster.engine)
            .engine_version(&cluster.engine_version)
            .port(i32::from(cluster.port))
            .master_username(&cluster.master_username)
            .master_user_password(&cluster.master_password)
            .db_subnet_group_name(&cluster.subnet_group)
            .db_cluster_parameter_group_name(&cluster.parameter_group)
            .set_vpc_security_group_ids(Some(cluster.security_group_ids.clone()))
            .storage_encrypted(true)
            .set_kms_key_id(cluster.kms_key_arn.clone())
            .backup_retention_period(i32::from(cluster.backup_retention_days))
            .preferred_backup_window(&cluster.backup_window)
            .preferred_maintenance_window(&cluster.maintenance_window)
            .deletion_protection(cluster.deletion_protection)
            .copy_tags_to_snapshot(true)
            .set_database_name(cluster.database_name.clone())
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateDBCluster"))?;
        Ok(())
    }

    async fn modify_cluster(&self, id: &str, changes: &ClusterChanges) -> Result<(), AwsError> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(id)
            .apply_immediately(true)
            .set_backup_retention_period(changes.backup_retention_days.map(i32::from))
            .set_preferred_backup_window(changes.backup_window.clone())
            .set_preferred_maintenance_window(changes.maintenance_window.clone())
            .set_deletion_protection(changes.deletion_protection)
            .set_vpc_security_group_ids(changes.security_group_ids.clone())
            .set_db_cluster_parameter_group_name(changes.parameter_group.clone())
            .send()
            .await
            .map_err(sdk_error("ModifyDBCluster"))?;
        Ok(())
    }

    async fn delete_cluster(
        &self,
        id: &str,
        final_snapshot: Option<String>,
    ) -> Result<(), AwsError> {
        self.client
            .delete_db_cluster()
            .db_cluster_identifier(id)
            .skip_final_snapshot(final_snapshot.is_none())
            .set_final_db_snapshot_identifier(final_snapshot)
            .send()
            .await
            .map_err(sdk_error("DeleteDBCluster"))?;
        Ok(())
    }

    async fn create_instance(
        &self,
        id: &str,
        cluster_id: &str,
        engine: &str,
        class: &str,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        self.client
            .create_db_instance()
            .db_instance_identifier(id)
            .db_cluster_identifier(cluster_id)
            .engine(engine)
            .db_instance_class(class)
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateDBInstance"))?;
        Ok(())
    }

    async fn modify_instance_class(&self, id: &str, class: &str) -> Result<(), AwsError> {
        self.client
            .modify_db_instance()
            .db_instance_identifier(id)
            .db_instance_class(class)
            .apply_immediately(true)
            .send()
            .await
            .map_err(sdk_error("ModifyDBInstance"))?;
        Ok(())
    }

    async fn delete_instance(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .delete_db_instance()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(sdk_error("DeleteDBInstance"))?;
        Ok(())
    }
}

/// [`SecretsApi`] over `aws-sdk-secretsmanager`.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretsApi for SecretsManager {
    async fn secret(&self, name: &str) -> Result<Option<ObservedSecret>, AwsError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(sdk_error("DescribeSecret"))
            .none_if_not_found()?;
        let Some(described) = described else {
            return Ok(None);
        };
        let deleted = described.deleted_date().is_some();
        let value = if deleted {
            None
        } else {
            self.client
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .map_err(sdk_error("GetSecretValue"))
                .none_if_not_found()?
                .and_then(|v| v.secret_string().map(str::to_owned))
        };
        Ok(Some(ObservedSecret {
            arn: described.arn().unwrap_or_default().to_owned(),
            name: described.name().unwrap_or(name).to_owned(),
            value,
            deleted,
            tags: secret_tag_map(described.tags()),
        }))
    }

    async fn secrets(&self, prefix: &str) -> Result<Vec<ObservedSecret>, AwsError> {
        let pages: Vec<_> = self
            .client
            .list_secrets()
            .filters(
                SecretFilter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            )
            .include_planned_deletion(true)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("ListSecrets"))?;
        let listed: Vec<_> = pages
            .iter()
            .flat_map(|p| p.secret_list().iter().cloned())
            .collect();
        // The name filter matches words anywhere in some regions' behaviour: keep prefixes only.
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|s| s.name().is_some_and(|n| n.starts_with(prefix)))
            .collect();
        let live: Vec<String> = listed
            .iter()
            .filter(|s| s.deleted_date().is_none())
            .filter_map(|s| s.arn().map(str::to_owned))
            .collect();
        let mut values = BTreeMap::new();
        for chunk in live.chunks(20) {
            let out = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(sdk_error("BatchGetSecretValue"))?;
            for value in out.secret_values() {
                if let (Some(arn), Some(text)) = (value.arn(), value.secret_string()) {
                    values.insert(arn.to_owned(), text.to_owned());
                }
            }
        }
        Ok(listed
            .into_iter()
            .map(|s| {
                let arn = s.arn().unwrap_or_default().to_owned();
                ObservedSecret {
                    value: values.get(&arn).cloned(),
                    deleted: s.deleted_date().is_some(),
                    name: s.name().unwrap_or_default().to_owned(),
                    tags: secret_tag_map(s.tags()),
                    arn,
                }
            })
            .collect())
    }

    async fn random_password(&self, length: u8) -> Result<String, AwsError> {
        let out = self
            .client
            .get_random_password()
            .password_length(i64::from(length))
            .exclude_punctuation(true)
            .include_space(false)
            .send()
            .await
            .map_err(sdk_error("GetRandomPassword"))?;
        out.random_password().map(str::to_owned).ok_or_else(|| {
            AwsError::new(
                "GetRandomPassword",
                ErrorClass::Sdk,
                "no password in the response",
            )
        })
    }

    async fn create_secret(
        &self,
        name: &str,
        description: &str,
        value: &str,
        kms_key_arn: Option<String>,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_secret()
            .name(name)
            .description(description)
            .secret_string(value)
            .set_kms_key_id(kms_key_arn)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| SecretTag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(sdk_error("CreateSecret"))?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }

    async fn put_secret_value(&self, name: &str, value: &str) -> Result<(), AwsError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map_err(sdk_error("PutSecretValue"))?;
        Ok(())
    }

    async fn restore_secret(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .restore_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(sdk_error("RestoreSecret"))?;
        Ok(())
    }

    async fn delete_secret(&self, name: &str, force: bool) -> Result<(), AwsError> {
        let request = self.client.delete_secret().secret_id(name);
        let request = if force {
            request.force_delete_without_recovery(true)
        } else {
            request.recovery_window_in_days(7)
        };
        request.send().await.map_err(sdk_error("DeleteSecret"))?;
        Ok(())
    }
}
