//! Plans for every change kind, and mocked applies: the teardown order and its failure paths.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::{
    Action, Component, ComponentError, Grants, Known, NullReporter, Stack, StackName,
};
use serde_json::json;

use super::*;
use crate::api::*;
use crate::*;

#[derive(Default)]
struct Mocks {
    ecs: MockEcsApi,
    asg: MockAutoScalingApi,
    lt: MockLaunchTemplateApi,
    iam: MockIamApi,
    ssm: MockSsmApi,
    scaling: MockAppScalingApi,
    cw: MockCloudWatchApi,
    sns: MockSnsApi,
    secrets: MockSecretsApi,
    map: MockCloudMapApi,
}

impl Facades for Mocks {
    type Ecs = MockEcsApi;
    type AutoScaling = MockAutoScalingApi;
    type LaunchTemplates = MockLaunchTemplateApi;
    type Iam = MockIamApi;
    type Ssm = MockSsmApi;
    type AppScaling = MockAppScalingApi;
    type CloudWatch = MockCloudWatchApi;
    type Sns = MockSnsApi;
    type Secrets = MockSecretsApi;
    type CloudMap = MockCloudMapApi;
    fn ecs(&self) -> &MockEcsApi {
        &self.ecs
    }
    fn auto_scaling(&self) -> &MockAutoScalingApi {
        &self.asg
    }
    fn launch_templates(&self) -> &MockLaunchTemplateApi {
        &self.lt
    }
    fn iam(&self) -> &MockIamApi {
        &self.iam
    }
    fn ssm(&self) -> &MockSsmApi {
        &self.ssm
    }
    fn app_scaling(&self) -> &MockAppScalingApi {
        &self.scaling
    }
    fn cloudwatch(&self) -> &MockCloudWatchApi {
        &self.cw
    }
    fn sns(&self) -> &MockSnsApi {
        &self.sns
    }
    fn secrets(&self) -> &MockSecretsApi {
        &self.secrets
    }
    fn cloud_map(&self) -> &MockCloudMapApi {
        &self.map
    }
}

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn tags(address: &str) -> TagMap {
    [("berth:stack", "prod"), ("berth:address", address)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

const REPO_URI: &str = "1.dkr.ecr.us-east-2.amazonaws.com/prod-web";

fn spec() -> ComputeSpec {
    let web = ServiceSpec {
        repository: "web".into(),
        container_port: Some(4000),
        log_group: "web".into(),
        pool: Some("default".into()),
        alb_target_group: Some("web".into()),
        discovery: true,
        generated_secrets: GeneratedSecret::ALL.into_iter().collect(),
        database_url: true,
        autoscaling: Some(AutoscalingSpec {
            min: 2,
            max: 4,
            targets: vec![ScalingTarget {
                metric: ScalingMetric::Cpu,
                value: 70,
            }],
            scale_in_cooldown_seconds: 300,
            scale_out_cooldown_seconds: 60,
        }),
        cpu_alarm: Some(CpuAlarmSpec::default()),
        ..ServiceSpec::default()
    };
    ComputeSpec {
        launch_type: LaunchType::Ec2,
        pools: [("default".to_owned(), PoolSpec::default())].into(),
        services: [("web".to_owned(), web)].into(),
        alarm_emails: vec!["ops@example.com".into()],
        ..ComputeSpec::default()
    }
}

fn inputs() -> ComputeInputs {
    ComputeInputs {
        region: "us-east-2".into(),
        private_subnet_ids: Known::Now(vec!["subnet-b".into(), "subnet-a".into()]),
        app_security_group_id: Known::Now("sg-app".into()),
        target_groups: [(
            "web".to_owned(),
            Known::Now(
                "arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/prod-web/1".to_owned(),
            ),
        )]
        .into(),
        alb_arn: Known::Now(
            "arn:aws:elasticloadbalancing:us-east-2:1:loadbalancer/app/prod/2".into(),
        ),
        namespace: Known::Now(NamespaceRef {
            id: "ns-1".into(),
            name: "prod.internal".into(),
        }),
        repositories: [(
            "web".to_owned(),
            Known::Now(RepositoryRef {
                uri: REPO_URI.into(),
                arn: "arn:aws:ecr:us-east-2:1:repository/prod-web".into(),
            }),
        )]
        .into(),
        log_groups: [(
            "web".to_owned(),
            Known::Now(LogGroupRef {
                name: "/berth/prod/web".into(),
                arn: "arn:aws:logs:us-east-2:1:log-group:/berth/prod/web:*".into(),
            }),
        )]
        .into(),
        database_url: Some(DatabaseUrlRef {
            variable: "DATABASE_URL".into(),
            secret_arn: Known::Now(
                "arn:aws:secretsmanager:us-east-2:1:secret:berth/prod/database/url-AbCdEf".into(),
            ),
        }),
        kms_key_arns: vec![],
    }
}

fn observed_with_amis() -> ComputeObserved {
    ComputeObserved {
        amis: [
            (Architecture::X86_64, "ami-x86".to_owned()),
            (Architecture::Arm64, "ami-arm".to_owned()),
        ]
        .into(),
        ..ComputeObserved::default()
    }
}

fn actions(plan: &Plan<ComputeStep>) -> BTreeMap<String, Action> {
    plan.changes()
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn from_nothing_everything_is_created_and_the_service_waits_for_its_first_release() {
    let plan = plan(
        &stack(),
        &spec(),
        &inputs(),
        &observed_with_amis(),
        &Grants::default(),
    );
    let actions = actions(&plan);
    for address in [
        "compute.role[instance]",
        "compute.role[web-execution]",
        "compute.role[web-task]",
        "compute.instance_profile",
        "compute.secret[release-cookie]",
        "compute.secret[secret-key-base]",
        "compute.launch_template[default]",
        "compute.auto_scaling_group[default]",
        "compute.capacity_provider[default]",
        "compute.cluster",
        "compute.cluster_capacity_providers",
        "compute.discovery_service[web]",
        "compute.task_definition[web]",
        "compute.service[web]",
        "compute.alarm_topic",
        "compute.cpu_alarm[web]",
    ] {
        assert_eq!(actions.get(address), Some(&Action::Create), "{address}");
    }
    // Scaling is registered after the first release.
    assert!(!actions.contains_key("compute.scaling[web]"));
    let service = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.service[web]")
        .unwrap();
    let Some(ComputeStep::Service(service::ServiceStep::Create { config, .. })) = &service.step
    else {
        panic!()
    };
    assert_eq!(config.desired_count, 0);
    assert_eq!(config.subnets, ["subnet-a", "subnet-b"]);
    assert!(service.fields.iter().any(|f| f.name == "release"));
    // The task definition's image is the bare repository URI; secrets are sensitive-free ARNs.
    let td = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.task_definition[web]")
        .unwrap();
    let Some(ComputeStep::TaskDefinition(task_definition::TaskDefinitionStep::Register {
        definition,
        ..
    })) = &td.step
    else {
        panic!()
    };
    assert_eq!(definition.container.image, REPO_URI);
    assert_eq!(definition.container.memory, 1792);
    assert_eq!(definition.container.memory_reservation, 896);
    assert_eq!(
        definition.container.environment["DNS_CLUSTER_QUERY"],
        "web.prod.internal"
    );
    assert_eq!(
        definition.container.secrets["RELEASE_COOKIE"],
        generated_marker(GeneratedSecret::ReleaseCookie)
    );
    // Generated secret values are never in a plan.
    let secret = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.secret[release-cookie]")
        .unwrap();
    assert!(secret
        .fields
        .iter()
        .any(|f| f.name == "value" && f.after == Some(berth_core::FieldValue::Sensitive)));
    // The launch template: IMDSv2, encrypted root, the recommended AMI.
    let lt = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.launch_template[default]")
        .unwrap();
    let Some(ComputeStep::LaunchTemplate(capacity::TemplateStep::Create { data, .. })) = &lt.step
    else {
        panic!()
    };
    assert_eq!(data.image_id, "ami-x86");
    assert!(data.imdsv2_required && data.root_volume_encrypted);
    assert_eq!(data.metadata_hop_limit, 1);
    assert!(data.user_data.contains("ECS_CLUSTER=prod-cluster"));
}

#[test]
fn unknown_inputs_show_as_known_after_apply_and_are_never_applied() {
    let mut inputs = inputs();
    inputs.private_subnet_ids = Known::AfterApply;
    let plan = plan(
        &stack(),
        &spec(),
        &inputs,
        &observed_with_amis(),
        &Grants::default(),
    );
    let group = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.auto_scaling_group[default]")
        .unwrap();
    let step = group.step.as_ref().unwrap();
    assert!(unresolved(group, step).is_some());
}

#[test]
fn fargate_has_no_pool_resources_and_a_spot_share() {
    let mut spec = spec();
    spec.launch_type = LaunchType::Fargate;
    spec.pools.clear();
    spec.fargate_spot_percent = 25;
    for s in spec.services.values_mut() {
        s.pool = None;
    }
    let plan = plan(
        &stack(),
        &spec,
        &inputs(),
        &observed_with_amis(),
        &Grants::default(),
    );
    let actions = actions(&plan);
    assert!(!actions.keys().any(|a| a.contains("launch_template")
        || a.contains("auto_scaling_group")
        || a.contains("role[instance]")
        || a.contains("instance_profile")));
    let attach = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.cluster_capacity_providers")
        .unwrap();
    let Some(ComputeStep::ClusterCapacityProviders(cluster::AttachStep::Put {
        default_strategy,
        ..
    })) = &attach.step
    else {
        panic!()
    };
    assert_eq!(
        default_strategy
            .iter()
            .map(|s| (s.provider.as_str(), s.weight))
            .collect::<Vec<_>>(),
        [("FARGATE", 75), ("FARGATE_SPOT", 25)]
    );
}

/// What exists after the spec was applied and the pipeline released `image`.
fn converged(image: &str) -> ComputeObserved {
    let stack = stack();
    let names = Names::new(&stack);
    let spec = spec();
    let inputs = inputs();
    let mut observed = observed_with_amis();
    // Roles, as the plan wants them.
    let pre = PlanCtx {
        names: names.clone(),
        spec: &spec,
        inputs: &inputs,
        observed: &observed,
        grants: &Grants::default(),
    };
    let mut roles = BTreeMap::new();
    for (kind, role) in iam::desired_roles(&pre) {
        roles.insert(
            role.name.clone(),
            ObservedRole {
                name: role.name.clone(),
                arn: format!("arn:aws:iam::1:role/berth/prod/{}", role.name),
                trust_policy: role.trust_policy.clone(),
                inline_policies: role
                    .inline_policy
                    .clone()
                    .map(|p| (iam::INLINE_POLICY.to_owned(), p))
                    .into_iter()
                    .collect(),
                managed_policy_arns: role.managed_policy_arns.clone(),
                tags: tags(&names::address::role(&kind).to_string()),
            },
        );
    }
    observed.secrets = GeneratedSecret::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                ObservedSecret {
                    name: names.secret(s),
                    arn: format!(
                        "arn:aws:secretsmanager:us-east-2:1:secret:{}-x",
                        names.secret(s)
                    ),
                    tags: tags(""),
                },
            )
        })
        .collect();
    // The execution policy depends on the secrets' ARNs: compute roles once secrets exist.
    let pre = PlanCtx {
        names: names.clone(),
        spec: &spec,
        inputs: &inputs,
        observed: &observed,
        grants: &Grants::default(),
    };
    for (_, role) in iam::desired_roles(&pre) {
        roles.get_mut(&role.name).unwrap().inline_policies = role
            .inline_policy
            .clone()
            .map(|p| (iam::INLINE_POLICY.to_owned(), p))
            .into_iter()
            .collect();
    }
    observed.roles = roles;
    observed.instance_profile = Some(ObservedInstanceProfile {
        name: names.instance_profile(),
        arn: "arn:p".into(),
        roles: vec![names.instance_role()],
        tags: tags("compute.instance_profile"),
    });
    let pre = PlanCtx {
        names: names.clone(),
        spec: &spec,
        inputs: &inputs,
        observed: &observed,
        grants: &Grants::default(),
    };
    let pool = &spec.pools["default"];
    observed.launch_templates.insert(
        "default".into(),
        ObservedLaunchTemplate {
            id: "lt-1".into(),
            name: "prod-default".into(),
            latest_version: 1,
            data: Some(capacity::template_data(&pre, pool)),
            tags: tags("compute.launch_template[default]"),
        },
    );
    observed.groups.insert(
        "default".into(),
        ObservedGroup {
            name: "prod-default".into(),
            arn: "arn:asg".into(),
            min_size: 1,
            max_size: 2,
            desired_capacity: 3,
            launch_template: Some(("lt-1".into(), "$Latest".into())),
            instance_types: vec![],
            spot: None,
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            new_instances_protected: true,
            instances: vec![],
            status: None,
            tags: tags("compute.auto_scaling_group[default]"),
        },
    );
    observed.capacity_providers.insert(
        "default".into(),
        ObservedCapacityProvider {
            name: "prod-default".into(),
            arn: "arn:cp".into(),
            status: "ACTIVE".into(),
            update_status: None,
            update_status_reason: None,
            group_arn: Some("arn:asg".into()),
            target_capacity: Some(100),
            managed_termination_protection: Some(true),
            tags: tags("compute.capacity_provider[default]"),
        },
    );
    observed.cluster = Some(ObservedCluster {
        name: "prod-cluster".into(),
        arn: "arn:cluster".into(),
        status: "ACTIVE".into(),
        container_insights: Some(true),
        capacity_providers: vec!["prod-default".into()],
        default_strategy: vec![StrategyItem {
            provider: "prod-default".into(),
            weight: 1,
            base: 0,
        }],
        tags: tags("compute.cluster"),
    });
    observed.discovery.insert(
        "web".into(),
        ObservedDiscoveryService {
            id: "srv-1".into(),
            arn: "arn:srv".into(),
            name: "web".into(),
            ttl: Some(10),
            tags: tags("compute.discovery_service[web]"),
        },
    );
    let pre = PlanCtx {
        names: names.clone(),
        spec: &spec,
        inputs: &inputs,
        observed: &observed,
        grants: &Grants::default(),
    };
    let mut definition = task_definition::desired(&pre, "web", &spec.services["web"]);
    definition.container.image = image.to_owned();
    observed.task_definitions.insert(
        "web".into(),
        ObservedTaskDefinition {
            arn: "arn:td:3".into(),
            revision: 3,
            definition,
        },
    );
    let pre = PlanCtx {
        names: names.clone(),
        spec: &spec,
        inputs: &inputs,
        observed: &observed,
        grants: &Grants::default(),
    };
    let want = service::config(&pre, "web", &spec.services["web"]);
    observed.services.insert(
        "web".into(),
        ObservedService {
            name: "web".into(),
            arn: "arn:svc".into(),
            status: "ACTIVE".into(),
            desired_count: 3,
            running_count: 3,
            task_definition_arn: "arn:td:3".into(),
            // As the emulator returns a created service: these fields are unknown.
            strategy: None,
            network: Some((want.subnets.clone(), want.security_groups.clone())),
            load_balancers: want.load_balancers.clone(),
            registry_arns: vec!["arn:srv".into()],
            distinct_instance: None,
            deployment: None,
            grace_period_seconds: None,
            events: vec![],
            tags: tags("compute.service[web]"),
        },
    );
    observed.scalable_targets.insert(
        "web".into(),
        ObservedScalableTarget {
            resource_id: "service/prod-cluster/web".into(),
            min: 2,
            max: 4,
        },
    );
    observed.scaling_policies.insert(
        "web".into(),
        vec![ScalingPolicy {
            name: "prod-web-cpu".into(),
            resource_id: "service/prod-cluster/web".into(),
            metric: ScalingMetric::Cpu,
            target_value: 70,
            resource_label: None,
            scale_in_cooldown_seconds: 300,
            scale_out_cooldown_seconds: 60,
        }],
    );
    observed.topic = Some(ObservedTopic {
        arn: "arn:topic".into(),
        email_subscriptions: vec![Subscription {
            arn: PENDING.into(),
            endpoint: "ops@example.com".into(),
        }],
        tags: tags("compute.alarm_topic"),
    });
    observed.alarms.insert(
        "web".into(),
        ObservedAlarm {
            name: "prod-web-cpu-high".into(),
            arn: "arn:alarm".into(),
            alarm: Some(CpuAlarm {
                name: "prod-web-cpu-high".into(),
                cluster: "prod-cluster".into(),
                service: "web".into(),
                threshold_percent: 80,
                period_seconds: 60,
                evaluation_periods: 1,
                topic_arn: "arn:topic".into(),
            }),
            tags: tags("compute.cpu_alarm[web]"),
        },
    );
    observed
}

