//! The registry component: observe the stack's repositories, plan against the spec, apply;
//! and image lookup.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use berth_core::{
    apply_phased, Action, Address, AwsError, AwsResultExt, Change, Component, ComponentError,
    FieldDiff, FieldValue, Grants, Phased, Plan, Reporter, Stack,
};
use futures::future::try_join_all;
use serde::Serialize;

use crate::api::{EcrApi, ObservedRepository};
use crate::lifecycle::{self, ParsedPolicy};
use crate::{Encryption, RegistrySpec, RepositorySpec, COMPONENT};

fn address(short: &str) -> Address {
    Address::new(COMPONENT, "repository", short)
}

/// One of the stack's repositories with what else plan needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedStackRepository {
    pub repository: ObservedRepository,
    pub lifecycle_policy: Option<String>,
    pub image_count: usize,
}

/// What exists: the stack's repositories by short name, and the short names of repositories
/// that carry the stack's name prefix without its tags (not ours: never changed or deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryObserved {
    pub repositories: BTreeMap<String, ObservedStackRepository>,
    pub foreign: BTreeSet<String>,
}

/// One step of a registry plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryStep {
    Create {
        short: String,
        name: String,
        spec: RepositorySpec,
    },
    Update {
        name: String,
        scan_on_push: Option<bool>,
        tag_immutability: Option<bool>,
        /// `Some(None)` removes the policy.
        lifecycle_policy: Option<Option<String>>,
    },
    /// Encryption is fixed at creation: delete (with the images, when allowed) and create.
    Replace {
        short: String,
        name: String,
        spec: RepositorySpec,
        image_count: usize,
    },
    Delete {
        name: String,
        image_count: usize,
    },
}

/// A repository for other components (the task definition's image, the pipeline's push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryOutput {
    pub name: String,
    pub arn: String,
    pub uri: String,
}

/// Outputs: repositories keyed by short name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistryOutputs {
    pub repositories: BTreeMap<String, RepositoryOutput>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no image tagged {tag:?} in repository {repository}; push it first, or pick a tag that exists")]
    ImageNotFound { repository: String, tag: String },
    #[error("looking up image {tag:?} in repository {repository}")]
    Lookup {
        repository: String,
        tag: String,
        #[source]
        source: AwsError,
    },
}

/// Repositories are independent of each other: one phase.
impl Phased for RepositoryStep {
    type Phase = ();

    fn phases(&self) -> Vec<()> {
        vec![()]
    }
}

/// The registry component over an [`EcrApi`].
#[derive(Debug, Clone)]
pub struct Registry<A> {
    api: A,
}

