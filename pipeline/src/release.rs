//! What a release changes: the image resolved to a digest, and per service the task definition
//! it runs, the image it will run, and whether that needs a new revision.

use std::fmt;

use berth_core::{Action, Address, AwsError, FieldDiff};

use crate::api::{ReleaseRegistry, ReleaseService, ReleaseTaskDefinition};

/// How many recent tags a missing-tag error lists.
pub const RECENT_TAGS: usize = 10;

/// An image pinned by digest in the stack's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The repository URI, `123456789012.dkr.ecr.us-east-2.amazonaws.com/prod-app`.
    pub repository_uri: String,
    /// `sha256:…`.
    pub digest: String,
    /// The tag it was asked for by, when it was.
    pub tag: Option<String>,
}

impl ResolvedImage {
    /// `repo@sha256:…`, what task definitions reference.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository_uri, self.digest)
    }
}

impl fmt::Display for ResolvedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference())?;
        if let Some(tag) = &self.tag {
            write!(f, " (tag {tag})")?;
        }
        Ok(())
    }
}

/// Why an image could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no image tagged {tag:?} in repository {repository}; most recent tags: {}", list_or_none(.recent))]
    TagNotFound {
        repository: String,
        tag: String,
        recent: Vec<String>,
    },
    #[error("no image with digest {digest} in repository {repository}")]
    DigestNotFound { repository: String, digest: String },
    #[error("{image:?} is neither a tag nor a sha256 digest")]
    Invalid { image: String },
    #[error("looking up image {image:?} in repository {repository}")]
    Registry {
        repository: String,
        image: String,
        #[source]
        source: AwsError,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none: the repository holds no tagged image)".to_owned()
    } else {
        items.join(", ")
    }
}

/// Resolves `image` — a tag (`v42`), a digest (`sha256:…`) or a reference carrying one
/// (`…@sha256:…`) — to a digest that exists in `repository` (its name; `repository_uri` is
/// what the result references).
pub async fn resolve_image(
    registry: &dyn ReleaseRegistry,
    repository: &str,
    repository_uri: &str,
    image: &str,
) -> Result<ResolvedImage, ResolveError> {
    let registry_error = |source| ResolveError::Registry {
        repository: repository.to_owned(),
        image: image.to_owned(),
        source,
    };
    let digest_part = image.rsplit_once('@').map_or(image, |(_, d)| d);
    if let Some(hex) = digest_part.strip_prefix("sha256:") {
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ResolveError::Invalid {
                image: image.to_owned(),
            });
        }
        let digest = digest_part.to_ascii_lowercase();
        if !registry
            .has_digest(repository, &digest)
            .await
            .map_err(registry_error)?
        {
            return Err(ResolveError::DigestNotFound {
                repository: repository.to_owned(),
                digest,
            });
        }
        return Ok(ResolvedImage {
            repository_uri: repository_uri.to_owned(),
            digest,
            tag: None,
        });
    }
    if image.is_empty() || image.contains(['@', ':', '/', ' ']) {
        return Err(ResolveError::Invalid {
            image: image.to_owned(),
        });
    }
    match registry
        .digest_for_tag(repository, image)
        .await
        .map_err(registry_error)?
    {
        Some(digest) => Ok(ResolvedImage {
            repository_uri: repository_uri.to_owned(),
            digest,
            tag: Some(image.to_owned()),
        }),
        None => {
            let recent = registry
                .recent_tags(repository, RECENT_TAGS)
                .await
                .map_err(registry_error)?;
            Err(ResolveError::TagNotFound {
                repository: repository.to_owned(),
                tag: image.to_owned(),
                recent,
            })
        }
    }
}

/// One service's part of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRelease {
    pub service: String,
    pub address: Address,
    /// The task definition the service runs now.
    pub current_task_definition: String,
    pub current_image: String,
    /// `repo@sha256:…`.
    pub new_image: String,
    /// `Update` when a new revision is needed, `NoOp` when the service already runs the image.
    pub action: Action,
    /// The task-definition diff (empty for a no-op).
    pub diff: Vec<FieldDiff>,
}

impl ServiceRelease {
    pub fn needs_revision(&self) -> bool {
        self.action != Action::NoOp
    }

    /// One line for the person deploying: what changes, or that nothing does.
    pub fn summary(&self) -> String {
        if self.needs_revision() {
            format!(
                "{}: {} -> {} (new revision of {})",
                self.service, self.current_image, self.new_image, self.current_task_definition
            )
        } else {
            format!(
                "{} already runs {} ({}); nothing to release",
                self.service, self.new_image, self.current_task_definition
            )
        }
    }
}

/// A release: one image for a set of services (web and worker share it).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePlan {
    pub image: ResolvedImage,
    pub services: Vec<ServiceRelease>,
}

impl ReleasePlan {
    /// Every service already runs the image: deploying it again changes nothing.
    pub fn is_noop(&self) -> bool {
        self.services.iter().all(|s| !s.needs_revision())
    }

    /// The services that need a new revision.
    pub fn changes(&self) -> impl Iterator<Item = &ServiceRelease> {
        self.services.iter().filter(|s| s.needs_revision())
    }
}