const PENDING: &str = crate::alarms::PENDING_CONFIRMATION;
const IMAGE: &str = "1.dkr.ecr.us-east-2.amazonaws.com/prod-web@sha256:abc";

#[test]
fn converged_is_all_no_ops_and_autoscaled_count_and_unreturned_fields_are_not_drift() {
    let plan = plan(
        &stack(),
        &spec(),
        &inputs(),
        &converged(IMAGE),
        &Grants::default(),
    );
    let changed: Vec<_> = plan
        .actionable()
        .map(|c| (c.address.to_string(), c.fields.clone()))
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
}

#[test]
fn a_setting_change_registers_a_revision_with_the_running_image() {
    let mut spec = spec();
    spec.services.get_mut("web").unwrap().memory = 2048;
    let plan = plan(
        &stack(),
        &spec,
        &inputs(),
        &converged(IMAGE),
        &Grants::default(),
    );
    let td = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.task_definition[web]")
        .unwrap();
    assert_eq!(td.action, Action::Update);
    assert!(td.fields.iter().any(|f| f.name == "container.memory"));
    assert!(!td.fields.iter().any(|f| f.name == "container.image"));
    let Some(ComputeStep::TaskDefinition(task_definition::TaskDefinitionStep::Register {
        definition,
        ..
    })) = &td.step
    else {
        panic!()
    };
    assert_eq!(definition.container.image, IMAGE);
    let service = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.service[web]")
        .unwrap();
    assert!(matches!(
        &service.step,
        Some(ComputeStep::Service(service::ServiceStep::Update {
            new_revision: true,
            ..
        }))
    ));
}

