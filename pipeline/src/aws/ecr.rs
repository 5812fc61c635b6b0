//! [`ReleaseRegistry`] over `aws-sdk-ecr`.

use async_trait::async_trait;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageIdentifier, TagStatus};
use berth_core::AwsError;

use crate::api::ReleaseRegistry;

/// [`ReleaseRegistry`] for a real (or emulated) ECR endpoint.
#[derive(Debug, Clone)]
pub struct Ecr {
    client: aws_sdk_ecr::Client,
}

impl Ecr {
    pub fn new(client: aws_sdk_ecr::Client) -> Self {
        Self { client }
    }

    /// The digest of the image `id` names, `None` when there is none; a missing repository is
    /// an error, not a missing image.
    async fn find(
        &self,
        repository: &str,
        id: ImageIdentifier,
    ) -> Result<Option<String>, AwsError> {
        let result = self
            .client
            .describe_images()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .image_details
                .unwrap_or_default()
                .into_iter()
                .find_map(|d| d.image_digest)),
            Err(err) => {
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

#[async_trait]
impl ReleaseRegistry for Ecr {
    async fn digest_for_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, AwsError> {
        self.find(
            repository,
            ImageIdentifier::builder().image_tag(tag).build(),
        )
        .await
    }

    async fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, AwsError> {
        Ok(self
            .find(
                repository,
                ImageIdentifier::builder().image_digest(digest).build(),
            )
            .await?
            .is_some())
    }

    async fn recent_tags(&self, repository: &str, count: usize) -> Result<Vec<String>, AwsError> {
        let mut images = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_images()
                .repository_name(repository)
                .filter(
                    DescribeImagesFilter::builder()
                        .tag_status(TagStatus::Tagged)
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeImages", e))?;
            images.extend(
                out.image_details
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| (d.image_pushed_at, d.image_tags.unwrap_or_default())),
            );
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        // Newest first; ties (and images without a push time) keep a stable order.
        images.sort_by_key(|image| std::cmp::Reverse(image.0));
        Ok(images
            .into_iter()
            .flat_map(|(_, tags)| tags)
            .take(count)
            .collect())
    }
}
