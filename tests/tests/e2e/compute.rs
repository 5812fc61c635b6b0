//! Compute end to end: an EC2 stack like prod.toml up from nothing (cluster, capacity pools,
//! roles, task definitions, services, discovery, scaling, alarms), converged, drift repaired,
//! torn down to nothing; the same on Fargate; bad configs rejected before any request.

use berth_tests::Harness;
use serde_json::Value;

const EC2_STACK: &str = r#"
[stack]
region = "us-east-1"

[logging]
retention_days = 30

[logging.groups.web]

[registry.repositories.web]

[network]
vpc_cidr = "10.0.0.0/16"
az_count = 2
nat = "single"
container_port = 4000
erlang_ports = [9100, 9155]

[network.load_balancer]
deletion_protection = false
health_check_path = "/health"

[network.websocket_load_balancer]
listener_port = 443

[database]
engine = "docdb"
instance_count = 1
deletion_protection = false

[compute]
alarm_emails = []

[compute.pools.default]
instance_types = ["t3.medium"]
min_size = 2
max_size = 4
target_capacity = 100

[compute.pools.heavy]
instance_types = ["m7g.large"]
min_size = 1
max_size = 2

[services.web]
repository = "web"
cpu = 512
memory = 1792
memory_reservation = 896
load_balancers = ["alb", "nlb"]
discovery = true
one_task_per_instance = true
health_check = { command = "curl -fs http://localhost:4000/health || exit 1" }
environment = { PHX_HOST = "example.com", PORT = "4000" }
deployment = { minimum_healthy_percent = 50, maximum_percent = 150, grace_period = 60 }
autoscaling = { min = 2, max = 4, cpu = 60, requests_per_target = 600 }
cpu_alarm = { threshold = 80 }

[services.worker]
repository = "web"
pool = "heavy"
command = ["bin/app", "eval", "App.Worker.start()"]
discovery = true
desired_count = 1
"#;

fn outputs(up: &berth_tests::Outcome) -> Value {
    up.json_lines()
        .into_iter()
        .find(|l| l["type"] == "outputs")
        .expect("an outputs line")["outputs"]
        .clone()
}

/// The values of a `{"az": "id"}` output map, sorted.
fn sorted_values(map: &Value) -> Vec<String> {
    let mut values: Vec<String> = map
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    values.sort();
    values
}

/// IAM returns policy documents URL-encoded.
fn url_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn policy_json(document: &str) -> Value {
    serde_json::from_str(document).unwrap_or_else(|_| {
        serde_json::from_str(&url_decoded(document)).expect("a JSON policy document")
    })
}

async fn execution_policy(h: &Harness, service: &str) -> Value {
    let out = h
        .clients()
        .iam
        .get_role_policy()
        .role_name(format!("prod-{service}-execution"))
        .policy_name("berth")
        .send()
        .await
        .unwrap();
    policy_json(out.policy_document())
}

/// The policy's statements by Sid, each as (actions, resources), sorted.
fn statements(policy: &Value) -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        let mut list: Vec<String> = match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect(),
            other => vec![other.as_str().unwrap().to_owned()],
        };
        list.sort();
        list
    };
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow");
            (
                s["Sid"].as_str().unwrap().to_owned(),
                (strings(&s["Action"]), strings(&s["Resource"])),
            )
        })
        .collect()
}