#[test]
fn drift_is_planned_back() {
    let mut observed = converged(IMAGE);
    // A policy edited by hand, a scaling target changed, a newer recommended AMI, a provider's target.
    let role = observed.roles.get_mut("prod-web-execution").unwrap();
    role.inline_policies.insert(
        iam::INLINE_POLICY.into(),
        json!({"Version": "2012-10-17", "Statement": []}),
    );
    role.inline_policies.insert("by-hand".into(), json!({}));
    observed.scalable_targets.get_mut("web").unwrap().max = 10;
    observed
        .amis
        .insert(Architecture::X86_64, "ami-newer".into());
    observed
        .capacity_providers
        .get_mut("default")
        .unwrap()
        .target_capacity = Some(90);
    observed.cluster.as_mut().unwrap().container_insights = Some(false);
    let plan = plan(&stack(), &spec(), &inputs(), &observed, &Grants::default());
    let a = actions(&plan);
    for address in [
        "compute.role[web-execution]",
        "compute.scaling[web]",
        "compute.launch_template[default]",
        "compute.capacity_provider[default]",
        "compute.cluster",
    ] {
        assert_eq!(a[address], Action::Update, "{address}");
    }
    let lt = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "compute.launch_template[default]")
        .unwrap();
    assert!(lt.fields.iter().any(|f| f.name == "image_id"));
    assert!(lt.fields.iter().any(|f| f.name == "version"));
    // Running instances are not replaced: nothing touches the group.
    assert_eq!(a["compute.auto_scaling_group[default]"], Action::NoOp);
}