/// The address of a service's release, for reports.
pub fn service_address(service: &str) -> Address {
    Address::new("pipeline", "service", service)
}

/// Plans a release of `image` to each service (with the task definition it runs). Pure.
pub fn plan_release(
    image: &ResolvedImage,
    services: &[(ReleaseService, ReleaseTaskDefinition)],
) -> ReleasePlan {
    let new_image = image.reference();
    let mut releases: Vec<ServiceRelease> = services
        .iter()
        .map(|(service, task_definition)| {
            let diff = if task_definition.image == new_image {
                Vec::new()
            } else {
                vec![FieldDiff::changed(
                    &format!("container[{}].image", task_definition.container),
                    &task_definition.image,
                    &new_image,
                )]
            };
            ServiceRelease {
                service: service.name.clone(),
                address: service_address(&service.name),
                current_task_definition: task_definition.arn.clone(),
                current_image: task_definition.image.clone(),
                new_image: new_image.clone(),
                action: if diff.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                },
                diff,
            }
        })
        .collect();
    releases.sort_by(|a, b| a.address.cmp(&b.address));
    ReleasePlan {
        image: image.clone(),
        services: releases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MockReleaseRegistry;
    use crate::testing::{service, task_definition, DIGEST, REPO_URI};

    fn image() -> ResolvedImage {
        ResolvedImage {
            repository_uri: REPO_URI.into(),
            digest: DIGEST.into(),
            tag: Some("v2".into()),
        }
    }

    #[test]
    fn deploying_what_runs_is_a_noop_that_says_so() {
        let running = task_definition("web", 3, &image().reference());
        let plan = plan_release(&image(), &[(service("web", &running.arn), running)]);
        assert!(plan.is_noop());
        assert_eq!(plan.changes().count(), 0);
        let s = &plan.services[0];
        assert!(s.diff.is_empty());
        assert!(s.summary().contains("already runs"), "{}", s.summary());
        assert!(s.summary().contains("nothing to release"));
    }

    #[test]
    fn a_new_image_needs_a_revision_and_shows_the_diff() {
        // Services are created with the bare repository URI before the first release.
        let web = task_definition("web", 1, REPO_URI);
        let worker = task_definition("worker", 1, &image().reference());
        let plan = plan_release(
            &image(),
            &[
                (service("worker", &worker.arn), worker),
                (service("web", &web.arn), web),
            ],
        );
        assert!(!plan.is_noop());
        let changed: Vec<_> = plan.changes().map(|s| s.service.as_str()).collect();
        assert_eq!(changed, ["web"]);
        let web = &plan.services[0];
        assert_eq!(web.action, Action::Update);
        assert_eq!(
            web.diff,
            vec![FieldDiff::changed(
                "container[web].image",
                REPO_URI,
                image().reference()
            )]
        );
    }

    #[tokio::test]
    async fn a_tag_resolves_to_its_digest() {
        let mut registry = MockReleaseRegistry::new();
        registry
            .expect_digest_for_tag()
            .withf(|repo, tag| repo == "prod-app" && tag == "v2")
            .returning(|_, _| Ok(Some(DIGEST.into())));
        let resolved = resolve_image(&registry, "prod-app", REPO_URI, "v2")
            .await
            .unwrap();
        assert_eq!(resolved, image());
        assert_eq!(resolved.reference(), format!("{REPO_URI}@{DIGEST}"));
    }

    #[tokio::test]
    async fn a_missing_tag_names_the_repository_and_recent_tags() {
        let mut registry = MockReleaseRegistry::new();
        registry.expect_digest_for_tag().returning(|_, _| Ok(None));
        registry
            .expect_recent_tags()
            .withf(|repo, n| repo == "prod-app" && *n == RECENT_TAGS)
            .returning(|_, _| Ok(vec!["v2".into(), "v1".into()]));
        let err = resolve_image(&registry, "prod-app", REPO_URI, "v3")
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::TagNotFound { .. }));
        assert_eq!(
            err.to_string(),
            "no image tagged \"v3\" in repository prod-app; most recent tags: v2, v1"
        );
    }

    #[tokio::test]
    async fn a_digest_must_exist() {
        let mut registry = MockReleaseRegistry::new();
        registry.expect_has_digest().returning(|_, _| Ok(false));
        let err = resolve_image(&registry, "prod-app", REPO_URI, DIGEST)
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::DigestNotFound { .. }));

        let mut registry = MockReleaseRegistry::new();
        registry
            .expect_has_digest()
            .withf(|_, d| d == DIGEST)
            .returning(|_, _| Ok(true));
        let pinned = format!("{REPO_URI}@{DIGEST}");
        let resolved = resolve_image(&registry, "prod-app", REPO_URI, &pinned)
            .await
            .unwrap();
        assert_eq!(resolved.digest, DIGEST);
        assert_eq!(resolved.tag, None);
    }

    #[tokio::test]
    async fn nonsense_is_refused_without_a_call() {
        let registry = MockReleaseRegistry::new();
        for bad in ["", "sha256:abc", "repo:tag", "a b"] {
            let err = resolve_image(&registry, "prod-app", REPO_URI, bad)
                .await
                .unwrap_err();
            assert!(matches!(err, ResolveError::Invalid { .. }), "{bad}");
        }
    }
}
