//! Config validation: every bad value is rejected with the file and the key named.

use std::path::Path;

use berth_database::Engine;
use berth_network::{NatMode, PortRange, TargetType};

use super::*;

fn parse_text(text: &str) -> Result<StackConfig, ConfigError> {
    parse(
        Path::new("stacks/prod.toml"),
        StackName::new("prod").unwrap(),
        text,
    )
}

fn error_of(text: &str) -> String {
    parse_text(text).unwrap_err().to_string()
}

#[test]
fn the_shipped_stacks_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
    for stack in ["prod", "staging"] {
        let config = load(&dir, stack).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.stack.name().as_str(), stack);
        assert!(config.logging.groups.contains_key("web"));
        assert!(config.registry.repositories.contains_key("web"));
    }
}

/// Every file in stacks/ — the examples and the reference stacks — loads and validates.
#[test]
fn every_stack_in_the_stacks_dir_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
    let stacks = known_stacks(&dir);
    for reference in [
        "wca-live",
        "terraform-docdb",
        "waffle",
        "many-faces",
        "glific",
    ] {
        assert!(
            stacks.iter().any(|s| s == reference),
            "{reference}: {stacks:?}"
        );
    }
    let problems: Vec<String> = stacks
        .iter()
        .filter_map(|stack| load(&dir, stack).err().map(|e| e.to_string()))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The reference stacks say what their write-ups set up.
#[test]
fn the_reference_stacks_express_their_write_ups() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
    let load = |stack: &str| load(&dir, stack).unwrap_or_else(|e| panic!("{e}"));

    let wca = load("wca-live");
    let compute = wca.compute.unwrap();
    assert_eq!(compute.launch_type, LaunchType::Ec2);
    let web = &compute.services["web"];
    assert!(web.one_task_per_instance && web.discovery);
    assert_eq!(
        web.autoscaling.as_ref().unwrap().targets[0].metric,
        berth_compute::ScalingMetric::Cpu
    );
    assert_eq!(wca.database.unwrap().engine, Engine::AuroraPostgresql);

    let docdb = load("terraform-docdb");
    assert_eq!(docdb.network.as_ref().unwrap().az_count, 3);
    let database = docdb.database.unwrap();
    assert_eq!(
        (
            database.engine,
            database.instance_count,
            database.backup_retention_days
        ),
        (Engine::Docdb, 3, 30)
    );
    assert_eq!(
        docdb.registry.repositories["app"].lifecycle,
        [
            LifecycleRule::ExpireUntagged { days: 14 },
            LifecycleRule::KeepLast { count: 30 }
        ]
    );
    assert_eq!(docdb.logging.groups["app"].retention_days, Some(30));
    let compute = docdb.compute.unwrap();
    let pool = &compute.pools["default"];
    assert_eq!((pool.min_size, pool.max_size), (2, 4));
    let app = &compute.services["app"];
    assert!(app.desired_count >= 2 && app.autoscaling.as_ref().unwrap().min >= 2);
    assert!(app.cpu_alarm.is_some() && !compute.alarm_emails.is_empty());
    assert_eq!(
        app.autoscaling.as_ref().unwrap().targets[0].metric,
        berth_compute::ScalingMetric::AlbRequestsPerTarget
    );

    let waffle = load("waffle");
    assert!(waffle.database.is_none());
    let compute = waffle.compute.unwrap();
    assert_eq!(compute.pools["default"].target_capacity, 90);
    assert_eq!(
        compute.services["thrashing"].pool.as_deref(),
        Some("thrashing")
    );
    assert!(compute.services["ws"].secrets.contains_key("MONGODB_URL"));
    assert!(!compute.services["ws"].database_url);

    let faces = load("many-faces");
    let lb = faces.network.unwrap().spec.load_balancer.unwrap();
    assert_eq!(lb.health_check_matcher, "200,301,302,307");
    assert_eq!(lb.deregistration_delay, 30);
    assert!(lb.certificate_arn.is_some());
    let web = &faces.compute.unwrap().services["web"];
    assert_eq!((web.memory_reservation, web.memory), (896, 1792));
    assert_eq!(
        (
            web.deployment.minimum_healthy_percent,
            web.deployment.maximum_percent
        ),
        (50, 150)
    );

    let glific = load("glific");
    assert!(glific
        .network
        .unwrap()
        .spec
        .websocket_load_balancer
        .is_some());
    assert_eq!(glific.database.unwrap().engine, Engine::AuroraPostgresql);
    let compute = glific.compute.unwrap();
    assert_eq!(compute.launch_type, LaunchType::Fargate);
    assert!(compute.pools.is_empty());
    assert!(compute.services["backend"].nlb_target_group.is_some());
    assert!(compute.services["frontend"].alb_target_group.is_some());
}