#[test]
fn an_empty_spec_deletes_everything() {
    let plan = plan(
        &stack(),
        &ComputeSpec::default(),
        &ComputeInputs::default(),
        &converged(IMAGE),
        &Grants::default(),
    );
    assert!(
        plan.changes().iter().all(|c| c.action == Action::Delete),
        "{:#?}",
        actions(&plan)
    );
    assert_eq!(plan.changes().len(), 17);
}

#[test]
fn removing_autoscaling_and_alarms_deletes_just_them() {
    let mut spec = spec();
    let web = spec.services.get_mut("web").unwrap();
    web.autoscaling = None;
    web.cpu_alarm = None;
    web.desired_count = 3;
    let plan = plan(
        &stack(),
        &spec,
        &inputs(),
        &converged(IMAGE),
        &Grants::default(),
    );
    let a = actions(&plan);
    assert_eq!(a["compute.scaling[web]"], Action::Delete);
    assert_eq!(a["compute.cpu_alarm[web]"], Action::Delete);
    assert_eq!(a["compute.alarm_topic"], Action::Delete);
    assert_eq!(a["compute.service[web]"], Action::NoOp);
}

// ---------------------------------------------------------------- mocked applies

type Log = Arc<Mutex<Vec<String>>>;

fn logger(log: &Log, entry: &str) -> impl Fn() + Send + Sync + 'static {
    let (log, entry) = (log.clone(), entry.to_owned());
    move || log.lock().unwrap().push(entry.clone())
}