/// The latest revision of a family.
async fn task_definition(h: &Harness, family: &str) -> Value {
    let td = h
        .clients()
        .ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .unwrap()
        .task_definition()
        .cloned()
        .unwrap();
    let container = &td.container_definitions()[0];
    let mut secrets: Vec<(String, String)> = container
        .secrets()
        .iter()
        .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
        .collect();
    secrets.sort();
    let log = container.log_configuration().unwrap();
    serde_json::json!({
        "revision": td.revision(),
        "network_mode": td.network_mode().map(|m| m.as_str().to_owned()),
        "compatibilities": td.requires_compatibilities().iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>(),
        "cpu": td.cpu(),
        "memory": td.memory(),
        "execution_role": td.execution_role_arn(),
        "task_role": td.task_role_arn(),
        "image": container.image(),
        "container_cpu": container.cpu(),
        "container_memory": container.memory(),
        "memory_reservation": container.memory_reservation(),
        "command": container.command(),
        "port": container.port_mappings().first().and_then(|p| p.container_port()),
        "health_check": container.health_check().map(|c| c.command().to_vec()),
        "health_check_interval": container.health_check().and_then(|c| c.interval()),
        "log_driver": log.log_driver().as_str(),
        "log_options": log.options(),
        "secrets": secrets,
        "environment": container.environment().iter().map(|e| (e.name().unwrap_or_default().to_owned(), e.value().unwrap_or_default().to_owned())).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

async fn list_stack_roles(h: &Harness) -> Vec<String> {
    let mut names: Vec<String> = h
        .clients()
        .iam
        .list_roles()
        .path_prefix("/berth/prod/")
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_owned())
        .collect();
    names.sort();
    names
}

/// Nothing of compute is left that is tagged with (or named for) the stack.
async fn expect_no_compute(h: &Harness) {
    let c = h.clients();
    let clusters = c.ecs.list_clusters().send().await.unwrap();
    let active = c
        .ecs
        .describe_clusters()
        .set_clusters(Some(clusters.cluster_arns().to_vec()))
        .send()
        .await
        .unwrap();
    let active: Vec<&str> = active
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .filter_map(|c| c.cluster_name())
        .collect();
    assert_eq!(active, Vec::<&str>::new(), "clusters left");
    let groups = c
        .autoscaling
        .describe_auto_scaling_groups()
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.auto_scaling_groups().len(),
        0,
        "Auto Scaling groups left"
    );
    let templates = c.ec2.describe_launch_templates().send().await.unwrap();
    assert_eq!(
        templates.launch_templates().len(),
        0,
        "launch templates left"
    );
    assert_eq!(
        list_stack_roles(h).await,
        Vec::<String>::new(),
        "roles left"
    );
    let profiles = c
        .iam
        .list_instance_profiles()
        .path_prefix("/berth/prod/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        profiles.instance_profiles().len(),
        0,
        "instance profiles left"
    );
    let providers = c.ecs.describe_capacity_providers().send().await.unwrap();
    let ours: Vec<&str> = providers
        .capacity_providers()
        .iter()
        .filter_map(|p| p.name())
        .filter(|n| n.starts_with("prod-"))
        .collect();
    assert_eq!(ours, Vec::<&str>::new(), "capacity providers left");
    let topics = c.sns.list_topics().send().await.unwrap();
    assert_eq!(topics.topics().len(), 0, "SNS topics left");
    let secrets = c.secrets.list_secrets().send().await.unwrap();
    let names: Vec<&str> = secrets
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, Vec::<&str>::new(), "secrets left");
    let alarms = c.cloudwatch.describe_alarms().send().await.unwrap();
    assert_eq!(alarms.metric_alarms().len(), 0, "alarms left");
    let families = c.ecs.list_task_definitions().send().await.unwrap();
    assert_eq!(
        families.task_definition_arns(),
        Vec::<String>::new(),
        "active task definitions left"
    );
    let services = c.cloudmap.list_services().send().await.unwrap();
    assert_eq!(services.services().len(), 0, "Cloud Map services left");
}