#[test]
fn an_empty_file_is_an_empty_stack() {
    let config = parse_text("").unwrap();
    assert!(config.logging.groups.is_empty());
    assert!(config.registry.repositories.is_empty());
    assert_eq!(config.region, None);
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = parse_text("[logging.groups.web]\n[registry.repositories.web]\n").unwrap();
    assert_eq!(config.logging.groups["web"].retention_days, Some(30));
    assert_eq!(
        config.registry.repositories["web"],
        RepositorySpec::default()
    );
    assert_eq!(
        config.registry.repositories["web"].lifecycle,
        [
            LifecycleRule::ExpireUntagged { days: 14 },
            LifecycleRule::KeepLast { count: 30 }
        ]
    );
}

#[test]
fn group_settings_override_the_logging_defaults() {
    let config = parse_text(
        r#"
        [logging]
        retention_days = 14
        kms_key_arn = "arn:aws:kms:us-east-2:123456789012:key/abc"
        [logging.groups.web]
        [logging.groups.audit]
        retention_days = "never"
        "#,
    )
    .unwrap();
    assert_eq!(config.logging.groups["web"].retention_days, Some(14));
    assert_eq!(config.logging.groups["audit"].retention_days, None);
    assert_eq!(
        config.logging.groups["audit"].kms_key_arn.as_deref(),
        Some("arn:aws:kms:us-east-2:123456789012:key/abc")
    );
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(
        error_of("[logging]\nretention = 30\n"),
        "stacks/prod.toml: logging.retention: unknown field `retention`, expected one of `retention_days`, `kms_key_arn`, `groups` (line 2)"
    );
    let err = error_of("[registry.repositories.web]\nscan_on_pusj = true\n");
    assert!(
        err.starts_with(
            "stacks/prod.toml: registry.repositories.web.scan_on_pusj: unknown field `scan_on_pusj`"
        ),
        "{err}"
    );
    let err = error_of("[stak]\n");
    assert!(
        err.starts_with("stacks/prod.toml: stak: unknown field `stak`"),
        "{err}"
    );
}

#[test]
fn wrong_types_are_named() {
    let err = error_of("[registry.repositories.web]\nscan_on_push = \"yes\"\n");
    assert!(
        err.starts_with("stacks/prod.toml: registry.repositories.web.scan_on_push: invalid type: string \"yes\", expected a boolean"),
        "{err}"
    );
}

#[test]
fn retention_must_be_a_value_cloudwatch_accepts() {
    let err = error_of("[logging]\nretention_days = 45\n");
    assert!(
        err.starts_with("stacks/prod.toml: logging.retention_days: 45 days is not a retention CloudWatch Logs accepts; use one of 1, 3, 5,"),
        "{err}"
    );
    let err = error_of("[logging.groups.web]\nretention_days = 0\n");
    assert!(
        err.contains("logging.groups.web.retention_days: 0 days"),
        "{err}"
    );
    let err = error_of("[logging.groups.web]\nretention_days = \"forever\"\n");
    assert!(
        err.contains("logging.groups.web.retention_days: \"forever\" is not a retention"),
        "{err}"
    );
}

#[test]
fn lifecycle_rules_are_checked() {
    let err = error_of(
        r#"[registry.repositories.web]
        lifecycle = [
          { rule = "expire_untagged", days = 0 },
          { rule = "keep_last", count = 5 },
          { rule = "keep_last", count = 6 },
          { rule = "keep_tag_prefix", prefix = "" },
        ]"#,
    );
    assert_eq!(
        err,
        "stacks/prod.toml: 3 problems\n  \
         - registry.repositories.web.lifecycle[0].days: 0 is out of range; use 1 to 3650 days\n  \
         - registry.repositories.web.lifecycle[2]: only one keep_last rule is allowed\n  \
         - registry.repositories.web.lifecycle[3].prefix: \"\" is not a tag prefix: use 1-128 letters, digits, '.', '_' or '-'"
    );
    let err = error_of(
        "[registry.repositories.web]\nlifecycle = [{ rule = \"keep_first\", count = 1 }]\n",
    );
    assert!(
        err.contains("registry.repositories.web.lifecycle[0]"),
        "{err}"
    );
    assert!(err.contains("unknown variant `keep_first`"), "{err}");
}

#[test]
fn no_lifecycle_rules_means_no_policy() {
    let config = parse_text("[registry.repositories.web]\nlifecycle = []\n").unwrap();
    assert!(config.registry.repositories["web"].lifecycle.is_empty());
}