fn teardown_mocks(log: &Log) -> Mocks {
    let mut m = Mocks::default();
    let l = logger(log, "delete_alarms");
    m.cw.expect_delete_alarms().returning(move |_| {
        l();
        Ok(())
    });
    let l = logger(log, "delete_topic");
    m.sns.expect_delete_topic().returning(move |_| {
        l();
        Ok(())
    });
    let l = logger(log, "delete_scaling_policy");
    m.scaling
        .expect_delete_scaling_policy()
        .returning(move |_, _| {
            l();
            Ok(())
        });
    let l = logger(log, "deregister_scalable_target");
    m.scaling
        .expect_deregister_scalable_target()
        .returning(move |_| {
            l();
            Ok(())
        });
    let l = logger(log, "scale_service_to_zero");
    m.ecs.expect_update_service().returning(move |_, _, u| {
        assert_eq!(u.desired_count, Some(0));
        l();
        Ok(())
    });
    let l = logger(log, "delete_service");
    m.ecs.expect_delete_service().returning(move |_, _| {
        l();
        Ok(())
    });
    m.ecs.expect_service().returning(|_, _| Ok(None));
    let l = logger(log, "delete_discovery");
    m.map.expect_delete_service().returning(move |_| {
        l();
        Ok(())
    });
    m.ecs.expect_active_revisions().returning(|_| Ok(vec![]));
    let l = logger(log, "deregister_task_definition");
    m.ecs
        .expect_deregister_task_definition()
        .returning(move |_| {
            l();
            Ok(())
        });
    let l = logger(log, "detach_capacity_providers");
    m.ecs
        .expect_put_cluster_capacity_providers()
        .returning(move |_, p, _| {
            assert!(p.is_empty());
            l();
            Ok(())
        });
    let l = logger(log, "delete_capacity_provider");
    m.ecs.expect_delete_capacity_provider().returning(move |_| {
        l();
        Ok(())
    });
    m.ecs.expect_capacity_providers().returning(|| Ok(vec![]));
    let l = logger(log, "lift_scale_in_protection");
    m.asg
        .expect_set_scale_in_protection()
        .returning(move |_, ids, p| {
            assert_eq!(ids, ["i-1"]);
            assert!(!p);
            l();
            Ok(())
        });
    // The group has a protected instance until it is force-deleted.
    let deleted = Arc::new(Mutex::new(false));
    let d = deleted.clone();
    m.asg.expect_group().returning(move |name| {
        Ok((!*d.lock().unwrap()).then(|| ObservedGroup {
            name: name.to_owned(),
            arn: "arn:asg".into(),
            min_size: 0,
            max_size: 0,
            desired_capacity: 1,
            launch_template: None,
            instance_types: vec![],
            spot: None,
            subnet_ids: vec![],
            new_instances_protected: true,
            instances: vec![GroupInstance {
                id: "i-1".into(),
                lifecycle_state: "InService".into(),
                protected_from_scale_in: true,
            }],
            status: None,
            tags: TagMap::new(),
        }))
    });
    let l = logger(log, "force_delete_group");
    m.asg.expect_delete_group().returning(move |_, force| {
        assert!(force);
        *deleted.lock().unwrap() = true;
        l();
        Ok(())
    });
    let l = logger(log, "deregister_container_instance");
    m.ecs
        .expect_container_instances()
        .returning(|_| Ok(vec!["arn:ci".into()]));
    m.ecs
        .expect_deregister_container_instance()
        .returning(move |_, _| {
            l();
            Ok(())
        });
    let l = logger(log, "delete_cluster");
    m.ecs.expect_delete_cluster().returning(move |_| {
        l();
        Ok(())
    });
    let l = logger(log, "delete_launch_template");
    m.lt.expect_delete_launch_template().returning(move |_| {
        l();
        Ok(())
    });
    let l = logger(log, "remove_role_from_instance_profile");
    m.iam
        .expect_remove_role_from_instance_profile()
        .returning(move |_, _| {
            l();
            Ok(())
        });
    let l = logger(log, "delete_instance_profile");
    m.iam.expect_delete_instance_profile().returning(move |_| {
        l();
        Ok(())
    });
    m.iam.expect_delete_role_policy().returning(|_, _| Ok(()));
    m.iam.expect_detach_role_policy().returning(|_, _| Ok(()));
    let l = logger(log, "delete_role");
    m.iam.expect_delete_role().returning(move |_| {
        l();
        Ok(())
    });
    let l = logger(log, "delete_secret");
    m.secrets.expect_delete_secret().returning(move |_| {
        l();
        Ok(())
    });
    m
}

