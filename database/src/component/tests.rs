//! Database plan tests (pure) and apply tests against mocked facades: resize order, waits
//! that name their cause, deletion with protection lifted and a final snapshot.

use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use berth_core::{Known, NullReporter, RecordingReporter, StackName};

use super::*;
use crate::api::{MockRdsApi, MockSecretsApi};
use crate::{address, final_snapshot_name};
use berth_core::{Action, Event};

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn spec(engine: Engine) -> DatabaseSpec {
    DatabaseSpec {
        engine,
        engine_version: engine.default_version().into(),
        instance_class: "db.r6g.large".into(),
        instance_count: 3,
        port: engine.default_port(),
        master_username: "berth".into(),
        database_name: "prod".into(),
        backup_retention_days: 30,
        backup_window: "01:00-03:00".into(),
        maintenance_window: "sun:05:00-sun:06:00".into(),
        kms_key_arn: None,
        deletion_protection: true,
    }
}

/// The network's outputs, as the database gets them.
fn inputs() -> DatabaseInputs {
    DatabaseInputs {
        data_subnet_ids: Known::Now(vec!["subnet-a".into(), "subnet-b".into()]),
        security_group_id: Known::Now("sg-db".into()),
    }
}

/// A spec (or none) with the run's permissions.
struct Target {
    spec: Option<DatabaseSpec>,
    grants: Grants,
}

fn target(spec: Option<DatabaseSpec>, grants: Grants) -> Target {
    Target { spec, grants }
}

fn plan(stack: &Stack, target: &Target, observed: &DatabaseObserved) -> Plan<DbStep> {
    super::plan(stack, &target.spec, &inputs(), observed, &target.grants)
}

fn placed(spec: DatabaseSpec) -> Arc<PlacedSpec> {
    Arc::new(PlacedSpec {
        spec,
        inputs: inputs(),
    })
}

const PASSWORD: &str = "p4ssw0rdp4ssw0rdp4ssw0rdp4ssw0rd";

/// What apply leaves behind for `spec`.
fn converged(spec: &DatabaseSpec) -> DatabaseObserved {
    let family = spec.engine.family(&spec.engine_version);
    let endpoint = "prod-db.cluster-x.us-east-2.rds.amazonaws.com".to_owned();
    let (tls, value) = spec.engine.tls_parameter();
    DatabaseObserved {
        cluster: Some(ObservedCluster {
            id: "prod-db".into(),
            arn: "arn:rds:prod-db".into(),
            status: "available".into(),
            engine: spec.engine.as_str().into(),
            engine_version: spec.engine_version.clone(),
            port: spec.port,
            master_username: spec.master_username.clone(),
            endpoint: Some(endpoint.clone()),
            reader_endpoint: Some("prod-db.cluster-ro-x".into()),
            backup_retention_days: spec.backup_retention_days,
            backup_window: spec.backup_window.clone(),
            maintenance_window: spec.maintenance_window.clone(),
            deletion_protection: spec.deletion_protection,
            storage_encrypted: true,
            kms_key_arn: Some("arn:aws:kms:default".into()),
            parameter_group: names::parameter_group(&stack(), &family),
            subnet_group: "prod-db".into(),
            security_group_ids: vec!["sg-db".into()],
            tags: owned_tags(&address::cluster(), "prod-db"),
            writers: vec!["prod-db-1".into()],
        }),
        foreign_cluster: false,
        instances: (1..=spec.instance_count)
            .map(|i| {
                (
                    i,
                    ObservedInstance {
                        id: format!("prod-db-{i}"),
                        cluster_id: "prod-db".into(),
                        class: spec.instance_class.clone(),
                        status: "available".into(),
                        writer: i == 1,
                        tags: owned_tags(&address::instance(i), &format!("prod-db-{i}")),
                    },
                )
            })
            .collect(),
        subnet_group: inputs().data_subnet_ids.now().cloned(),
        parameter_groups: [(
            names::parameter_group(&stack(), &family),
            [(tls.to_owned(), value.to_owned())].into(),
        )]
        .into(),
        master_secret: Some(ObservedSecret {
            arn: "arn:secret:master".into(),
            name: "berth/prod/database/master".into(),
            value: Some(serde_json::json!({"password": PASSWORD}).to_string()),
            deleted: false,
            tags: owned_tags(&address::master_secret(), "berth/prod/database/master"),
        }),
        url_secret: Some(ObservedSecret {
            arn: "arn:secret:url".into(),
            name: "berth/prod/database/url".into(),
            value: Some(
                spec.engine
                    .url("berth", PASSWORD, &endpoint, spec.port, "prod"),
            ),
            deleted: false,
            tags: owned_tags(&address::url_secret(), "berth/prod/database/url"),
        }),
        ..DatabaseObserved::default()
    }
}