impl<A: EcrApi> Registry<A> {
    pub fn new(api: A) -> Self {
        Self { api }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    async fn create(
        &self,
        stack: &Stack,
        short: &str,
        name: &str,
        spec: &RepositorySpec,
    ) -> Result<(), ComponentError> {
        let create_err = |source| ComponentError::apply("creating", address(short))(source);
        let tags = stack.tags(COMPONENT, &address(short), name);
        // Created by this plan's earlier, interrupted attempt: carry on.
        self.api
            .create_repository(
                name,
                spec.scan_on_push,
                spec.tag_immutability,
                &spec.encryption,
                &tags,
            )
            .await
            .ok_if_conflict()
            .map_err(create_err)?;
        if let Some(policy) = lifecycle::render(&spec.lifecycle) {
            self.api
                .put_lifecycle_policy(name, &policy)
                .await
                .map_err(create_err)?;
        }
        Ok(())
    }

    async fn delete(&self, name: &str, image_count: usize) -> Result<(), ComponentError> {
        self.api
            .delete_repository(name, image_count > 0)
            .await
            .ok_if_not_found()
            .map_err(ComponentError::apply(
                "deleting",
                format!("repository {name}"),
            ))
    }

    async fn apply_step(&self, stack: &Stack, step: &RepositoryStep) -> Result<(), ComponentError> {
        match step {
            RepositoryStep::Create { short, name, spec } => {
                self.create(stack, short, name, spec).await
            }
            RepositoryStep::Update {
                name,
                scan_on_push,
                tag_immutability,
                lifecycle_policy,
            } => {
                let update_err = |source| {
                    ComponentError::apply("updating", format!("repository {name}"))(source)
                };
                if let Some(scan) = scan_on_push {
                    self.api
                        .put_scan_on_push(name, *scan)
                        .await
                        .map_err(update_err)?;
                }
                if let Some(immutable) = tag_immutability {
                    self.api
                        .put_tag_immutability(name, *immutable)
                        .await
                        .map_err(update_err)?;
                }
                match lifecycle_policy {
                    Some(Some(policy)) => self.api.put_lifecycle_policy(name, policy).await,
                    Some(None) => self.api.delete_lifecycle_policy(name).await,
                    None => Ok(()),
                }
                .map_err(update_err)
            }
            RepositoryStep::Replace {
                short,
                name,
                spec,
                image_count,
            } => {
                self.delete(name, *image_count).await?;
                self.create(stack, short, name, spec).await
            }
            RepositoryStep::Delete { name, image_count } => self.delete(name, *image_count).await,
        }
    }
}

/// Looks up the digest of the image tagged `tag` in `repository` (the full ECR name).
pub async fn image_digest<A: EcrApi + ?Sized>(
    api: &A,
    repository: &str,
    tag: &str,
) -> Result<String, RegistryError> {
    let lookup_err = |source: AwsError| {
        if source.code.as_deref() == Some("RepositoryNotFoundException") {
            RegistryError::ImageNotFound {
                repository: repository.to_owned(),
                tag: tag.to_owned(),
            }
        } else {
            RegistryError::Lookup {
                repository: repository.to_owned(),
                tag: tag.to_owned(),
                source,
            }
        }
    };
    api.image_digest(repository, tag)
        .await
        .map_err(lookup_err)?
        .ok_or_else(|| RegistryError::ImageNotFound {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
}

fn encryption_matches(want: &Encryption, have: &Encryption) -> bool {
    match (want, have) {
        (Encryption::Aes256, Encryption::Aes256) => true,
        // No key named: the AWS-managed key, whatever ARN ECR reports for it.
        (Encryption::Kms { key_arn: None }, Encryption::Kms { .. }) => true,
        (
            Encryption::Kms {
                key_arn: Some(want),
            },
            Encryption::Kms {
                key_arn: Some(have),
            },
        ) => want == have,
        _ => false,
    }
}

fn image_refusal(name: &str, image_count: usize, delete_images: bool) -> Option<String> {
    (image_count > 0 && !delete_images).then(|| {
        format!(
            "repository {name} holds {image_count} image{}, which deleting it would delete; \
             allow it with --delete-images",
            if image_count == 1 { "" } else { "s" }
        )
    })
}

fn rules_field(rules: &[crate::LifecycleRule]) -> FieldValue {
    FieldValue::of(lifecycle::canonical(rules))
}

fn create_fields(spec: &RepositorySpec) -> Vec<FieldDiff> {
    vec![
        FieldDiff::added("scan_on_push", spec.scan_on_push),
        FieldDiff::added("tag_immutability", spec.tag_immutability),
        FieldDiff::added("encryption", &spec.encryption),
        FieldDiff::new("lifecycle", None, Some(rules_field(&spec.lifecycle))),
    ]
}

/// The pure plan: one change per repository in the spec or the cloud.
pub fn plan(
    stack: &Stack,
    spec: &RegistrySpec,
    observed: &RegistryObserved,
    grants: &Grants,
) -> Plan<RepositoryStep> {
    let mut changes = Vec::new();
    for (short, want) in &spec.repositories {
        let address = address(short);
        let name = stack.resource_name(short);
        let Some(have) = observed.repositories.get(short) else {
            let change = Change::new(
                address,
                Action::Create,
                create_fields(want),
                RepositoryStep::Create {
                    short: short.clone(),
                    name: name.clone(),
                    spec: want.clone(),
                },
            );
            changes.push(if observed.foreign.contains(short) {
                change.refuse(stack.foreign_refusal(COMPONENT, "repository", &name))
            } else {
                change
            });
            continue;
        };
        let repo = &have.repository;
        if !encryption_matches(&want.encryption, &repo.encryption) {
            let change = Change::new(
                address,
                Action::Replace,
                vec![FieldDiff::changed(
                    "encryption",
                    &repo.encryption,
                    &want.encryption,
                )],
                RepositoryStep::Replace {
                    short: short.clone(),
                    name: repo.name.clone(),
                    spec: want.clone(),
                    image_count: have.image_count,
                },
            );
            changes.push(
                match image_refusal(&repo.name, have.image_count, grants.delete_images) {
                    Some(reason) => change.refuse(reason),
                    None => change,
                },
            );
            continue;
        }
        let mut fields = Vec::new();
        let scan_on_push = (repo.scan_on_push != want.scan_on_push).then(|| {
            fields.push(FieldDiff::changed(
                "scan_on_push",
                repo.scan_on_push,
                want.scan_on_push,
            ));
            want.scan_on_push
        });
        let tag_immutability = (repo.tag_immutability != want.tag_immutability).then(|| {
            fields.push(FieldDiff::changed(
                "tag_immutability",
                repo.tag_immutability,
                want.tag_immutability,
            ));
            want.tag_immutability
        });
        let wanted_rules = lifecycle::canonical(&want.lifecycle);
        let current = have.lifecycle_policy.as_deref().map(lifecycle::parse);
        let lifecycle_matches = match &current {
            None => wanted_rules.is_empty(),
            Some(ParsedPolicy::Rules(rules)) => *rules == wanted_rules,
            Some(ParsedPolicy::Foreign(_)) => false,
        };
        let lifecycle_policy = (!lifecycle_matches).then(|| {
            let before = current.as_ref().map(|p| match p {
                ParsedPolicy::Rules(rules) => rules_field(rules),
                ParsedPolicy::Foreign(text) => FieldValue::of(text),
            });
            let after = (!wanted_rules.is_empty()).then(|| rules_field(&wanted_rules));
            fields.push(FieldDiff::new("lifecycle", before, after));
            lifecycle::render(&wanted_rules)
        });
        if fields.is_empty() {
            changes.push(Change::no_op(address));
        } else {
            changes.push(Change::new(
                address,
                Action::Update,
                fields,
                RepositoryStep::Update {
                    name: repo.name.clone(),
                    scan_on_push,
                    tag_immutability,
                    lifecycle_policy,
                },
            ));
        }
    }
    for (short, have) in &observed.repositories {
        if spec.repositories.contains_key(short) {
            continue;
        }
        let name = &have.repository.name;
        let mut fields = vec![FieldDiff::removed("name", name)];
        if have.image_count > 0 {
            fields.push(FieldDiff::removed("images", have.image_count));
        }
        let change = Change::new(
            address(short),
            Action::Delete,
            fields,
            RepositoryStep::Delete {
                name: name.clone(),
                image_count: have.image_count,
            },
        );
        changes.push(
            match image_refusal(name, have.image_count, grants.delete_images) {
                Some(reason) => change.refuse(reason),
                None => change,
            },
        );
    }
    Plan::new(changes)
}

#[async_trait]
impl<A: EcrApi> Component for Registry<A> {
    type Spec = RegistrySpec;
    type Inputs = ();
    type Observed = RegistryObserved;
    type Step = RepositoryStep;
    type Outputs = RegistryOutputs;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    /// One DescribeRepositories for the account; then, for the repositories carrying the
    /// stack's name prefix only, their tags, lifecycle policy and image count (ECR has no
    /// batch call for these), concurrently.
    async fn observe(&self, stack: &Stack) -> Result<RegistryObserved, ComponentError> {
        let prefix = stack.resource_name("");
        let candidates: Vec<_> = self
            .api
            .list_repositories()
            .await
            .map_err(ComponentError::observe("repositories"))?
            .into_iter()
            .filter(|r| r.name.starts_with(&prefix) && r.name.len() > prefix.len())
            .collect();
        let read_err = |_: &str| ComponentError::observe("repositories");
        let details = try_join_all(candidates.into_iter().map(|repository| async move {
            let tags = self
                .api
                .repository_tags(&repository.arn)
                .await
                .map_err(read_err(&repository.name))?;
            if !stack.owns(COMPONENT, &tags) {
                return Ok((repository, None));
            }
            let (lifecycle_policy, image_count) = futures::try_join!(
                self.api.lifecycle_policy(&repository.name),
                self.api.image_count(&repository.name)
            )
            .map_err(read_err(&repository.name))?;
            Ok::<_, ComponentError>((repository, Some((lifecycle_policy, image_count))))
        }))
        .await?;
        let mut observed = RegistryObserved::default();
        for (repository, detail) in details {
            let short = repository.name[prefix.len()..].to_owned();
            match detail {
                Some((lifecycle_policy, image_count)) => {
                    observed.repositories.insert(
                        short,
                        ObservedStackRepository {
                            repository,
                            lifecycle_policy,
                            image_count,
                        },
                    );
                }
                None => {
                    observed.foreign.insert(short);
                }
            }
        }
        Ok(observed)
    }

    fn plan(
        &self,
        stack: &Stack,
        spec: &RegistrySpec,
        _inputs: &(),
        observed: &RegistryObserved,
        grants: &Grants,
    ) -> Plan<RepositoryStep> {
        plan(stack, spec, observed, grants)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<RepositoryStep>,
        _observed: &Self::Observed,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        apply_phased(
            plan,
            (),
            reporter,
            |_, step, _, _| async move {
                self.apply_step(stack, step)
                    .await
                    .map(|()| Vec::<()>::new())
            },
            |_, ()| {},
        )
        .await
        .map(drop)
    }

    fn outputs(&self, _stack: &Stack, observed: &RegistryObserved) -> RegistryOutputs {
        RegistryOutputs {
            repositories: observed
                .repositories
                .iter()
                .map(|(short, r)| {
                    (
                        short.clone(),
                        RepositoryOutput {
                            name: r.repository.name.clone(),
                            arn: r.repository.arn.clone(),
                            uri: r.repository.uri.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
