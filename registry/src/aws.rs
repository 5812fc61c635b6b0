//! The ECR implementation of [`EcrApi`] over `aws-sdk-ecr`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageIdentifier, ImageScanningConfiguration,
    ImageTagMutability, Tag,
};
use aws_sdk_ecr::Client;
use berth_core::{sdk_error, AwsError, AwsResultExt, Tags};

use crate::api::{EcrApi, ObservedRepository};
use crate::Encryption;

/// [`EcrApi`] for a real (or emulated) ECR endpoint.
#[derive(Debug, Clone)]
pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl EcrApi for Ecr {
    async fn list_repositories(&self) -> Result<Vec<ObservedRepository>, AwsError> {
        let mut repositories = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_repositories()
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("DescribeRepositories"))?;
            for repo in out.repositories.unwrap_or_default() {
                let encryption = match repo.encryption_configuration {
                    Some(EncryptionConfiguration {
                        encryption_type: EncryptionType::Kms | EncryptionType::KmsDsse,
                        kms_key,
                        ..
                    }) => Encryption::Kms { key_arn: kms_key },
                    _ => Encryption::Aes256,
                };
                repositories.push(ObservedRepository {
                    name: repo.repository_name.unwrap_or_default(),
                    arn: repo.repository_arn.unwrap_or_default(),
                    uri: repo.repository_uri.unwrap_or_default(),
                    scan_on_push: repo
                        .image_scanning_configuration
                        .is_some_and(|c| c.scan_on_push),
                    tag_immutability: repo.image_tag_mutability.is_some_and(|m| {
                        matches!(
                            m,
                            ImageTagMutability::Immutable
                                | ImageTagMutability::ImmutableWithExclusion
                        )
                    }),
                    encryption,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(repositories);
            }
        }
    }

    async fn repository_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(sdk_error("ListTagsForResource"))?;
        Ok(out
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect())
    }

    async fn lifecycle_policy(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self
            .client
            .get_lifecycle_policy()
            .repository_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.lifecycle_policy_text),
            Err(err) => {
                // Only a missing policy is `None`; a missing repository is an error.
                let err = AwsError::from_sdk("GetLifecyclePolicy", err);
                if err.code.as_deref() == Some("LifecyclePolicyNotFoundException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn image_count(&self, name: &str) -> Result<usize, AwsError> {
        let mut count = 0;
        let mut token = None;
        loop {
            let out = self
                .client
                .list_images()
                .repository_name(name)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListImages"))?;
            // A digest can carry several tags and appear once per tag: count digests.
            let mut digests: Vec<_> = out
                .image_ids
                .unwrap_or_default()
                .into_iter()
                .filter_map(|id| id.image_digest)
                .collect();
            digests.sort();
            digests.dedup();
            count += digests.len();
            token = out.next_token;
            if token.is_none() {
                return Ok(count);
            }
        }
    }

    async fn create_repository(
        &self,
        name: &str,
        scan_on_push: bool,
        tag_immutability: bool,
        encryption: &Encryption,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        const OP: &str = "CreateRepository";
        let encryption = match encryption {
            Encryption::Aes256 => EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Aes256)
                .build(),
            Encryption::Kms { key_arn } => EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Kms)
                .set_kms_key(key_arn.clone())
                .build(),
        }
        .map_err(|e| AwsError::invalid(OP, e))?;
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(OP, e))?;
        self.client
            .create_repository()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push)
                    .build(),
            )
            .image_tag_mutability(mutability(tag_immutability))
            .encryption_configuration(encryption)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, e))?;
        Ok(())
    }

    async fn put_scan_on_push(&self, name: &str, scan_on_push: bool) -> Result<(), AwsError> {
        self.client
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push)
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("PutImageScanningConfiguration"))?;
        Ok(())
    }

    async fn put_tag_immutability(&self, name: &str, immutable: bool) -> Result<(), AwsError> {
        self.client
            .put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(mutability(immutable))
            .send()
            .await
            .map_err(sdk_error("PutImageTagMutability"))?;
        Ok(())
    }

    async fn put_lifecycle_policy(&self, name: &str, policy: &str) -> Result<(), AwsError> {
        self.client
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(policy)
            .send()
            .await
            .map_err(sdk_error("PutLifecyclePolicy"))?;
        Ok(())
    }

    async fn delete_lifecycle_policy(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_lifecycle_policy()
            .repository_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteLifecyclePolicy"))
            .ok_if_not_found()
    }

    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), AwsError> {
        self.client
            .delete_repository()
            .repository_name(name)
            .force(force)
            .send()
            .await
            .map_err(sdk_error("DeleteRepository"))?;
        Ok(())
    }

    async fn image_digest(&self, name: &str, tag: &str) -> Result<Option<String>, AwsError> {
        let result = self
            .client
            .describe_images()
            .repository_name(name)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .image_details
                .unwrap_or_default()
                .into_iter()
                .find_map(|d| d.image_digest)),
            Err(err) => {
                // Only a missing tag is `None`; a missing repository is reported as such.
                let err = AwsError::from_sdk("DescribeImages", err);
                if err.code.as_deref() == Some("ImageNotFoundException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

fn mutability(immutable: bool) -> ImageTagMutability {
    if immutable {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}
