//! Unit tests of the registry plan (pure) and apply (against a mocked facade).

use berth_core::{ErrorClass, NullReporter, StackName};

use super::*;
use crate::api::MockEcrApi;

/// The plan with no permissions granted.
fn plan(stack: &Stack, spec: &RegistrySpec, observed: &RegistryObserved) -> Plan<RepositoryStep> {
    super::plan(stack, spec, observed, &Grants::default())
}

/// The plan with `--delete-images`.
fn plan_deleting_images(
    stack: &Stack,
    spec: &RegistrySpec,
    observed: &RegistryObserved,
) -> Plan<RepositoryStep> {
    let grants = Grants {
        delete_images: true,
        ..Grants::default()
    };
    super::plan(stack, spec, observed, &grants)
}
use crate::LifecycleRule;

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn repo(short: &str, images: usize, policy: Option<&[LifecycleRule]>) -> ObservedStackRepository {
    let spec = RepositorySpec::default();
    ObservedStackRepository {
        repository: ObservedRepository {
            name: format!("prod-{short}"),
            arn: format!("arn:aws:ecr:us-east-1:123456789012:repository/prod-{short}"),
            uri: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/prod-{short}"),
            scan_on_push: spec.scan_on_push,
            tag_immutability: spec.tag_immutability,
            encryption: spec.encryption,
        },
        lifecycle_policy: policy.and_then(lifecycle::render),
        image_count: images,
    }
}

fn spec_of(shorts: &[&str]) -> RegistrySpec {
    RegistrySpec {
        repositories: shorts
            .iter()
            .map(|s| (s.to_string(), RepositorySpec::default()))
            .collect(),
    }
}

fn observed(repos: Vec<ObservedStackRepository>) -> RegistryObserved {
    RegistryObserved {
        repositories: repos
            .into_iter()
            .map(|r| (r.repository.name["prod-".len()..].to_owned(), r))
            .collect(),
        foreign: BTreeSet::new(),
    }
}

fn defaults() -> Vec<LifecycleRule> {
    LifecycleRule::defaults()
}

#[test]
fn a_missing_repository_is_created_with_every_setting() {
    let plan = plan(&stack(), &spec_of(&["web"]), &observed(vec![]));
    let change = &plan.changes()[0];
    assert_eq!(change.address.as_str(), "registry.repository[web]");
    assert_eq!(change.action, Action::Create);
    let names: Vec<_> = change.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "scan_on_push",
            "tag_immutability",
            "encryption",
            "lifecycle"
        ]
    );
}

#[test]
fn a_matching_repository_is_a_no_op() {
    let plan = plan(
        &stack(),
        &spec_of(&["web"]),
        &observed(vec![repo("web", 3, Some(&defaults()))]),
    );
    assert!(!plan.has_changes());
}