#[tokio::test]
async fn an_ec2_stack_comes_up_from_nothing_and_converges() {
    let h = Harness::new().await;
    h.write_stack("prod", EC2_STACK);
    let up = h.xtask(&["up", "prod", "--yes", "--json"]).await;
    up.expect_code(0);
    let out = outputs(&up);
    let network = &out["network"];
    let private = sorted_values(&network["subnets"]["private"]);
    let app_sg = network["security_groups"]["app"].as_str().unwrap();
    let account = h.account();
    let c = h.clients();

    // The cluster: Container Insights on, both pools' providers attached, the default pool's
    // the default strategy (the worker names its pool's provider itself).
    let cluster = c
        .ecs
        .describe_clusters()
        .clusters("prod-cluster")
        .include("SETTINGS".into())
        .include("TAGS".into())
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .clone();
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert!(
        cluster
            .settings()
            .iter()
            .any(
                |s| s.name().map(|n| n.as_str()) == Some("containerInsights")
                    && s.value() == Some("enabled")
            ),
        "{:?}",
        cluster.settings()
    );
    assert!(cluster
        .tags()
        .iter()
        .any(|t| t.key() == Some("berth:stack") && t.value() == Some("prod")));
    let mut providers: Vec<&str> = cluster
        .capacity_providers()
        .iter()
        .map(String::as_str)
        .collect();
    providers.sort();
    assert_eq!(providers, ["prod-default", "prod-heavy"]);
    let mut strategy: Vec<&str> = cluster
        .default_capacity_provider_strategy()
        .iter()
        .map(|s| s.capacity_provider())
        .collect();
    strategy.sort();
    assert_eq!(strategy, ["prod-default"]);

    // Each pool: a capacity provider with managed scaling and termination protection over an
    // Auto Scaling group in the private subnets, new instances protected from scale-in, built
    // from a launch template with IMDSv2, hop limit 1, an encrypted root, joining the cluster.
    for (pool, instance_type, min, max, target) in [
        ("default", "t3.medium", 2, 4, 100),
        ("heavy", "m7g.large", 1, 2, 100),
    ] {
        let name = format!("prod-{pool}");
        let provider = c
            .ecs
            .describe_capacity_providers()
            .capacity_providers(&name)
            .send()
            .await
            .unwrap()
            .capacity_providers()[0]
            .clone();
        let asg_provider = provider.auto_scaling_group_provider().unwrap();
        let managed = asg_provider.managed_scaling().unwrap();
        assert_eq!(
            managed.status().map(|s| s.as_str()),
            Some("ENABLED"),
            "{pool}"
        );
        assert_eq!(managed.target_capacity(), Some(target), "{pool}");
        assert_eq!(
            asg_provider
                .managed_termination_protection()
                .map(|s| s.as_str()),
            Some("ENABLED"),
            "{pool}"
        );

        let group = c
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&name)
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()[0]
            .clone();
        assert!(
            asg_provider
                .auto_scaling_group_arn()
                .ends_with(&format!("autoScalingGroupName/{name}"))
                || Some(asg_provider.auto_scaling_group_arn()) == group.auto_scaling_group_arn(),
            "{pool}: {}",
            asg_provider.auto_scaling_group_arn()
        );
        assert_eq!(group.min_size(), Some(min), "{pool}");
        assert_eq!(group.max_size(), Some(max), "{pool}");
        assert_eq!(
            group.new_instances_protected_from_scale_in(),
            Some(true),
            "{pool}"
        );
        assert_eq!(group.instances().len(), min as usize, "{pool}");
        assert!(
            group
                .instances()
                .iter()
                .all(|i| i.protected_from_scale_in() == Some(true)),
            "{pool}: every instance is protected from scale-in"
        );
        let mut subnets: Vec<String> = group
            .vpc_zone_identifier()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        subnets.sort();
        assert_eq!(subnets, private, "{pool}");
        assert!(group
            .tags()
            .iter()
            .any(|t| t.key() == Some("berth:stack") && t.value() == Some("prod")));
        assert_eq!(
            group
                .launch_template()
                .and_then(|t| t.launch_template_name()),
            Some(name.as_str()),
            "{pool}"
        );

        let versions = c
            .ec2
            .describe_launch_template_versions()
            .launch_template_name(&name)
            .versions("$Latest")
            .send()
            .await
            .unwrap();
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .unwrap()
            .clone();
        assert_eq!(
            data.instance_type().map(|t| t.as_str()),
            Some(instance_type)
        );
        assert!(
            data.image_id().unwrap_or_default().starts_with("ami-"),
            "{pool}: {:?}",
            data.image_id()
        );
        let metadata = data.metadata_options().unwrap();
        assert_eq!(
            metadata.http_tokens().map(|t| t.as_str()),
            Some("required"),
            "{pool}"
        );
        assert_eq!(metadata.http_put_response_hop_limit(), Some(1), "{pool}");
        let root = &data.block_device_mappings()[0];
        assert_eq!(root.ebs().and_then(|e| e.encrypted()), Some(true), "{pool}");
        let user_data = aws_smithy_types::base64::decode(data.user_data().unwrap()).unwrap();
        let user_data = String::from_utf8(user_data).unwrap();
        assert!(
            user_data.contains("ECS_CLUSTER=prod-cluster\n"),
            "{user_data}"
        );
        assert_eq!(
            data.iam_instance_profile().and_then(|p| p
                .name()
                .map(str::to_owned)
                .or_else(|| p.arn().map(|a| a.rsplit('/').next().unwrap().to_owned()))),
            Some("prod-ecs-instance".to_owned()),
            "{pool}"
        );
        assert_eq!(
            data.security_group_ids(),
            [app_sg],
            "{pool}: the instances are in the app security group"
        );
    }

    // Roles, all under /berth/prod/.
    assert_eq!(
        list_stack_roles(&h).await,
        [
            "prod-ecs-instance",
            "prod-web-execution",
            "prod-web-task",
            "prod-worker-execution",
            "prod-worker-task"
        ]
    );
    let mut attached: Vec<String> = c
        .iam
        .list_attached_role_policies()
        .role_name("prod-ecs-instance")
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_owned())
        .collect();
    attached.sort();
    assert_eq!(
        attached,
        [
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
        ]
    );
    let profile = c
        .iam
        .get_instance_profile()
        .instance_profile_name("prod-ecs-instance")
        .send()
        .await
        .unwrap();
    let profile_roles: Vec<&str> = profile
        .instance_profile()
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(profile_roles, ["prod-ecs-instance"]);

    // Each execution role reads exactly the stack's repository, its own group and its secrets.
    let secrets = &out["compute"]["secrets"];
    let mut secret_arns = vec![
        secrets["release_cookie"].as_str().unwrap().to_owned(),
        secrets["secret_key_base"].as_str().unwrap().to_owned(),
        out["database"]["url_secret_arn"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    secret_arns.sort();
    let repository = out["registry"]["repositories"]["web"]["arn"]
        .as_str()
        .unwrap();
    assert_eq!(
        repository,
        format!("arn:aws:ecr:us-east-1:{account}:repository/prod-web")
    );
    for service in ["web", "worker"] {
        let policy = statements(&execution_policy(&h, service).await);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            policy.keys().map(String::as_str).collect::<Vec<_>>(),
            ["EcrLogin", "PullImage", "ReadSecrets", "WriteLogs"],
            "{service}"
        );
        assert_eq!(
            policy["EcrLogin"],
            (s(&["ecr:GetAuthorizationToken"]), s(&["*"]))
        );
        assert_eq!(
            policy["PullImage"],
            (
                s(&[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer"
                ]),
                vec![repository.to_owned()]
            )
        );
        assert_eq!(
            policy["WriteLogs"],
            (
                s(&["logs:CreateLogStream", "logs:PutLogEvents"]),
                vec![format!(
                    "arn:aws:logs:us-east-1:{account}:log-group:/berth/prod/{service}:log-stream:*"
                )]
            )
        );
        assert_eq!(
            policy["ReadSecrets"],
            (s(&["secretsmanager:GetSecretValue"]), secret_arns.clone()),
            "{service}"
        );
    }

    // Task definitions: awsvpc, awslogs to the service's group, secrets by ARN, the bare
    // repository URI until the first release.
    let uri = out["registry"]["repositories"]["web"]["uri"]
        .as_str()
        .unwrap();
    let web = task_definition(&h, "prod-web").await;
    assert_eq!(web["revision"], 1);
    assert_eq!(web["network_mode"], "awsvpc");
    assert_eq!(web["compatibilities"], serde_json::json!(["EC2"]));
    assert_eq!(web["image"], uri);
    assert_eq!(web["container_cpu"], 512);
    assert_eq!(web["container_memory"], 1792);
    assert_eq!(web["memory_reservation"], 896);
    assert_eq!(web["port"], 4000);
    assert_eq!(
        web["health_check"],
        serde_json::json!([
            "CMD-SHELL",
            "curl -fs http://localhost:4000/health || exit 1"
        ])
    );
    assert_eq!(web["log_driver"], "awslogs");
    assert_eq!(web["log_options"]["awslogs-group"], "/berth/prod/web");
    assert_eq!(web["log_options"]["awslogs-region"], "us-east-1");
    assert_eq!(
        web["execution_role"],
        out["compute"]["roles"]["executions"]["web"]
    );
    assert_eq!(web["task_role"], out["compute"]["roles"]["tasks"]["web"]);
    assert_eq!(
        web["secrets"],
        serde_json::json!([
            ["MONGODB_URL", out["database"]["url_secret_arn"]],
            ["RELEASE_COOKIE", secrets["release_cookie"]],
            ["SECRET_KEY_BASE", secrets["secret_key_base"]],
        ])
    );
    assert_eq!(web["environment"]["PHX_HOST"], "example.com");
    assert_eq!(web["environment"]["DNS_CLUSTER_QUERY"], "web.prod.internal");
    let worker = task_definition(&h, "prod-worker").await;
    assert_eq!(worker["log_options"]["awslogs-group"], "/berth/prod/worker");
    assert_eq!(
        worker["command"],
        serde_json::json!(["bin/app", "eval", "App.Worker.start()"])
    );
    assert_eq!(worker["image"], uri);

    // Services: at zero before the first release, in the private subnets and the app group;
    // web behind both target groups and in Cloud Map.
    let services = c
        .ecs
        .describe_services()
        .cluster("prod-cluster")
        .services("web")
        .services("worker")
        .send()
        .await
        .unwrap();
    assert_eq!(services.services().len(), 2);
    let cloudmap = c.cloudmap.list_services().send().await.unwrap();
    let mut discovery: Vec<&str> = cloudmap
        .services()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    discovery.sort();
    assert_eq!(discovery, ["web", "worker"]);
    for service in services.services() {
        let name = service.service_name().unwrap();
        assert_eq!(
            service.desired_count(),
            0,
            "{name}: unreleased services run nothing"
        );
        assert_eq!(
            service.task_definition(),
            out["compute"]["services"][name]["task_definition_arn"].as_str()
        );
        let vpc = service
            .network_configuration()
            .unwrap()
            .awsvpc_configuration()
            .unwrap();
        let mut subnets = vpc.subnets().to_vec();
        subnets.sort();
        assert_eq!(subnets, private, "{name}");
        assert_eq!(vpc.security_groups(), [app_sg], "{name}");
        assert_eq!(
            vpc.assign_public_ip().map(|a| a.as_str()),
            Some("DISABLED"),
            "{name}"
        );
        let registry = &service.service_registries()[0];
        let arn = registry.registry_arn().unwrap();
        assert!(
            cloudmap
                .services()
                .iter()
                .any(|s| s.name() == Some(name) && s.arn() == Some(arn)),
            "{name}: {arn}"
        );
    }
    let web_service = &services
        .services()
        .iter()
        .find(|s| s.service_name() == Some("web"))
        .unwrap();
    let mut target_groups: Vec<(String, Option<i32>)> = web_service
        .load_balancers()
        .iter()
        .map(|l| (l.target_group_arn().unwrap().to_owned(), l.container_port()))
        .collect();
    target_groups.sort();
    let mut expected = vec![
        (
            network["target_groups"]["application"]
                .as_str()
                .unwrap()
                .to_owned(),
            Some(4000),
        ),
        (
            network["target_groups"]["websocket"]
                .as_str()
                .unwrap()
                .to_owned(),
            Some(4000),
        ),
    ];
    expected.sort();
    assert_eq!(target_groups, expected);

    // No scaling target before the first release (the service is held at zero).
    let targets = c
        .appscaling
        .describe_scalable_targets()
        .service_namespace("ecs".into())
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets().len(), 0);

    // The CPU alarm notifies the alarm topic.
    let topic = out["compute"]["alarm_topic_arn"].as_str().unwrap();
    assert_eq!(
        topic,
        format!("arn:aws:sns:us-east-1:{account}:prod-alarms")
    );
    let alarms = c
        .cloudwatch
        .describe_alarms()
        .alarm_names("prod-web-cpu-high")
        .send()
        .await
        .unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.alarm_actions(), [topic]);
    assert_eq!(alarm.threshold(), Some(80.0));
    assert_eq!(alarm.metric_name(), Some("CPUUtilization"));
    assert_eq!(alarm.namespace(), Some("AWS/ECS"));
    let mut dimensions: Vec<(&str, &str)> = alarm
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    dimensions.sort();
    assert_eq!(
        dimensions,
        [("ClusterName", "prod-cluster"), ("ServiceName", "web")]
    );
    let topics = c.sns.list_topics().send().await.unwrap();
    assert!(topics.topics().iter().any(|t| t.topic_arn() == Some(topic)));

    h.expect_converged("prod").await;

    let down = h
        .xtask(&[
            "down",
            "prod",
            "--yes",
            "--delete-database",
            "--skip-final-snapshot",
        ])
        .await;
    down.expect_code(0);
    expect_no_compute(&h).await;
}

