//! Unit tests of the logging plan (pure) and apply (against a mocked facade).

use std::collections::BTreeSet;

use berth_core::{AwsError, ErrorClass, NullReporter, RecordingReporter, StackName};

use super::*;
use crate::api::MockLogsApi;

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn group(service: &str, retention: Option<u32>, kms: Option<&str>) -> ObservedLogGroup {
    ObservedLogGroup {
        name: format!("/berth/prod/{service}"),
        arn: format!("arn:aws:logs:us-east-1:123456789012:log-group:/berth/prod/{service}"),
        retention_days: retention,
        kms_key_arn: kms.map(str::to_owned),
    }
}

fn spec(groups: &[(&str, Option<u32>)]) -> LoggingSpec {
    LoggingSpec {
        groups: groups
            .iter()
            .map(|(s, r)| {
                (
                    s.to_string(),
                    LogGroupSpec {
                        retention_days: *r,
                        kms_key_arn: None,
                    },
                )
            })
            .collect(),
    }
}

fn observed(groups: &[ObservedLogGroup]) -> LoggingObserved {
    LoggingObserved {
        groups: groups
            .iter()
            .map(|g| (g.name.rsplit('/').next().unwrap().to_owned(), g.clone()))
            .collect(),
        foreign: BTreeSet::new(),
    }
}

fn actions(plan: &Plan<LogStep>) -> Vec<(String, Action)> {
    plan.changes()
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn missing_groups_are_created_with_their_settings() {
    let plan = plan(&stack(), &spec(&[("web", Some(30))]), &observed(&[]));
    assert_eq!(
        actions(&plan),
        [("logging.log_group[web]".to_owned(), Action::Create)]
    );
    let change = &plan.changes()[0];
    assert_eq!(
        change.step,
        Some(LogStep::Create {
            service: "web".into(),
            name: "/berth/prod/web".into(),
            spec: LogGroupSpec {
                retention_days: Some(30),
                kms_key_arn: None
            },
        })
    );
    assert_eq!(change.fields.len(), 2);
}

#[test]
fn matching_groups_plan_no_ops() {
    let plan = plan(
        &stack(),
        &spec(&[("web", Some(30)), ("worker", None)]),
        &observed(&[group("web", Some(30), None), group("worker", None, None)]),
    );
    assert!(!plan.has_changes());
    assert_eq!(plan.changes().len(), 2);
}

#[test]
fn retention_drift_plans_an_update() {
    let plan = plan(
        &stack(),
        &spec(&[("web", Some(30))]),
        &observed(&[group("web", Some(7), None)]),
    );
    let change = &plan.changes()[0];
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.fields, [FieldDiff::changed("retention_days", 7, 30)]);
    assert_eq!(
        change.step,
        Some(LogStep::Update {
            name: "/berth/prod/web".into(),
            retention_days: Some(Some(30)),
            kms_key_arn: None
        })
    );
}

#[test]
fn removing_retention_and_key_plans_an_update_to_none() {
    let plan = plan(
        &stack(),
        &spec(&[("web", None)]),
        &observed(&[group("web", Some(7), Some("arn:aws:kms:k"))]),
    );
    assert_eq!(
        plan.changes()[0].step,
        Some(LogStep::Update {
            name: "/berth/prod/web".into(),
            retention_days: Some(None),
            kms_key_arn: Some(None)
        })
    );
}

#[test]
fn groups_no_longer_configured_are_pruned() {
    let plan = plan(
        &stack(),
        &spec(&[("web", Some(30))]),
        &observed(&[group("web", Some(30), None), group("old", Some(30), None)]),
    );
    assert_eq!(
        actions(&plan),
        [
            ("logging.log_group[old]".to_owned(), Action::Delete),
            ("logging.log_group[web]".to_owned(), Action::NoOp)
        ]
    );
}

#[test]
fn planning_what_apply_would_leave_converges() {
    // The law plan(spec, observe(apply(plan(spec, ∅)))) == no-op, with the model of apply
    // being "the groups now match the spec".
    let wanted = spec(&[("web", Some(30)), ("worker", Some(90))]);
    let first = plan(&stack(), &wanted, &observed(&[]));
    let after: Vec<_> = first
        .changes()
        .iter()
        .filter_map(|c| match &c.step {
            Some(LogStep::Create { service, spec, .. }) => Some(group(
                service,
                spec.retention_days,
                spec.kms_key_arn.as_deref(),
            )),
            _ => None,
        })
        .collect();
    assert!(!plan(&stack(), &wanted, &observed(&after)).has_changes());
}