#[test]
fn every_setting_drifts_into_an_update() {
    let mut have = repo("web", 0, Some(&[LifecycleRule::KeepLast { count: 5 }]));
    have.repository.scan_on_push = false;
    have.repository.tag_immutability = false;
    let plan = plan(&stack(), &spec_of(&["web"]), &observed(vec![have]));
    let change = &plan.changes()[0];
    assert_eq!(change.action, Action::Update);
    match change.step.as_ref().unwrap() {
        RepositoryStep::Update {
            scan_on_push,
            tag_immutability,
            lifecycle_policy,
            ..
        } => {
            assert_eq!(*scan_on_push, Some(true));
            assert_eq!(*tag_immutability, Some(true));
            assert_eq!(*lifecycle_policy, Some(lifecycle::render(&defaults())));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_deleted_policy_is_restored_and_an_unwanted_one_removed() {
    let restore = plan(
        &stack(),
        &spec_of(&["web"]),
        &observed(vec![repo("web", 0, None)]),
    );
    assert_eq!(restore.changes()[0].action, Action::Update);
    let mut no_rules = spec_of(&["web"]);
    no_rules
        .repositories
        .get_mut("web")
        .unwrap()
        .lifecycle
        .clear();
    let remove = plan(
        &stack(),
        &no_rules,
        &observed(vec![repo("web", 0, Some(&defaults()))]),
    );
    assert!(matches!(
        remove.changes()[0].step,
        Some(RepositoryStep::Update {
            lifecycle_policy: Some(None),
            ..
        })
    ));
}

#[test]
fn an_encryption_change_is_a_replacement_refused_while_images_exist() {
    let mut kms = spec_of(&["web"]);
    kms.repositories.get_mut("web").unwrap().encryption = Encryption::Kms { key_arn: None };
    let plan_with_images = plan(
        &stack(),
        &kms,
        &observed(vec![repo("web", 2, Some(&defaults()))]),
    );
    let change = &plan_with_images.changes()[0];
    assert_eq!(change.action, Action::Replace);
    assert_eq!(
        change.refused.as_deref(),
        Some("repository prod-web holds 2 images, which deleting it would delete; allow it with --delete-images")
    );
    let allowed = plan_deleting_images(
        &stack(),
        &kms,
        &observed(vec![repo("web", 2, Some(&defaults()))]),
    );
    assert!(allowed.changes()[0].refused.is_none());
}

#[test]
fn the_aws_managed_kms_key_matches_whatever_arn_ecr_reports() {
    let mut kms = spec_of(&["web"]);
    kms.repositories.get_mut("web").unwrap().encryption = Encryption::Kms { key_arn: None };
    let mut have = repo("web", 0, Some(&defaults()));
    have.repository.encryption = Encryption::Kms {
        key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/aws-ecr".into()),
    };
    assert!(!plan(&stack(), &kms, &observed(vec![have])).has_changes());
}

#[test]
fn unconfigured_repositories_are_pruned_and_refused_while_holding_images() {
    let plan = plan(
        &stack(),
        &spec_of(&[]),
        &observed(vec![repo("empty", 0, None), repo("full", 1, None)]),
    );
    let refused: Vec<_> = plan.refused().map(|c| c.address.to_string()).collect();
    assert_eq!(refused, ["registry.repository[full]"]);
    assert!(plan.changes().iter().all(|c| c.action == Action::Delete));
    assert!(plan.changes()[1]
        .refused
        .as_deref()
        .unwrap()
        .contains("1 image,"));
}

#[test]
fn a_same_named_repository_without_our_tags_is_not_taken_over() {
    let mut have = observed(vec![]);
    have.foreign.insert("web".into());
    let plan = plan(&stack(), &spec_of(&["web"]), &have);
    assert!(plan.changes()[0]
        .refused
        .as_deref()
        .unwrap()
        .contains("repository named prod-web exists but is not stack prod's"));
}

#[tokio::test]
async fn create_tags_in_the_same_call_then_sets_the_policy() {
    let mut api = MockEcrApi::new();
    api.expect_create_repository()
        .withf(|name, scan, immutable, encryption, tags| {
            name == "prod-web"
                && *scan
                && *immutable
                && *encryption == Encryption::Aes256
                && tags.get("berth:address") == Some("registry.repository[web]")
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
    api.expect_put_lifecycle_policy()
        .withf(|name, policy| {
            name == "prod-web" && lifecycle::parse(policy) == ParsedPolicy::Rules(defaults())
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let plan = plan(&stack(), &spec_of(&["web"]), &observed(vec![]));
    Registry::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap();
}

#[tokio::test]
async fn apply_refuses_a_plan_with_a_refused_change_before_any_call() {
    let api = MockEcrApi::new(); // any call would panic: no expectations
    let plan = plan(
        &stack(),
        &spec_of(&[]),
        &observed(vec![repo("full", 4, None)]),
    );
    let err = Registry::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with(
        "refusing to change registry.repository[full]: repository prod-full holds 4 images"
    ));
}

#[tokio::test]
async fn allowed_deletes_of_repositories_with_images_force() {
    let mut api = MockEcrApi::new();
    api.expect_delete_repository()
        .withf(|name, force| name == "prod-full" && *force)
        .times(1)
        .returning(|_, _| Ok(()));
    api.expect_delete_repository()
        .withf(|name, force| name == "prod-empty" && !*force)
        .times(1)
        .returning(|_, _| {
            Err(AwsError::new(
                "DeleteRepository",
                ErrorClass::NotFound,
                "gone already",
            ))
        });
    let spec = spec_of(&[]);
    let plan = plan_deleting_images(
        &stack(),
        &spec,
        &observed(vec![repo("full", 4, None), repo("empty", 0, None)]),
    );
    Registry::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap();
}

#[tokio::test]
async fn observe_reads_details_only_of_the_stacks_repositories() {
    let mut api = MockEcrApi::new();
    api.expect_list_repositories().times(1).returning(|| {
        Ok(vec![
            repo("web", 0, None).repository,
            repo("other", 0, None).repository,
            ObservedRepository {
                name: "staging-web".into(),
                ..repo("x", 0, None).repository
            },
        ])
    });
    api.expect_repository_tags().times(2).returning(|arn| {
        Ok(if arn.ends_with("prod-web") {
            [
                ("berth:stack".to_owned(), "prod".to_owned()),
                ("berth:component".to_owned(), "registry".to_owned()),
            ]
            .into()
        } else {
            // The stack's tag without the component's: not the registry's.
            [("berth:stack".to_owned(), "prod".to_owned())].into()
        })
    });
    api.expect_lifecycle_policy()
        .times(1)
        .returning(|_| Ok(None));
    api.expect_image_count().times(1).returning(|_| Ok(7));
    let observed = Registry::new(api).observe(&stack()).await.unwrap();
    assert_eq!(observed.repositories["web"].image_count, 7);
    assert_eq!(observed.foreign, BTreeSet::from(["other".to_owned()]));
}

#[tokio::test]
async fn image_lookup_names_the_missing_tag() {
    let mut api = MockEcrApi::new();
    api.expect_image_digest()
        .withf(|repo, tag| repo == "prod-web" && tag == "v2")
        .returning(|_, _| Ok(None));
    let err = image_digest(&api, "prod-web", "v2").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no image tagged \"v2\" in repository prod-web; push it first, or pick a tag that exists"
    );
    let mut api = MockEcrApi::new();
    api.expect_image_digest()
        .returning(|_, _| Ok(Some("sha256:abc".into())));
    assert_eq!(
        image_digest(&api, "prod-web", "v1").await.unwrap(),
        "sha256:abc"
    );
}
