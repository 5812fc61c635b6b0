//! The ECR facade: only the calls berth-registry makes, in domain types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::{AwsError, Tags};

use crate::Encryption;

/// A repository as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRepository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub tag_immutability: bool,
    pub encryption: Encryption,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EcrApi: Send + Sync {
    /// Every repository of the account and region, all pages.
    async fn list_repositories(&self) -> Result<Vec<ObservedRepository>, AwsError>;
    async fn repository_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError>;
    /// The lifecycle policy text, `None` when the repository has none.
    async fn lifecycle_policy(&self, name: &str) -> Result<Option<String>, AwsError>;
    /// How many images the repository holds (tagged or not).
    async fn image_count(&self, name: &str) -> Result<usize, AwsError>;
    async fn create_repository(
        &self,
        name: &str,
        scan_on_push: bool,
        tag_immutability: bool,
        encryption: &Encryption,
        tags: &Tags,
    ) -> Result<(), AwsError>;
    async fn put_scan_on_push(&self, name: &str, scan_on_push: bool) -> Result<(), AwsError>;
    async fn put_tag_immutability(&self, name: &str, immutable: bool) -> Result<(), AwsError>;
    async fn put_lifecycle_policy(&self, name: &str, policy: &str) -> Result<(), AwsError>;
    async fn delete_lifecycle_policy(&self, name: &str) -> Result<(), AwsError>;
    /// Deletes the repository; `force` deletes its images with it.
    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), AwsError>;
    /// The digest of the image tagged `tag`, `None` when no image has that tag.
    async fn image_digest(&self, name: &str, tag: &str) -> Result<Option<String>, AwsError>;
}