#[test]
fn encryption_and_keys_are_checked() {
    let config = parse_text(
        "[registry.repositories.web]\nencryption = \"kms\"\nkms_key_arn = \"arn:aws:kms:us-east-2:123456789012:key/k\"\n",
    )
    .unwrap();
    assert_eq!(
        config.registry.repositories["web"].encryption,
        Encryption::Kms {
            key_arn: Some("arn:aws:kms:us-east-2:123456789012:key/k".into())
        }
    );
    let err = error_of("[registry.repositories.web]\nencryption = \"des\"\n");
    assert!(
        err.contains("registry.repositories.web.encryption: \"des\" is not an encryption"),
        "{err}"
    );
    let err =
        error_of("[registry.repositories.web]\nkms_key_arn = \"arn:aws:kms:us-east-2:1:key/k\"\n");
    assert!(
        err.contains("registry.repositories.web.kms_key_arn: a KMS key needs encryption = \"kms\""),
        "{err}"
    );
    let err = error_of("[logging]\nkms_key_arn = \"my-key\"\n");
    assert!(
        err.contains("logging.kms_key_arn: \"my-key\" is not a KMS key ARN"),
        "{err}"
    );
}

#[test]
fn names_and_region_are_checked() {
    let err = error_of("[logging.groups.Web]\n");
    assert!(
        err.contains("logging.groups.Web: \"Web\" is not a service name"),
        "{err}"
    );
    let err = error_of("[registry.repositories.\"my_repo\"]\n");
    assert!(
        err.contains("registry.repositories.my_repo: \"my_repo\" is not a repository name"),
        "{err}"
    );
    let err = error_of("[stack]\nregion = \"ohio\"\n");
    assert!(
        err.contains("stack.region: \"ohio\" is not an AWS region name"),
        "{err}"
    );
}

#[test]
fn a_missing_stack_lists_the_known_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
    let err = load(&dir, "qa").unwrap_err().to_string();
    assert!(
        err.ends_with(&format!(
            "qa.toml: no such stack config; known stacks: {}",
            known_stacks(&dir).join(", ")
        )),
        "{err}"
    );
    let err = load(&dir, "QA").unwrap_err().to_string();
    assert!(err.contains("invalid stack name \"QA\""), "{err}");
}

#[test]
fn network_defaults() {
    let config = parse_text("[network]\n").unwrap();
    let network = config.network.unwrap();
    assert_eq!(network.az_count, 3);
    let spec = network.spec;
    assert_eq!(spec.vpc_cidr.to_string(), "10.0.0.0/16");
    assert_eq!(spec.nat, NatMode::Single);
    assert!(spec.s3_endpoint);
    assert_eq!(spec.subnets[0].len(), 3);
    assert_eq!(spec.security.container_port, 4000);
    assert_eq!(
        spec.security.erlang_ports,
        PortRange {
            from: 9100,
            to: 9155
        }
    );
    assert_eq!(spec.namespace.as_deref(), Some("prod.internal"));
    let alb = spec.load_balancer.unwrap();
    assert_eq!(alb.health_check_matcher, "200,301,302,307");
    assert_eq!(alb.deregistration_delay, 30);
    assert!(!alb.stickiness);
    // Tasks use awsvpc networking on EC2 too, so the target groups target IPs.
    assert_eq!(alb.target_type, TargetType::Ip);
    assert!(spec.websocket_load_balancer.is_none());
}

#[test]
fn fargate_targets_ips() {
    let config = parse_text("[stack]\nlaunch_type = \"fargate\"\n[network]\n").unwrap();
    assert_eq!(
        config
            .network
            .unwrap()
            .spec
            .load_balancer
            .unwrap()
            .target_type,
        TargetType::Ip
    );
    assert!(error_of("[stack]\nlaunch_type = \"lambda\"\n").contains("stack.launch_type"));
}