fn position(log: &[String], entry: &str) -> usize {
    log.iter()
        .position(|e| e == entry)
        .unwrap_or_else(|| panic!("{entry} not called: {log:?}"))
}

#[tokio::test(start_paused = true)]
async fn teardown_runs_in_the_order_that_never_hangs() {
    let log: Log = Arc::default();
    let compute = Compute::new(teardown_mocks(&log));
    let observed = converged(IMAGE);
    let plan = compute.plan(
        &stack(),
        &ComputeSpec::default(),
        &ComputeInputs::default(),
        &observed,
        &Grants::default(),
    );
    compute
        .apply(&stack(), &plan, &observed, &NullReporter)
        .await
        .unwrap();
    let log = log.lock().unwrap().clone();
    let order = [
        "delete_alarms",
        "deregister_scalable_target",
        "scale_service_to_zero",
        "delete_service",
        "delete_discovery",
        "deregister_task_definition",
        "detach_capacity_providers",
        "delete_capacity_provider",
        "lift_scale_in_protection",
        "force_delete_group",
        "deregister_container_instance",
        "delete_cluster",
        "delete_launch_template",
        "delete_instance_profile",
        "delete_role",
        "delete_secret",
        "delete_topic",
    ];
    for pair in order.windows(2) {
        assert!(
            position(&log, pair[0]) < position(&log, pair[1]),
            "{} before {}: {log:?}",
            pair[0],
            pair[1]
        );
    }
}