const FARGATE_STACK: &str = r#"
[stack]
region = "us-east-1"
launch_type = "fargate"

[registry.repositories.web]

[network]
az_count = 2

[network.load_balancer]
deletion_protection = false

[services.web]
repository = "web"
cpu = 512
memory = 1024
load_balancers = ["alb"]
discovery = true
autoscaling = { min = 2, max = 4, cpu = 60 }
cpu_alarm = { threshold = 80 }
"#;

#[tokio::test]
async fn a_fargate_stack_has_no_instances_converges_and_goes_away() {
    let h = Harness::new().await;
    h.write_stack("prod", FARGATE_STACK);
    let up = h.xtask(&["up", "prod", "--yes", "--json"]).await;
    up.expect_code(0);
    let out = outputs(&up);
    let c = h.clients();

    let cluster = c
        .ecs
        .describe_clusters()
        .clusters("prod-cluster")
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .clone();
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert!(cluster
        .capacity_providers()
        .iter()
        .all(|p| p.starts_with("FARGATE")));
    let strategy: Vec<&str> = cluster
        .default_capacity_provider_strategy()
        .iter()
        .map(|s| s.capacity_provider())
        .collect();
    assert_eq!(strategy, ["FARGATE"]);

    // No EC2 capacity at all: no group, no launch template, no instance role or profile.
    let groups = c
        .autoscaling
        .describe_auto_scaling_groups()
        .send()
        .await
        .unwrap();
    assert_eq!(groups.auto_scaling_groups().len(), 0);
    let templates = c.ec2.describe_launch_templates().send().await.unwrap();
    assert_eq!(templates.launch_templates().len(), 0);
    assert_eq!(
        list_stack_roles(&h).await,
        ["prod-web-execution", "prod-web-task"]
    );
    assert!(out["compute"]["pools"]
        .as_object()
        .is_none_or(|p| p.is_empty()));
    let profiles = c
        .iam
        .list_instance_profiles()
        .path_prefix("/berth/prod/")
        .send()
        .await
        .unwrap();
    assert_eq!(profiles.instance_profiles().len(), 0);

    // The task definition is Fargate's: sized at the task level.
    let web = task_definition(&h, "prod-web").await;
    assert_eq!(web["network_mode"], "awsvpc");
    assert_eq!(web["compatibilities"], serde_json::json!(["FARGATE"]));
    assert_eq!(web["cpu"], "512");
    assert_eq!(web["memory"], "1024");
    assert_eq!(web["log_options"]["awslogs-group"], "/berth/prod/web");
    let services = c
        .ecs
        .describe_services()
        .cluster("prod-cluster")
        .services("web")
        .send()
        .await
        .unwrap();
    assert_eq!(services.services()[0].desired_count(), 0);

    h.expect_converged("prod").await;
    h.xtask(&["down", "prod", "--yes"]).await.expect_code(0);
    expect_no_compute(&h).await;
}

