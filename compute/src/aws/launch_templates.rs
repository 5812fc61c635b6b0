//! [`LaunchTemplateApi`] over `aws-sdk-ec2`.

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, VolumeType,
};
use aws_smithy_types::base64;
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{LaunchTemplateApi, LaunchTemplateData, ObservedLaunchTemplate};

adapter!(
    LaunchTemplates,
    aws_sdk_ec2::Client,
    "[`LaunchTemplateApi`] for a real (or emulated) EC2 endpoint."
);

/// The ECS-optimized AL2023 AMIs' root device.
const ROOT_DEVICE: &str = "/dev/xvda";

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn request(data: &LaunchTemplateData, tags: Option<&Tags>) -> RequestLaunchTemplateData {
    let mut b = RequestLaunchTemplateData::builder()
        .image_id(&data.image_id)
        .instance_type(InstanceType::from(data.instance_type.as_str()))
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&data.instance_profile_name)
                .build(),
        )
        .set_security_group_ids(Some(data.security_group_ids.clone()))
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(ROOT_DEVICE)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(data.root_volume_gib as i32)
                        .volume_type(VolumeType::Gp3)
                        .encrypted(data.root_volume_encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(if data.imdsv2_required {
                    LaunchTemplateHttpTokensState::Required
                } else {
                    LaunchTemplateHttpTokensState::Optional
                })
                .http_put_response_hop_limit(data.metadata_hop_limit as i32)
                .build(),
        )
        .user_data(base64::encode(data.user_data.as_bytes()));
    if let Some(tags) = tags {
        // Instances and their volumes carry the stack's tags from launch.
        for kind in [ResourceType::Instance, ResourceType::Volume] {
            b = b.tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(kind)
                    .set_tags(Some(sdk_tags(tags)))
                    .build(),
            );
        }
    }
    b.build()
}

#[async_trait]
impl LaunchTemplateApi for LaunchTemplates {
    async fn launch_templates(&self, stack: &str) -> Result<Vec<ObservedLaunchTemplate>, AwsError> {
        let mut templates = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_launch_templates()
                .filters(
                    Filter::builder()
                        .name(format!("tag:{}", berth_core::stack::TAG_STACK))
                        .values(stack)
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeLaunchTemplates"))?;
            for t in out.launch_templates.unwrap_or_default() {
                let (Some(id), Some(name)) = (t.launch_template_id, t.launch_template_name) else {
                    continue;
                };
                let latest = t.latest_version_number.unwrap_or(1);
                // The latest version's data: EC2 has no batch read of several templates'.
                let version = self
                    .client
                    .describe_launch_template_versions()
                    .launch_template_id(&id)
                    .versions(latest.to_string())
                    .send()
                    .await
                    .map_err(sdk_error("DescribeLaunchTemplateVersions"))?
                    .launch_template_versions
                    .unwrap_or_default()
                    .into_iter()
                    .next();
                let data = version.and_then(|v| v.launch_template_data).map(|d| {
                    let root = d
                        .block_device_mappings()
                        .iter()
                        .find(|m| m.device_name() == Some(ROOT_DEVICE))
                        .and_then(|m| m.ebs.clone());
                    let metadata = d.metadata_options.clone();
                    LaunchTemplateData {
                        image_id: d.image_id.clone().unwrap_or_default(),
                        instance_type: d
                            .instance_type
                            .as_ref()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                        instance_profile_name: d
                            .iam_instance_profile
                            .as_ref()
                            .and_then(|p| p.name.clone())
                            .unwrap_or_default(),
                        security_group_ids: d.security_group_ids.clone().unwrap_or_default(),
                        root_volume_gib: root
                            .as_ref()
                            .and_then(|r| r.volume_size)
                            .unwrap_or_default()
                            .max(0) as u32,
                        root_volume_encrypted: root
                            .as_ref()
                            .and_then(|r| r.encrypted)
                            .unwrap_or_default(),
                        imdsv2_required: metadata.as_ref().and_then(|m| m.http_tokens.clone())
                            == Some(LaunchTemplateHttpTokensState::Required),
                        metadata_hop_limit: metadata
                            .as_ref()
                            .and_then(|m| m.http_put_response_hop_limit)
                            .unwrap_or(1)
                            .max(0) as u32,
                        user_data: d
                            .user_data
                            .as_deref()
                            .and_then(|u| base64::decode(u).ok())
                            .and_then(|b| String::from_utf8(b).ok())
                            .unwrap_or_default(),
                    }
                });
                templates.push(ObservedLaunchTemplate {
                    id,
                    name,
                    latest_version: latest,
                    data,
                    tags: t
                        .tags
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|t| Some((t.key?, t.value?)))
                        .collect(),
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(templates);
            }
        }
    }

    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateLaunchTemplate";
        let out = self
            .client
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(request(data, Some(tags)))
            .client_token(client_token)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .set_tags(Some(sdk_tags(tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error(OP))?;
        out.launch_template
            .and_then(|t| t.launch_template_id)
            .ok_or_else(|| AwsError::invalid(OP, "no launch template id in the response"))
    }

    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        client_token: &str,
    ) -> Result<i64, AwsError> {
        const OP: &str = "CreateLaunchTemplateVersion";
        // Instance tags are carried over from the template's first version.
        let out = self
            .client
            .create_launch_template_version()
            .launch_template_id(id)
            .source_version("$Latest")
            .launch_template_data(request(data, None))
            .client_token(client_token)
            .send()
            .await
            .map_err(sdk_error(OP))?;
        out.launch_template_version
            .and_then(|v| v.version_number)
            .ok_or_else(|| AwsError::invalid(OP, "no version number in the response"))
    }

    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
            .map_err(sdk_error("DeleteLaunchTemplate"))?;
        Ok(())
    }
}
