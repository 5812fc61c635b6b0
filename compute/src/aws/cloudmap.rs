//! [`CloudMapApi`] over `aws-sdk-servicediscovery`.

use async_trait::async_trait;
use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, RecordType, RoutingPolicy, Tag};
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{CloudMapApi, ObservedDiscoveryService};

adapter!(
    CloudMap,
    aws_sdk_servicediscovery::Client,
    "[`CloudMapApi`] for a real (or emulated) Cloud Map endpoint."
);

#[async_trait]
impl CloudMapApi for CloudMap {
    async fn services(&self, description: &str) -> Result<Vec<ObservedDiscoveryService>, AwsError> {
        let mut services = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_services()
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListServices"))?;
            for s in out.services.unwrap_or_default() {
                if s.description.as_deref() != Some(description) {
                    continue;
                }
                let (Some(id), Some(arn), Some(name)) = (s.id, s.arn, s.name) else {
                    continue;
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
                    .map(|t| (t.key, t.value))
                    .collect();
                let ttl = s
                    .dns_config
                    .and_then(|c| c.dns_records.into_iter().next())
                    .map(|r| r.ttl);
                services.push(ObservedDiscoveryService {
                    id,
                    arn,
                    name,
                    ttl,
                    tags,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(services);
            }
        }
    }

    async fn create_service(
        &self,
        name: &str,
        namespace_id: &str,
        description: &str,
        ttl: i64,
        tags: &Tags,
        creator_request_id: &str,
    ) -> Result<(String, String), AwsError> {
        const OP: &str = "CreateService";
        let record = DnsRecord::builder()
            .r#type(RecordType::A)
            .ttl(ttl)
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let dns = DnsConfig::builder()
            .routing_policy(RoutingPolicy::Multivalue)
            .dns_records(record)
            .build()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let out = self
            .client
            .create_service()
            .name(name)
            .namespace_id(namespace_id)
            .description(description)
            .dns_config(dns)
            .creator_request_id(creator_request_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        let service = out
            .service
            .ok_or_else(|| AwsError::invalid(OP, "no service in the response"))?;
        match (service.id, service.arn) {
            (Some(id), Some(arn)) => Ok((id, arn)),
            _ => Err(AwsError::invalid(
                OP,
                "no service id or ARN in the response",
            )),
        }
    }

    async fn delete_service(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .delete_service()
            .id(id)
            .send()
            .await
            .map_err(sdk_error("DeleteService"))?;
        Ok(())
    }
}
