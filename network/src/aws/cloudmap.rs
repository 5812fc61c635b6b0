//! [`CloudMapApi`] over `aws-sdk-servicediscovery`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_servicediscovery::types::{
    FilterCondition, NamespaceFilter, NamespaceFilterName, OperationStatus as SdkStatus,
    OperationTargetType, Tag,
};
use aws_sdk_servicediscovery::Client;
use berth_core::{sdk_error, AwsError, Tags};

use crate::api::*;

/// [`CloudMapApi`] for a real (or emulated) Cloud Map endpoint.
#[derive(Debug, Clone)]
pub struct CloudMap {
    client: Client,
}

impl CloudMap {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CloudMapApi for CloudMap {
    async fn list_namespaces(&self) -> Result<Vec<ObservedNamespace>, AwsError> {
        let pages: Vec<_> = self
            .client
            .list_namespaces()
            .filters(
                NamespaceFilter::builder()
                    .name(NamespaceFilterName::Type)
                    .values("DNS_PRIVATE")
                    .condition(FilterCondition::Eq)
                    .build()
                    .map_err(|e| AwsError::invalid("ListNamespaces", e))?,
            )
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("ListNamespaces"))?;
        Ok(pages
            .iter()
            .flat_map(|page| page.namespaces())
            .map(|n| ObservedNamespace {
                id: n.id().unwrap_or_default().to_owned(),
                arn: n.arn().unwrap_or_default().to_owned(),
                name: n.name().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    async fn namespace_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(sdk_error("ListTagsForResource"))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn create_private_dns_namespace(
        &self,
        name: &str,
        vpc_id: &str,
        creator_request_id: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid("CreatePrivateDnsNamespace", e))?;
        let out = self
            .client
            .create_private_dns_namespace()
            .name(name)
            .vpc(vpc_id)
            .creator_request_id(creator_request_id)
            .description("berth: node discovery")
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(sdk_error("CreatePrivateDnsNamespace"))?;
        out.operation_id().map(str::to_owned).ok_or_else(|| {
            AwsError::invalid(
                "CreatePrivateDnsNamespace",
                "no operation id in the response",
            )
        })
    }

    async fn delete_namespace(&self, id: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .delete_namespace()
            .id(id)
            .send()
            .await
            .map_err(sdk_error("DeleteNamespace"))?;
        out.operation_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("DeleteNamespace", "no operation id in the response"))
    }

    async fn operation(&self, operation_id: &str) -> Result<OperationStatus, AwsError> {
        let out = self
            .client
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(sdk_error("GetOperation"))?;
        let Some(operation) = out.operation() else {
            return Err(AwsError::invalid(
                "GetOperation",
                "no operation in the response",
            ));
        };
        let namespace = operation
            .targets()
            .and_then(|t| t.get(&OperationTargetType::Namespace))
            .cloned();
        Ok(match operation.status() {
            Some(SdkStatus::Success) => OperationStatus::Succeeded(namespace),
            Some(SdkStatus::Fail) => OperationStatus::Failed(format!(
                "{}: {}",
                operation.error_code().unwrap_or("failed"),
                operation.error_message().unwrap_or("no message")
            )),
            other => OperationStatus::Pending(
                other
                    .map(|s| s.as_str().to_lowercase())
                    .unwrap_or_else(|| "submitted".into()),
            ),
        })
    }
}