fn only_provider_deletion(observed: &ComputeObserved) -> (ComputeObserved, Plan<ComputeStep>) {
    let mut o = observed.clone();
    o.services.clear();
    o.task_definitions.clear();
    o.alarms.clear();
    o.topic = None;
    o.scalable_targets.clear();
    o.scaling_policies.clear();
    o.discovery.clear();
    let mut spec = ComputeSpec::default();
    spec.pools.clear();
    let p = plan(
        &stack(),
        &spec,
        &ComputeInputs::default(),
        &o,
        &Grants::default(),
    );
    let p = p.retain(|c| c.address.as_str() == "compute.capacity_provider[default]");
    (o, p)
}

#[tokio::test(start_paused = true)]
async fn a_capacity_provider_that_fails_to_delete_says_why() {
    let mut m = Mocks::default();
    m.ecs
        .expect_delete_capacity_provider()
        .returning(|_| Ok(()));
    m.ecs.expect_capacity_providers().returning(|| {
        Ok(vec![ObservedCapacityProvider {
            name: "prod-default".into(),
            arn: "arn:cp".into(),
            status: "ACTIVE".into(),
            update_status: Some("DELETE_FAILED".into()),
            update_status_reason: Some("The capacity provider is in use by a service".into()),
            group_arn: None,
            target_capacity: None,
            managed_termination_protection: None,
            tags: TagMap::new(),
        }])
    });
    let compute = Compute::new(m);
    let (observed, plan) = only_provider_deletion(&converged(IMAGE));
    let err = compute
        .apply(&stack(), &plan, &observed, &NullReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, ComponentError::Wait { .. }));
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("in use by a service"), "{chain}");
}