#[tokio::test]
async fn create_tags_the_group_in_the_same_call_then_sets_retention() {
    let mut api = MockLogsApi::new();
    api.expect_create_group()
        .withf(|name, kms, tags| {
            name == "/berth/prod/web"
                && kms.is_none()
                && tags.get("berth:stack") == Some("prod")
                && tags.get("berth:address") == Some("logging.log_group[web]")
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_put_retention()
        .withf(|name, days| name == "/berth/prod/web" && *days == 30)
        .times(1)
        .returning(|_, _| Ok(()));
    let logging = Logging::new(api);
    let plan = plan(&stack(), &spec(&[("web", Some(30))]), &observed(&[]));
    let reporter = RecordingReporter::default();
    logging
        .apply(&stack(), &plan, &Default::default(), &reporter)
        .await
        .unwrap();
    assert_eq!(reporter.events().len(), 2);
}

#[tokio::test]
async fn a_create_interrupted_after_the_group_exists_still_converges() {
    let mut api = MockLogsApi::new();
    api.expect_create_group().returning(|_, _, _| {
        Err(AwsError::with_code(
            "CreateLogGroup",
            "ResourceAlreadyExistsException",
            "the log group already exists",
        ))
    });
    api.expect_put_retention().times(1).returning(|_, _| Ok(()));
    let plan = plan(&stack(), &spec(&[("web", Some(30))]), &observed(&[]));
    Logging::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap();
}

#[tokio::test]
async fn kms_changes_associate_and_disassociate() {
    let mut api = MockLogsApi::new();
    api.expect_associate_kms_key()
        .withf(|name, key| name == "/berth/prod/web" && key == "arn:aws:kms:new")
        .times(1)
        .returning(|_, _| Ok(()));
    api.expect_disassociate_kms_key()
        .withf(|name| name == "/berth/prod/worker")
        .times(1)
        .returning(|_| Ok(()));
    let mut wanted = spec(&[("web", None), ("worker", None)]);
    wanted.groups.get_mut("web").unwrap().kms_key_arn = Some("arn:aws:kms:new".into());
    let plan = plan(
        &stack(),
        &wanted,
        &observed(&[
            group("web", None, None),
            group("worker", None, Some("arn:aws:kms:old")),
        ]),
    );
    Logging::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap();
}

fn tags_of(stack: &str, component: &str, service: &str) -> BTreeMap<String, String> {
    Stack::new(StackName::new(stack).unwrap())
        .tags(
            component,
            &Address::new(component, "log_group", service),
            service,
        )
        .0
}

#[tokio::test]
async fn observe_keeps_the_groups_tagged_for_the_stack_and_notes_the_others() {
    let mut api = MockLogsApi::new();
    api.expect_list_groups()
        .withf(|prefix| prefix == "/berth/prod/")
        .returning(|_| {
            Ok(vec![
                group("web", Some(30), None),
                group("handmade", None, None),
                group("copied", None, None),
                group("gone", None, None),
            ])
        });
    api.expect_group_tags().returning(|arn| {
        let service = arn.rsplit('/').next().unwrap();
        match service {
            "web" => Ok(tags_of("prod", COMPONENT, "web")),
            "handmade" => Ok([("team".to_owned(), "x".to_owned())].into()),
            // The stack's tag, put on by another component: not the logging component's.
            "copied" => Ok(tags_of("prod", "registry", "copied")),
            _ => Err(AwsError::new(
                "ListTagsForResource",
                ErrorClass::NotFound,
                "ResourceNotFoundException",
            )),
        }
    });
    let observed = Logging::new(api).observe(&stack()).await.unwrap();
    assert_eq!(observed.groups.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(
        observed.foreign,
        BTreeSet::from(["copied".to_owned(), "handmade".to_owned()])
    );
}

#[test]
fn groups_that_are_not_the_stacks_are_not_in_the_plan_unless_configured_then_refused() {
    let mut have = observed(&[group("web", Some(30), None)]);
    have.foreign.insert("handmade".into());
    have.foreign.insert("worker".into());
    let unconfigured = plan(&stack(), &spec(&[("web", Some(30))]), &have);
    assert_eq!(
        actions(&unconfigured),
        [("logging.log_group[web]".to_owned(), Action::NoOp)]
    );
    let down = plan(&stack(), &spec(&[]), &have);
    assert_eq!(
        actions(&down),
        [("logging.log_group[web]".to_owned(), Action::Delete)]
    );
    let clash = plan(
        &stack(),
        &spec(&[("web", Some(30)), ("worker", Some(7))]),
        &have,
    );
    let (address, reason) = clash.first_refusal().unwrap();
    assert_eq!(address, "logging.log_group[worker]");
    assert!(
        reason.contains("log group named /berth/prod/worker exists but is not stack prod's"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_refused_plan_is_not_applied() {
    let mut have = LoggingObserved::default();
    have.foreign.insert("web".into());
    let plan = plan(&stack(), &spec(&[("web", None), ("worker", None)]), &have);
    let err = Logging::new(MockLogsApi::new())
        .apply(&stack(), &plan, &have, &NullReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, ComponentError::Refused { .. }), "{err}");
}

#[tokio::test]
async fn deleting_a_group_already_gone_is_done() {
    let mut api = MockLogsApi::new();
    api.expect_delete_group().times(1).returning(|_| {
        Err(AwsError::new(
            "DeleteLogGroup",
            ErrorClass::NotFound,
            "ResourceNotFoundException",
        ))
    });
    let plan = plan(&stack(), &spec(&[]), &observed(&[group("old", None, None)]));
    Logging::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_name_the_group() {
    let mut api = MockLogsApi::new();
    api.expect_create_group().returning(|_, _, _| {
        Err(AwsError::new(
            "CreateLogGroup",
            ErrorClass::AccessDenied,
            "AccessDeniedException",
        ))
    });
    let plan = plan(&stack(), &spec(&[("web", None)]), &observed(&[]));
    let err = Logging::new(api)
        .apply(&stack(), &plan, &Default::default(), &NullReporter)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "creating log group /berth/prod/web");
}
