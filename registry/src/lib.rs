//! berth-registry: the stack's ECR repositories — scan on push, tag immutability, encryption,
//! typed lifecycle rules compared by meaning — reconciled by the component contract, plus
//! image lookup (tag → digest).

pub mod api;
pub mod aws;
mod component;
pub mod lifecycle;

pub use api::{EcrApi, ObservedRepository};
pub use component::{
    image_digest, plan, Registry, RegistryError, RegistryObserved, RegistryOutputs,
    RepositoryOutput, RepositoryStep,
};
pub use lifecycle::LifecycleRule;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The component's name: first segment of its addresses, value of its `berth:component` tag.
pub const COMPONENT: &str = "registry";

/// The desired repositories, keyed by short name (`web` → ECR repository `<stack>-web`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySpec {
    pub repositories: BTreeMap<String, RepositorySpec>,
}

/// One repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySpec {
    pub scan_on_push: bool,
    pub tag_immutability: bool,
    pub encryption: Encryption,
    /// Rules in any order; they are rendered in the order ECR needs (see [`lifecycle`]).
    pub lifecycle: Vec<LifecycleRule>,
}

impl Default for RepositorySpec {
    /// Scan on push, immutable tags, AES-256, and reference 001's lifecycle: untagged images
    /// expire after 14 days, the last 30 images are kept.
    fn default() -> Self {
        Self {
            scan_on_push: true,
            tag_immutability: true,
            encryption: Encryption::Aes256,
            lifecycle: LifecycleRule::defaults(),
        }
    }
}

/// How a repository's images are encrypted at rest. Fixed at creation: a change replaces
/// the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    Aes256,
    /// KMS, with the given key ARN or the AWS-managed `aws/ecr` key when `None`.
    Kms {
        key_arn: Option<String>,
    },
}