#[tokio::test(start_paused = true)]
async fn instances_that_never_terminate_end_the_wait_at_its_deadline() {
    let mut m = Mocks::default();
    m.asg.expect_group().returning(|name| {
        Ok(Some(ObservedGroup {
            name: name.to_owned(),
            arn: "arn:asg".into(),
            min_size: 0,
            max_size: 0,
            desired_capacity: 0,
            launch_template: None,
            instance_types: vec![],
            spot: None,
            subnet_ids: vec![],
            new_instances_protected: true,
            instances: vec![GroupInstance {
                id: "i-stuck".into(),
                lifecycle_state: "Terminating:Wait".into(),
                protected_from_scale_in: false,
            }],
            status: Some("Delete in progress".into()),
            tags: TagMap::new(),
        }))
    });
    m.asg.expect_delete_group().returning(|_, _| Ok(()));
    let compute = Compute::new(m).with_timeouts(Timeouts {
        group_delete: Duration::from_secs(60),
        ..Timeouts::default()
    });
    let mut observed = converged(IMAGE);
    observed.launch_templates.clear();
    let plan = plan(
        &stack(),
        &ComputeSpec::default(),
        &ComputeInputs::default(),
        &observed,
        &Grants::default(),
    )
    .retain(|c| c.address.as_str() == "compute.auto_scaling_group[default]");
    let started = tokio::time::Instant::now();
    let err = compute
        .apply(&stack(), &plan, &observed, &NullReporter)
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(60));
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("i-stuck Terminating:Wait"), "{source}");
}

#[tokio::test(start_paused = true)]
async fn a_service_that_never_drains_ends_the_wait_with_its_last_event() {
    let mut m = Mocks::default();
    m.ecs.expect_update_service().returning(|_, _, _| Ok(()));
    m.ecs.expect_service().returning(|_, name| {
        Ok(Some(ObservedService {
            name: name.to_owned(),
            arn: "arn:svc".into(),
            status: "ACTIVE".into(),
            desired_count: 0,
            running_count: 2,
            task_definition_arn: "arn:td".into(),
            strategy: None,
            network: None,
            load_balancers: vec![],
            registry_arns: vec![],
            distinct_instance: None,
            deployment: None,
            grace_period_seconds: None,
            events: vec!["(service web) has tasks that failed to stop".into()],
            tags: TagMap::new(),
        }))
    });
    let compute = Compute::new(m).with_timeouts(Timeouts {
        service_drain: Duration::from_secs(30),
        ..Timeouts::default()
    });
    let observed = converged(IMAGE);
    let plan = plan(
        &stack(),
        &ComputeSpec::default(),
        &ComputeInputs::default(),
        &observed,
        &Grants::default(),
    )
    .retain(|c| c.address.as_str() == "compute.service[web]");
    let err = compute
        .apply(&stack(), &plan, &observed, &NullReporter)
        .await
        .unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.contains("2 task(s) running") && source.contains("failed to stop"),
        "{source}"
    );
}