async fn rejected(config: &str, expected: &str) {
    let h = Harness::new().await;
    h.write_stack("prod", config);
    let outcome = h.xtask(&["up", "prod", "--yes"]).await;
    Harness::expect_rejected_without_request(&outcome, expected);
}

#[tokio::test]
async fn bad_compute_configs_are_rejected_before_any_request() {
    let base = "[registry.repositories.web]\n[network]\naz_count = 2\n[network.load_balancer]\n";
    rejected(
        &format!("[stack]\nlaunch_type = \"fargate\"\n{base}[services.web]\nrepository = \"web\"\ncpu = 256\nmemory = 4096\n"),
        "services.web.memory: Fargate has no size of cpu = 256 with memory = 4096 MiB",
    )
    .await;
    rejected(
        &format!("{base}[services.web]\nrepository = \"web\"\nmemory = 1024\nmemory_reservation = 2048\n"),
        "services.web.memory_reservation: 2048 MiB is above the hard limit memory = 1024 MiB",
    )
    .await;
    rejected(
        &format!(
            "{base}[compute.pools.default]\n[services.web]\nrepository = \"web\"\npool = \"big\"\n"
        ),
        "services.web.pool: no [compute.pools.big]; name one of: default",
    )
    .await;
    rejected(
        &format!(
            "{base}[services.web]\nrepository = \"web\"\nload_balancers = [\"alb\", \"nlb\"]\n"
        ),
        "services.web.load_balancers: \"nlb\" needs a [network.websocket_load_balancer]",
    )
    .await;
    rejected(
        &format!("{base}[services.web]\nrepository = \"web\"\nsecrets = {{ API_KEY = \"berth/prod/api-key\" }}\n"),
        "services.web.secrets.API_KEY: not a Secrets Manager secret ARN",
    )
    .await;
    rejected(
        &format!("{base}[services.web]\nrepository = \"api\"\n"),
        "services.web.repository: no [registry.repositories.api]",
    )
    .await;
}