#[test]
fn network_values_are_checked() {
    for (config, expected) in [
        ("[network]\naz_count = 7\n", "network.az_count: 7 AZs is out of range"),
        ("[network]\naz_count = 1\n", "network.az_count: an application load balancer needs subnets in at least 2 AZs"),
        ("[network]\nerlang_ports = [9200, 9100]\n", "network.erlang_ports: the range 9200-9100 is reversed"),
        ("[network]\ncontainer_port = 70000\n", "network.container_port: 70000 is not a port"),
        ("[network]\nvpc_cidr = \"10.0.0.0/8\"\n", "network.vpc_cidr: a /8 VPC is outside"),
        ("[network]\nvpc_cidr = \"nope\"\n", "network.vpc_cidr: \"nope\" is not an IPv4 CIDR block"),
        ("[network]\ningress_cidrs = [\"1.2.3.4/40\"]\n", "network.ingress_cidrs[0]"),
        ("[network.subnets]\nprivate = 12\n", "network.subnets.private: /12 is not a subnet size"),
        ("[network]\n[network.subnets]\npublic = [\"10.0.0.0/24\"]\n", "network.subnets.public: public lists 1 subnets but the network spans 3 AZs"),
        ("[network]\n[network.subnets]\ndata = [\"10.9.0.0/24\", \"10.9.1.0/24\", \"10.9.2.0/24\"]\n", "network.subnets.data[0]: data subnet 10.9.0.0/24 is not inside the VPC"),
        ("[network]\nnamespace = \"internal\"\n", "network.namespace: \"internal\" is not a DNS name"),
        ("[network.load_balancer]\ncertificate_arn = \"cert\"\n", "network.load_balancer.certificate_arn"),
        ("[network.load_balancer]\nhealth_check_matcher = \"ok\"\n", "network.load_balancer.health_check_matcher"),
        ("[network.load_balancer]\nhealth_check_path = \"health\"\n", "network.load_balancer.health_check_path"),
        ("[network.load_balancer]\nderegistration_delay = 4000\n", "network.load_balancer.deregistration_delay"),
        ("[network]\nnat = \"two\"\n", "network.nat: \"two\" is not a NAT mode"),
    ] {
        let err = error_of(config);
        assert!(err.contains(expected), "{config}: expected {expected:?} in {err}");
    }
}

#[test]
fn database_defaults_follow_the_engine() {
    let config = parse_text("[network]\n[database]\n").unwrap();
    let db = config.database.unwrap();
    assert_eq!(db.engine, Engine::Docdb);
    assert_eq!(db.port, 27017);
    assert_eq!(db.engine_version, "5.0.0");
    assert_eq!(db.instance_count, 1);
    assert_eq!(db.backup_retention_days, 30);
    assert_eq!(db.backup_window, "01:00-03:00");
    assert!(db.deletion_protection);
    assert_eq!(config.network.unwrap().spec.security.database_port, 27017);
    let pg = parse_text("[network]\n[database]\nengine = \"aurora-postgresql\"\n").unwrap();
    assert_eq!(pg.database.unwrap().port, 5432);
    // The network's database rule follows the database's port.
    assert_eq!(pg.network.unwrap().spec.security.database_port, 5432);
}

#[test]
fn database_values_are_checked() {
    for (database, expected) in [
        (
            "backup_retention_days = 0",
            "database.backup_retention_days: 0 days is out of range",
        ),
        (
            "backup_retention_days = 36",
            "database.backup_retention_days: 36 days is out of range",
        ),
        (
            "backup_window = \"01:00-01:20\"",
            "a backup window needs at least 30",
        ),
        (
            "backup_window = \"1am-3am\"",
            "database.backup_window: \"1am-3am\" is not a window",
        ),
        (
            "maintenance_window = \"sun:02:00-sun:03:00\"",
            "overlaps the backup window",
        ),
        (
            "maintenance_window = \"sun:05:00-sun:05:10\"",
            "shorter than the 30 minutes",
        ),
        (
            "instance_count = 17",
            "database.instance_count: 17 instances is out of range",
        ),
        (
            "instance_count = 0",
            "database.instance_count: 0 instances is out of range",
        ),
        ("master_username = \"admin\"", "database.master_username"),
        ("instance_class = \"r6g.large\"", "database.instance_class"),
        ("engine_version = \"five\"", "database.engine_version"),
        ("port = 0", "database.port: 0 is not a port"),
    ] {
        let err = error_of(&format!("[network]\n[database]\n{database}\n"));
        assert!(
            err.contains(expected),
            "{database}: expected {expected:?} in {err}"
        );
    }
    let err = error_of("[network]\ndatabase_port = 5432\n[database]\n");
    assert!(
        err.contains("network.database_port: 5432 differs from the database's port 27017"),
        "{err}"
    );
}

#[test]
fn stack_names_aws_reserves_are_refused_for_a_network() {
    let err = parse(
        Path::new("stacks/sg.toml"),
        StackName::new("sg").unwrap(),
        "[network]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("makes resource names AWS reserves"), "{err}");
    assert!(parse(
        Path::new("stacks/sg.toml"),
        StackName::new("sg").unwrap(),
        ""
    )
    .is_ok());
}