fn owned_tags(address: &Address, name: &str) -> BTreeMap<String, String> {
    stack().tags(COMPONENT, address, name).0
}

fn changed(plan: &Plan<DbStep>) -> Vec<(String, Action)> {
    plan.actionable()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn from_nothing_everything_is_created_and_the_password_is_never_in_the_plan() {
    let plan = plan(
        &stack(),
        &target(Some(spec(Engine::Docdb)), Default::default()),
        &DatabaseObserved::default(),
    );
    let changes = changed(&plan);
    assert_eq!(changes.len(), 3 + 1 + 3 + 1, "{changes:?}");
    assert!(changes.iter().all(|(_, a)| *a == Action::Create));
    let json = serde_json::to_string(&plan.erase()).unwrap();
    assert!(
        json.contains("\"master_password\",\"before\":null,\"after\":\"(sensitive)\""),
        "{json}"
    );
}

#[test]
fn what_apply_leaves_behind_plans_only_no_ops() {
    for engine in [Engine::Docdb, Engine::AuroraPostgresql] {
        let spec = spec(engine);
        let plan = plan(
            &stack(),
            &target(Some(spec.clone()), Default::default()),
            &converged(&spec),
        );
        assert_eq!(changed(&plan), [], "{engine:?}");
    }
}

#[test]
fn retention_windows_and_protection_change_in_place() {
    let spec = spec(Engine::Docdb);
    let mut obs = converged(&spec);
    let cluster = obs.cluster.as_mut().unwrap();
    cluster.backup_retention_days = 7;
    cluster.maintenance_window = "mon:05:00-mon:06:00".into();
    cluster.deletion_protection = false;
    let plan = plan(&stack(), &target(Some(spec), Default::default()), &obs);
    assert_eq!(
        changed(&plan),
        [("database.cluster".to_owned(), Action::Update)]
    );
    let action = plan
        .actionable()
        .next()
        .unwrap()
        .step
        .as_ref()
        .unwrap()
        .action
        .clone();
    match &action {
        DbAction::ModifyCluster { changes } => {
            assert_eq!(changes.backup_retention_days, Some(30));
            assert_eq!(
                changes.maintenance_window.as_deref(),
                Some("sun:05:00-sun:06:00")
            );
            assert_eq!(changes.deletion_protection, Some(true));
            assert_eq!(changes.backup_window, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_class_change_resizes_readers_first_in_one_sequential_step() {
    let old = spec(Engine::Docdb);
    let mut new = old.clone();
    new.instance_class = "db.r6g.xlarge".into();
    let plan = plan(
        &stack(),
        &target(Some(new), Default::default()),
        &converged(&old),
    );
    let steps: Vec<_> = plan.actionable().filter_map(|c| c.step.as_ref()).collect();
    assert_eq!(steps.len(), 1);
    assert_eq!(
        steps[0].action,
        DbAction::ResizeInstances {
            ids_in_order: vec!["prod-db-2".into(), "prod-db-3".into(), "prod-db-1".into()]
        }
    );
    assert_eq!(plan.actionable().count(), 3);
}

#[test]
fn fewer_instances_delete_the_highest() {
    let old = spec(Engine::AuroraPostgresql);
    let mut new = old.clone();
    new.instance_count = 2;
    let plan = plan(
        &stack(),
        &target(Some(new), Default::default()),
        &converged(&old),
    );
    assert_eq!(
        changed(&plan),
        [("database.instance[3]".to_owned(), Action::Delete)]
    );
}

#[test]
fn an_engine_change_is_refused_unless_replacement_is_allowed() {
    let old = spec(Engine::Docdb);
    let new = spec(Engine::AuroraPostgresql);
    let refused = plan(
        &stack(),
        &target(Some(new.clone()), Default::default()),
        &converged(&old),
    );
    let reason = refused.refused().next().unwrap().refused.clone().unwrap();
    assert!(reason.contains("--replace-database"), "{reason}");
    let allowed = plan(
        &stack(),
        &target(
            Some(new),
            Grants {
                replace_database: true,
                ..Default::default()
            },
        ),
        &converged(&old),
    );
    assert!(allowed.refused().next().is_none());
    let cluster = allowed
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "database.cluster")
        .unwrap();
    assert_eq!(cluster.action, Action::Replace);
    assert_eq!(
        cluster.step.as_ref().unwrap().action,
        DbAction::ReplaceCluster
    );
}

#[test]
fn an_engine_upgrade_is_refused_with_what_to_do() {
    let old = spec(Engine::AuroraPostgresql);
    let mut new = old.clone();
    new.engine_version = "16.6".into();
    let plan = plan(
        &stack(),
        &target(Some(new), Default::default()),
        &converged(&old),
    );
    let reason = plan.refused().next().unwrap().refused.clone().unwrap();
    assert!(
        reason.contains("set engine_version back to 16.4"),
        "{reason}"
    );
}

#[test]
fn deleting_needs_permission_and_says_what_protects_it() {
    let spec = spec(Engine::Docdb);
    let obs = converged(&spec);
    let refused = plan(&stack(), &target(None, Default::default()), &obs);
    let reason = refused.refused().next().unwrap().refused.clone().unwrap();
    assert!(
        reason.starts_with("cluster prod-db has deletion protection on"),
        "{reason}"
    );
    let allowed = plan(
        &stack(),
        &target(
            None,
            Grants {
                delete_database: true,
                ..Default::default()
            },
        ),
        &obs,
    );
    assert!(allowed.refused().next().is_none());
    let cluster = allowed
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "database.cluster")
        .unwrap();
    assert_eq!(
        cluster.step.as_ref().unwrap().action,
        DbAction::DeleteCluster {
            lift_protection: true,
            final_snapshot: true,
            instance_ids: vec!["prod-db-1".into(), "prod-db-2".into(), "prod-db-3".into()],
        }
    );
}

#[test]
fn a_url_secret_changed_by_hand_is_rewritten() {
    let spec = spec(Engine::Docdb);
    let mut obs = converged(&spec);
    obs.url_secret.as_mut().unwrap().value = Some("mongodb://someone-else".into());
    let plan = plan(&stack(), &target(Some(spec), Default::default()), &obs);
    assert_eq!(
        changed(&plan),
        [("database.url_secret".to_owned(), Action::Update)]
    );
    assert!(!serde_json::to_string(&plan.erase())
        .unwrap()
        .contains("someone-else"));
}

#[test]
fn final_snapshot_names_carry_the_utc_time() {
    let at = UNIX_EPOCH + Duration::from_secs(1_795_379_400);
    assert_eq!(
        final_snapshot_name(&stack(), at),
        "prod-final-20261122-203000"
    );
}

#[tokio::test(start_paused = true)]
async fn resizing_goes_one_instance_at_a_time_waiting_for_each() {
    let old = spec(Engine::Docdb);
    let mut new = old.clone();
    new.instance_class = "db.r6g.xlarge".into();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut rds = MockRdsApi::new();
    let log = calls.clone();
    rds.expect_modify_instance_class()
        .returning(move |id, class| {
            log.lock().unwrap().push(format!("modify {id} {class}"));
            Ok(())
        });
    let log = calls.clone();
    rds.expect_instances().returning(move |_| {
        log.lock().unwrap().push("poll".into());
        Ok((1..=3)
            .map(|i| ObservedInstance {
                id: format!("prod-db-{i}"),
                cluster_id: "prod-db".into(),
                class: "db.r6g.xlarge".into(),
                status: "available".into(),
                writer: false,
                tags: BTreeMap::new(),
            })
            .collect())
    });
    let database = Database::new(rds, MockSecretsApi::new());
    let obs = converged(&old);
    let plan = plan(&stack(), &target(Some(new), Default::default()), &obs);
    database
        .apply(&stack(), &plan, &obs, &NullReporter)
        .await
        .unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "modify prod-db-2 db.r6g.xlarge",
            "poll",
            "modify prod-db-3 db.r6g.xlarge",
            "poll",
            "modify prod-db-1 db.r6g.xlarge",
            "poll"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_that_fails_to_come_up_names_its_status() {
    let spec = spec(Engine::Docdb);
    let mut obs = converged(&spec);
    obs.cluster.as_mut().unwrap().backup_retention_days = 1;
    let mut rds = MockRdsApi::new();
    rds.expect_modify_cluster().returning(|_, _| Ok(()));
    rds.expect_cluster().returning(|_| {
        Ok(Some(ObservedCluster {
            status: "incompatible-parameters".into(),
            ..Default::default()
        }))
    });
    let database = Database::new(rds, MockSecretsApi::new());
    let plan = plan(&stack(), &target(Some(spec), Default::default()), &obs);
    let err = database
        .apply(&stack(), &plan, &obs, &NullReporter)
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(err.to_string(), "waiting for database.cluster");
    assert!(
        cause.contains("the cluster is incompatible-parameters"),
        "{cause}"
    );
}

#[tokio::test(start_paused = true)]
async fn deletion_lifts_protection_deletes_instances_then_the_cluster_with_a_snapshot() {
    let spec = spec(Engine::Docdb);
    let obs = converged(&spec);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut rds = MockRdsApi::new();
    let log = calls.clone();
    rds.expect_modify_cluster().returning(move |_, changes| {
        log.lock()
            .unwrap()
            .push(format!("protect {:?}", changes.deletion_protection));
        Ok(())
    });
    let log = calls.clone();
    rds.expect_delete_instance().returning(move |id| {
        log.lock().unwrap().push(format!("delete {id}"));
        Ok(())
    });
    rds.expect_instances().returning(|_| Ok(vec![]));
    let log = calls.clone();
    rds.expect_delete_cluster().returning(move |id, snapshot| {
        log.lock().unwrap().push(format!(
            "delete {id} snapshot={}",
            snapshot.is_some_and(|s| s.starts_with("prod-final-"))
        ));
        Ok(())
    });
    rds.expect_cluster().returning(|_| Ok(None));
    rds.expect_delete_subnet_group().returning(|_| Ok(()));
    rds.expect_delete_parameter_group().returning(|_| Ok(()));
    let mut secrets = MockSecretsApi::new();
    secrets
        .expect_delete_secret()
        .withf(|name, force| {
            (name.ends_with("/master") && !force) || (name.ends_with("/url") && *force)
        })
        .times(2)
        .returning(|_, _| Ok(()));
    let database = Database::new(rds, secrets);
    let plan = plan(
        &stack(),
        &target(
            None,
            Grants {
                delete_database: true,
                ..Default::default()
            },
        ),
        &obs,
    );
    let reporter = RecordingReporter::default();
    database
        .apply(&stack(), &plan, &obs, &reporter)
        .await
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls[0], "protect Some(false)");
    assert!(calls[1..4].iter().all(|c| c.starts_with("delete prod-db-")));
    assert_eq!(calls[4], "delete prod-db snapshot=true");
    assert!(reporter.events().iter().any(|e| matches!(e, Event::Note { message, .. } if message.contains("final snapshot prod-final-"))));
}

#[tokio::test]
async fn a_master_secret_left_by_an_interrupted_run_is_kept() {
    let spec = spec(Engine::Docdb);
    let mut secrets = MockSecretsApi::new();
    secrets
        .expect_random_password()
        .returning(|_| Ok("x".repeat(32)));
    secrets.expect_create_secret().returning(|_, _, _, _, _| {
        Err(AwsError::with_code(
            "CreateSecret",
            "ResourceExistsException",
            "the secret already exists",
        ))
    });
    let database = Database::new(MockRdsApi::new(), secrets);
    let plan = Plan::new(vec![Change::new(
        address::master_secret(),
        Action::Create,
        vec![],
        DbStep {
            action: DbAction::EnsureMasterSecret { restore: false },
            spec: Some(placed(spec)),
        },
    )]);
    database
        .apply(&stack(), &plan, &DatabaseObserved::default(), &NullReporter)
        .await
        .unwrap();
}

#[test]
fn names_taken_by_what_is_not_the_stacks_are_refused_by_name_never_adopted() {
    let spec = spec(Engine::Docdb);
    let obs = DatabaseObserved {
        foreign_subnet_group: true,
        foreign_parameter_groups: ["prod-db-docdb5-0".to_owned()].into(),
        foreign_secrets: ["berth/prod/database/master".to_owned()].into(),
        ..DatabaseObserved::default()
    };
    let plan = plan(&stack(), &target(Some(spec), Default::default()), &obs);
    let refused: BTreeMap<String, String> = plan
        .refused()
        .map(|c| (c.address.to_string(), c.refused.clone().unwrap()))
        .collect();
    assert_eq!(
        refused.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "database.master_secret",
            "database.parameter_group[docdb5-0]",
            "database.subnet_group"
        ]
    );
    assert!(refused["database.subnet_group"].contains("DB subnet group named prod-db exists"));
    assert!(refused["database.parameter_group[docdb5-0]"]
        .contains("cluster parameter group named prod-db-docdb5-0 exists"));
    assert!(refused["database.master_secret"]
        .contains("secret named berth/prod/database/master exists"));
}

#[test]
fn what_is_not_the_stacks_is_never_deleted() {
    // `prod-db-eu`'s parameter group carries `prod`'s prefix.
    let mut obs = converged(&spec(Engine::Docdb));
    obs.foreign_parameter_groups
        .insert("prod-db-eu-db-docdb5-0".into());
    obs.foreign_secrets
        .insert("berth/prod/database/other".into());
    let up = plan(
        &stack(),
        &target(Some(spec(Engine::Docdb)), Default::default()),
        &obs,
    );
    assert_eq!(changed(&up), []);
    let everything = Grants {
        delete_database: true,
        skip_final_snapshot: true,
        replace_database: true,
        ..Grants::default()
    };
    let down = plan(&stack(), &target(None, everything), &obs);
    let deleted: Vec<String> = down
        .changes()
        .iter()
        .flat_map(|c| c.fields.iter())
        .filter_map(|f| f.before.as_ref().map(|v| v.to_string()))
        .collect();
    assert!(
        !deleted
            .iter()
            .any(|v| v.contains("prod-db-eu") || v.contains("other")),
        "{deleted:?}"
    );
    assert!(down.refused().next().is_none());
}

#[test]
fn instances_in_the_cluster_that_are_not_the_stacks_stop_its_deletion_and_their_names() {
    let spec = spec(Engine::Docdb);
    let mut obs = converged(&spec);
    obs.instances.remove(&3);
    obs.foreign_instances.insert("prod-db-3".into());
    let up = plan(&stack(), &target(Some(spec), Default::default()), &obs);
    let refused: Vec<(String, String)> = up
        .refused()
        .map(|c| (c.address.to_string(), c.refused.clone().unwrap()))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "database.instance[3]");
    assert!(refused[0].1.contains("database instance named prod-db-3"));
    let down = plan(
        &stack(),
        &target(
            None,
            Grants {
                delete_database: true,
                ..Default::default()
            },
        ),
        &obs,
    );
    let refusal = down.first_refusal().unwrap();
    assert_eq!(refusal.0, "database.cluster");
    assert!(
        refusal
            .1
            .contains("holds instances that are not the stack's (prod-db-3)"),
        "{}",
        refusal.1
    );
}

/// A facade over what `prod` and `prod-db-eu` (whose names share `prod-db-`) leave in one
/// account, plus a hand-made subnet group named `prod-db`.
fn shared_account() -> (MockRdsApi, MockSecretsApi) {
    let eu = Stack::new(StackName::new("prod-db-eu").unwrap());
    let mut rds = MockRdsApi::new();
    let cluster = converged(&spec(Engine::Docdb)).cluster.unwrap();
    rds.expect_cluster()
        .withf(|id| id == "prod-db")
        .returning(move |_| Ok(Some(cluster.clone())));
    rds.expect_instances()
        .withf(|id| id == "prod-db")
        .returning(|_| {
            Ok(vec![
                ObservedInstance {
                    id: "prod-db-1".into(),
                    cluster_id: "prod-db".into(),
                    tags: owned_tags(&address::instance(1), "prod-db-1"),
                    ..Default::default()
                },
                ObservedInstance {
                    id: "prod-db-2".into(),
                    cluster_id: "prod-db".into(),
                    ..Default::default()
                },
            ])
        });
    rds.expect_subnet_group()
        .withf(|name| name == "prod-db")
        .returning(|_| {
            Ok(Some(ObservedSubnetGroup {
                arn: "arn:subgrp:prod-db".into(),
                subnet_ids: vec!["subnet-x".into()],
            }))
        });
    rds.expect_parameter_groups()
        .withf(|prefix| prefix == "prod-db-")
        .returning(|_| {
            Ok(["prod-db-docdb5-0", "prod-db-eu-db-docdb5-0"]
                .into_iter()
                .map(|name| ObservedParameterGroup {
                    name: name.into(),
                    arn: format!("arn:cluster-pg:{name}"),
                })
                .collect())
        });
    rds.expect_tags().returning(move |arn| {
        let group = address::parameter_group("docdb5-0");
        Ok(match arn {
            "arn:cluster-pg:prod-db-docdb5-0" => owned_tags(&group, "prod-db-docdb5-0"),
            "arn:cluster-pg:prod-db-eu-db-docdb5-0" => {
                eu.tags(COMPONENT, &group, "prod-db-eu-db-docdb5-0").0
            }
            // The hand-made subnet group has no tags at all.
            _ => BTreeMap::new(),
        })
    });
    rds.expect_parameters()
        .withf(|name| name == "prod-db-docdb5-0")
        .returning(|_| Ok([("tls".to_owned(), "enabled".to_owned())].into()));
    let mut secrets = MockSecretsApi::new();
    secrets.expect_secrets().returning(|_| {
        Ok(vec![
            ObservedSecret {
                arn: "arn:secret:master".into(),
                name: "berth/prod/database/master".into(),
                value: None,
                deleted: false,
                tags: owned_tags(&address::master_secret(), "berth/prod/database/master"),
            },
            ObservedSecret {
                arn: "arn:secret:url".into(),
                name: "berth/prod/database/url".into(),
                value: None,
                deleted: false,
                tags: [("berth:stack".to_owned(), "prod".to_owned())].into(),
            },
        ])
    });
    (rds, secrets)
}

#[tokio::test]
async fn observe_keeps_only_what_the_tags_say_is_the_stacks() {
    let (rds, secrets) = shared_account();
    let observed = Database::new(rds, secrets).observe(&stack()).await.unwrap();
    assert!(observed.cluster.is_some());
    assert_eq!(observed.instances.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(
        observed.foreign_instances,
        BTreeSet::from(["prod-db-2".to_owned()])
    );
    assert_eq!(observed.subnet_group, None);
    assert!(observed.foreign_subnet_group);
    assert_eq!(
        observed.parameter_groups.keys().collect::<Vec<_>>(),
        ["prod-db-docdb5-0"]
    );
    assert_eq!(
        observed.foreign_parameter_groups,
        BTreeSet::from(["prod-db-eu-db-docdb5-0".to_owned()])
    );
    assert!(observed.master_secret.is_some());
    // Tagged for the stack but not by the database component: not the database's.
    assert_eq!(observed.url_secret, None);
    assert_eq!(
        observed.foreign_secrets,
        BTreeSet::from(["berth/prod/database/url".to_owned()])
    );
}