/// The pipeline's release of a service: a revision pinned to a tag, the service moved to it.
async fn release(h: &Harness, service: &str, tag: &str) -> String {
    let c = h.clients();
    let td = c
        .ecs
        .describe_task_definition()
        .task_definition(format!("prod-{service}"))
        .send()
        .await
        .unwrap()
        .task_definition()
        .cloned()
        .unwrap();
    let mut container = td.container_definitions()[0].clone();
    let image = format!("{}:{tag}", container.image().unwrap());
    container.image = Some(image.clone());
    let registered = c
        .ecs
        .register_task_definition()
        .family(format!("prod-{service}"))
        .set_network_mode(td.network_mode().cloned())
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(td.task_role_arn().map(str::to_owned))
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    let arn = registered
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    c.ecs
        .update_service()
        .cluster("prod-cluster")
        .service(service)
        .task_definition(&arn)
        .send()
        .await
        .unwrap();
    image
}

async fn web_scaling_target(h: &Harness) -> Option<(i32, i32)> {
    let targets = h
        .clients()
        .appscaling
        .describe_scalable_targets()
        .service_namespace("ecs".into())
        .resource_ids("service/prod-cluster/web")
        .send()
        .await
        .unwrap();
    targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()))
}

async fn plan_changes(h: &Harness) -> Vec<Value> {
    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    plan.json_lines()
        .into_iter()
        .filter(|l| l["address"].is_string() && l["action"] != "no_op")
        .collect()
}

#[tokio::test]
async fn drift_is_repaired_and_a_setting_change_registers_a_revision_with_the_same_image() {
    let h = Harness::new().await;
    let config = EC2_STACK.replace(
        "[database]\nengine = \"docdb\"\ninstance_count = 1\ndeletion_protection = false\n",
        "",
    );
    assert_ne!(config, EC2_STACK);
    h.write_stack("prod", &config);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let c = h.clients();

    // The execution role's inline policy widened by hand is put back.
    let policy = execution_policy(&h, "web").await;
    c.iam
        .put_role_policy()
        .role_name("prod-web-execution")
        .policy_name("berth")
        .policy_document(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let changes = plan_changes(&h).await;
    let addresses: Vec<&str> = changes
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["compute.role[web-execution]"], "{changes:?}");
    assert_eq!(changes[0]["action"], "update");
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(
        statements(&execution_policy(&h, "web").await),
        statements(&policy)
    );
    h.expect_converged("prod").await;

    // The first release: up brings web to its scaling minimum (registering the scaling target
    // and policies) and the worker to its desired count.
    assert_eq!(web_scaling_target(&h).await, None);
    let image = release(&h, "web", "release-1").await;
    release(&h, "worker", "release-1").await;
    let released = h.xtask(&["up", "prod", "--yes"]).await;
    released.expect_code(0);
    assert_eq!(web_scaling_target(&h).await, Some((2, 4)));
    let policies = c
        .appscaling
        .describe_scaling_policies()
        .service_namespace("ecs".into())
        .resource_id("service/prod-cluster/web")
        .send()
        .await
        .unwrap();
    let mut metrics: Vec<(String, Option<f64>)> = policies
        .scaling_policies()
        .iter()
        .map(|p| {
            let config = p.target_tracking_scaling_policy_configuration().unwrap();
            (
                config
                    .predefined_metric_specification()
                    .unwrap()
                    .predefined_metric_type()
                    .as_str()
                    .to_owned(),
                Some(config.target_value()),
            )
        })
        .collect();
    metrics.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        metrics,
        [
            ("ALBRequestCountPerTarget".to_owned(), Some(600.0)),
            ("ECSServiceAverageCPUUtilization".to_owned(), Some(60.0)),
        ]
    );
    let service = c
        .ecs
        .describe_services()
        .cluster("prod-cluster")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(service.desired_count(), 2);
    // The worker has no autoscaling: up sets its count.
    let worker = c
        .ecs
        .describe_services()
        .cluster("prod-cluster")
        .services("worker")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(worker.desired_count(), 1);
    h.expect_converged("prod").await;

    // The scaling target's maximum changed by hand is put back.
    c.appscaling
        .register_scalable_target()
        .service_namespace("ecs".into())
        .resource_id("service/prod-cluster/web")
        .scalable_dimension("ecs:service:DesiredCount".into())
        .min_capacity(2)
        .max_capacity(10)
        .send()
        .await
        .unwrap();
    let changes = plan_changes(&h).await;
    let addresses: Vec<&str> = changes
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["compute.scaling[web]"], "{changes:?}");
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(web_scaling_target(&h).await, Some((2, 4)));
    h.expect_converged("prod").await;

    // A health check setting changed in the config: a new revision, the released image kept.
    let before = task_definition(&h, "prod-web").await;
    assert_eq!(before["image"], image.as_str());
    h.write_stack(
        "prod",
        &config.replace(
            "health_check = { command = \"curl -fs http://localhost:4000/health || exit 1\" }",
            "health_check = { command = \"curl -fs http://localhost:4000/health || exit 1\", interval = 15 }",
        ),
    );
    let changes = plan_changes(&h).await;
    assert!(
        changes
            .iter()
            .any(|c| c["address"] == "compute.task_definition[web]"),
        "{changes:?}"
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let after = task_definition(&h, "prod-web").await;
    assert_eq!(
        after["revision"].as_i64(),
        before["revision"].as_i64().map(|r| r + 1)
    );
    assert_eq!(after["image"], image.as_str());
    assert_eq!(after["health_check_interval"], 15);
    let service = c
        .ecs
        .describe_services()
        .cluster("prod-cluster")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert!(
        service
            .task_definition()
            .unwrap()
            .ends_with(&format!("prod-web:{}", after["revision"])),
        "{:?}",
        service.task_definition()
    );
    h.expect_converged("prod").await;

    h.xtask(&["down", "prod", "--yes"]).await.expect_code(0);
    expect_no_compute(&h).await;
}
