//! Ownership end to end: stacks sharing one account never touch each other's resources, and a
//! same-named resource that is not the stack's is a refusal that names it, never adopted and
//! never deleted.

use std::collections::BTreeMap;

use berth_tests::Harness;

/// A stack with every kind of resource: per-AZ NAT, both load balancers, the namespace, the
/// S3 endpoint, log groups, a repository and a database.
fn full_stack(cidr: &str) -> String {
    format!(
        r#"
[stack]
region = "us-east-1"

[logging]
retention_days = 30

[logging.groups.web]

[logging.groups.worker]

[registry.repositories.web]

[network]
vpc_cidr = "{cidr}"
az_count = 2
nat = "per-az"

[network.load_balancer]
health_check_path = "/health"

[network.websocket_load_balancer]
listener_port = 443

[database]
engine = "docdb"
instance_count = 2
deletion_protection = false
"#
    )
}

/// A stack with only what a database needs.
fn database_stack(cidr: &str) -> String {
    format!(
        r#"
[stack]
region = "us-east-1"

[network]
vpc_cidr = "{cidr}"
az_count = 2
nat = "none"

[database]
engine = "docdb"
instance_count = 1
deletion_protection = false
"#
    )
}

fn ec2_owned(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("berth:stack") && t.value() == Some(stack))
}

fn rds_owned(tags: &[aws_sdk_rds::types::Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("berth:stack") && t.value() == Some(stack))
}

/// Every resource of `stack` by type, as sorted ids. Found by listing everything in the
/// account and reading each item's own tags: the emulator ignores some tag filters, so a
/// filtered list would prove nothing.
async fn inventory(h: &Harness, stack: &str) -> BTreeMap<&'static str, Vec<String>> {
    let clients = h.clients();
    let mut found: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut add = |kind: &'static str, id: &str| {
        found.entry(kind).or_default().push(id.to_owned());
    };

    let ec2 = &clients.ec2;
    for v in ec2.describe_vpcs().send().await.unwrap().vpcs() {
        if ec2_owned(v.tags(), stack) {
            add("vpc", v.vpc_id().unwrap());
        }
    }
    for s in ec2.describe_subnets().send().await.unwrap().subnets() {
        if ec2_owned(s.tags(), stack) {
            add("subnet", s.subnet_id().unwrap());
        }
    }
    for g in ec2
        .describe_internet_gateways()
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        if ec2_owned(g.tags(), stack) {
            add("internet_gateway", g.internet_gateway_id().unwrap());
        }
    }
    for n in ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()
    {
        let live = !matches!(
            n.state().map(|s| s.as_str()),
            Some("deleted" | "deleting" | "failed")
        );
        if live && ec2_owned(n.tags(), stack) {
            add("nat_gateway", n.nat_gateway_id().unwrap());
        }
    }
    for a in ec2.describe_addresses().send().await.unwrap().addresses() {
        if ec2_owned(a.tags(), stack) {
            add("elastic_ip", a.allocation_id().unwrap());
        }
    }
    for t in ec2
        .describe_route_tables()
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        if ec2_owned(t.tags(), stack) {
            add("route_table", t.route_table_id().unwrap());
        }
    }
    for e in ec2
        .describe_vpc_endpoints()
        .send()
        .await
        .unwrap()
        .vpc_endpoints()
    {
        let live = !matches!(
            e.state().map(|s| s.as_str().to_lowercase()).as_deref(),
            Some("deleted" | "deleting")
        );
        if live && ec2_owned(e.tags(), stack) {
            add("vpc_endpoint", e.vpc_endpoint_id().unwrap());
        }
    }
    for g in ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        if ec2_owned(g.tags(), stack) {
            add("security_group", g.group_id().unwrap());
        }
    }

    let elb = &clients.elb;
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    let tgs = elb.describe_target_groups().send().await.unwrap();
    let arns: Vec<String> = lbs
        .load_balancers()
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
        .chain(
            tgs.target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn().map(str::to_owned)),
        )
        .collect();
    if !arns.is_empty() {
        let tags = elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .unwrap();
        for description in tags.tag_descriptions() {
            let arn = description.resource_arn().unwrap();
            let owned = description
                .tags()
                .iter()
                .any(|t| t.key() == Some("berth:stack") && t.value() == Some(stack));
            if !owned {
                continue;
            }
            if arn.contains(":loadbalancer/") {
                add("load_balancer", arn);
                for l in elb
                    .describe_listeners()
                    .load_balancer_arn(arn)
                    .send()
                    .await
                    .unwrap()
                    .listeners()
                {
                    add("listener", l.listener_arn().unwrap());
                }
            } else {
                add("target_group", arn);
            }
        }
    }

    let cloudmap = &clients.cloudmap;
    for ns in cloudmap
        .list_namespaces()
        .send()
        .await
        .unwrap()
        .namespaces()
    {
        let tags = cloudmap
            .list_tags_for_resource()
            .resource_arn(ns.arn().unwrap())
            .send()
            .await
            .unwrap();
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == "berth:stack" && t.value() == stack)
        {
            add("namespace", ns.id().unwrap());
        }
    }

    let logs = &clients.logs;
    for g in logs
        .describe_log_groups()
        .send()
        .await
        .unwrap()
        .log_groups()
    {
        let arn = g.arn().unwrap().trim_end_matches(":*");
        let tags = logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        if tags
            .tags()
            .is_some_and(|t| t.get("berth:stack").map(String::as_str) == Some(stack))
        {
            add("log_group", g.log_group_name().unwrap());
        }
    }

    let ecr = &clients.ecr;
    for r in ecr
        .describe_repositories()
        .send()
        .await
        .unwrap()
        .repositories()
    {
        let tags = ecr
            .list_tags_for_resource()
            .resource_arn(r.repository_arn().unwrap())
            .send()
            .await
            .unwrap();
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == "berth:stack" && t.value() == stack)
        {
            add("repository", r.repository_name().unwrap());
        }
    }

    let rds = &clients.rds;
    for c in rds
        .describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
    {
        if rds_owned(c.tag_list(), stack) {
            add("db_cluster", c.db_cluster_identifier().unwrap());
        }
    }
    for i in rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
    {
        if rds_owned(i.tag_list(), stack) {
            add("db_instance", i.db_instance_identifier().unwrap());
        }
    }
    let subnet_groups = rds.describe_db_subnet_groups().send().await.unwrap();
    for g in subnet_groups.db_subnet_groups() {
        let tags = rds
            .list_tags_for_resource()
            .resource_name(g.db_subnet_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        if rds_owned(tags.tag_list(), stack) {
            add("db_subnet_group", g.db_subnet_group_name().unwrap());
        }
    }
    let parameter_groups = rds
        .describe_db_cluster_parameter_groups()
        .send()
        .await
        .unwrap();
    for g in parameter_groups.db_cluster_parameter_groups() {
        let tags = rds
            .list_tags_for_resource()
            .resource_name(g.db_cluster_parameter_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        if rds_owned(tags.tag_list(), stack) {
            add(
                "db_parameter_group",
                g.db_cluster_parameter_group_name().unwrap(),
            );
        }
    }

    let secrets = &clients.secrets;
    for s in secrets.list_secrets().send().await.unwrap().secret_list() {
        let owned = s
            .tags()
            .iter()
            .any(|t| t.key() == Some("berth:stack") && t.value() == Some(stack));
        if owned && s.deleted_date().is_none() {
            add("secret", s.name().unwrap());
        }
    }

    for ids in found.values_mut() {
        ids.sort();
    }
    found
}

/// How many resources of each type an inventory holds.
fn counts(inventory: &BTreeMap<&'static str, Vec<String>>) -> BTreeMap<&'static str, usize> {
    inventory.iter().map(|(k, v)| (*k, v.len())).collect()
}

/// What one `full_stack` has, by type.
fn full_stack_counts() -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("vpc", 1),
        ("subnet", 6),
        ("internet_gateway", 1),
        ("nat_gateway", 2),
        ("elastic_ip", 2),
        // public, data, one private per AZ
        ("route_table", 4),
        ("vpc_endpoint", 1),
        ("security_group", 3),
        ("load_balancer", 2),
        ("listener", 2),
        ("target_group", 2),
        ("namespace", 1),
        ("log_group", 2),
        ("repository", 1),
        ("db_cluster", 1),
        ("db_instance", 2),
        ("db_subnet_group", 1),
        ("db_parameter_group", 1),
        ("secret", 2),
    ])
}

#[tokio::test]
async fn bringing_one_stack_up_and_down_never_touches_another_in_the_same_account() {
    let h = Harness::new().await;
    h.write_stack("prod", &full_stack("10.20.0.0/16"));
    h.write_stack("staging", &full_stack("10.30.0.0/16"));

    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let prod = inventory(&h, "prod").await;
    assert_eq!(counts(&prod), full_stack_counts(), "{prod:#?}");

    // Staging comes up beside prod as a stack of its own, and converges.
    h.xtask(&["up", "staging", "--yes"]).await.expect_code(0);
    assert_eq!(counts(&inventory(&h, "staging").await), full_stack_counts());
    assert_eq!(inventory(&h, "prod").await, prod, "up staging changed prod");
    for stack in ["prod", "staging"] {
        let plan = h
            .xtask(&["plan", stack, "--json", "--detailed-exitcode"])
            .await;
        plan.expect_code(0);
        assert_eq!(plan.mutating(), Vec::<&str>::new());
    }

    // Down staging takes staging away, and nothing of prod.
    let down = h
        .xtask(&["down", "staging", "--yes", "--delete-database"])
        .await;
    down.expect_code(0);
    assert_eq!(inventory(&h, "staging").await, BTreeMap::new());
    assert_eq!(
        inventory(&h, "prod").await,
        prod,
        "down staging changed prod"
    );
    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(0);
    let again = h
        .xtask(&["down", "staging", "--yes", "--delete-database"])
        .await;
    again.expect_code(0);
    assert_eq!(again.mutating(), Vec::<&str>::new());
    assert_eq!(inventory(&h, "prod").await, prod);
}

#[tokio::test]
async fn a_stack_named_like_anothers_prefix_leaves_its_parameter_group_alone() {
    let h = Harness::new().await;
    // `prod-db-eu`'s parameter group, `prod-db-eu-db-docdb5-0`, starts with `prod-db-`.
    h.write_stack("prod-db-eu", &database_stack("10.40.0.0/16"));
    h.write_stack("prod", &database_stack("10.20.0.0/16"));
    h.xtask(&["up", "prod-db-eu", "--yes"]).await.expect_code(0);
    let eu = inventory(&h, "prod-db-eu").await;
    assert_eq!(eu["db_parameter_group"], ["prod-db-eu-db-docdb5-0"]);

    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let deletes: Vec<String> = plan
        .json_lines()
        .into_iter()
        .filter(|l| l["action"] == "delete")
        .map(|l| l.to_string())
        .collect();
    assert_eq!(deletes, Vec::<String>::new());

    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(
        inventory(&h, "prod-db-eu").await,
        eu,
        "up prod changed prod-db-eu"
    );
    for stack in ["prod", "prod-db-eu"] {
        h.xtask(&["plan", stack, "--detailed-exitcode"])
            .await
            .expect_code(0);
    }
    h.xtask(&["down", "prod", "--yes", "--delete-database"])
        .await
        .expect_code(0);
    assert_eq!(inventory(&h, "prod").await, BTreeMap::new());
    assert_eq!(
        inventory(&h, "prod-db-eu").await,
        eu,
        "down prod changed prod-db-eu"
    );
    h.xtask(&["plan", "prod-db-eu", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

/// Creates two subnets in a VPC of their own (none of berth's) for a hand-made subnet group.
async fn handmade_subnets(h: &Harness) -> Vec<String> {
    let ec2 = h.clients().ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_owned();
    let mut subnets = Vec::new();
    for (cidr, az) in [
        ("10.99.1.0/24", "us-east-1a"),
        ("10.99.2.0/24", "us-east-1b"),
    ] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    subnets
}

#[tokio::test]
async fn a_same_named_subnet_group_and_parameter_group_of_someone_else_are_refused_by_name() {
    let h = Harness::new().await;
    let rds = h.clients().rds;
    rds.create_db_subnet_group()
        .db_subnet_group_name("prod-db")
        .db_subnet_group_description("someone else's")
        .set_subnet_ids(Some(handmade_subnets(&h).await))
        .send()
        .await
        .unwrap();
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("prod-db-docdb5-0")
        .db_parameter_group_family("docdb5.0")
        .description("someone else's")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("berth:stack")
                .value("prod-db-eu")
                .build(),
        )
        .send()
        .await
        .unwrap();
    h.write_stack("prod", &database_stack("10.20.0.0/16"));

    let plan = h.xtask(&["plan", "prod", "--json"]).await;
    plan.expect_code(0);
    let refused: BTreeMap<String, String> = plan
        .json_lines()
        .into_iter()
        .filter(|l| !l["refused"].is_null())
        .map(|l| {
            (
                l["address"].as_str().unwrap().to_owned(),
                l["refused"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        refused["database.subnet_group"].contains("prod-db"),
        "{refused:?}"
    );
    assert!(
        refused["database.parameter_group[docdb5-0]"].contains("prod-db-docdb5-0"),
        "{refused:?}"
    );

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    let error = up.expect_error();
    assert!(error.contains("database.subnet_group"), "{error}");
    assert!(error.contains("prod-db-docdb5-0"), "{error}");
    assert_eq!(up.mutating(), Vec::<&str>::new());

    // Not the stack's, so not the stack's to delete either.
    let down = h
        .xtask(&["down", "prod", "--yes", "--delete-database"])
        .await;
    down.expect_code(0);
    assert_eq!(down.mutating(), Vec::<&str>::new());
    let groups = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("prod-db")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.db_subnet_groups().len(), 1);
    let parameter_groups = rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name("prod-db-docdb5-0")
        .send()
        .await
        .unwrap();
    assert_eq!(parameter_groups.db_cluster_parameter_groups().len(), 1);
}

#[tokio::test]
async fn log_groups_of_someone_else_under_the_stacks_prefix_are_not_the_stacks() {
    let h = Harness::new().await;
    let logs = h.clients().logs;
    // Someone else's group under the stack's prefix, and one with a configured name.
    for name in ["/berth/prod/handmade", "/berth/prod/worker"] {
        logs.create_log_group()
            .log_group_name(name)
            .send()
            .await
            .unwrap();
    }
    h.write_stack(
        "prod",
        "[logging.groups.web]\n[logging.groups.worker]\nretention_days = 7\n",
    );
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    let error = up.expect_error();
    assert!(error.contains("logging.log_group[worker]"), "{error}");
    assert!(error.contains("/berth/prod/worker"), "{error}");
    assert_eq!(up.mutating(), Vec::<&str>::new());

    // Without the clash the stack converges, and the foreign group is in no plan.
    h.write_stack("prod", "[logging.groups.web]\n");
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(0);
    assert!(!plan.stdout.contains("handmade"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("worker"), "{}", plan.stdout);
    h.xtask(&["down", "prod", "--yes"]).await.expect_code(0);
    let left = logs.describe_log_groups().send().await.unwrap();
    let mut names: Vec<&str> = left
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    names.sort();
    assert_eq!(names, ["/berth/prod/handmade", "/berth/prod/worker"]);
}

#[tokio::test]
async fn a_same_named_target_group_of_someone_else_is_refused_by_name() {
    let h = Harness::new().await;
    let ec2 = h.clients().ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_owned();
    let elb = h.clients().elb;
    elb.create_target_group()
        .name("prod-web")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    h.write_stack(
        "prod",
        "[stack]\nregion = \"us-east-1\"\n[network]\naz_count = 2\nnat = \"none\"\n[network.load_balancer]\n",
    );
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    let error = up.expect_error();
    assert!(error.contains("network.target_group[web]"), "{error}");
    assert!(
        error.contains("target group named prod-web exists but is not stack prod's"),
        "{error}"
    );
    assert_eq!(up.mutating(), Vec::<&str>::new());
    let down = h.xtask(&["down", "prod", "--yes"]).await;
    down.expect_code(0);
    assert_eq!(down.mutating(), Vec::<&str>::new());
    let left = elb.describe_target_groups().send().await.unwrap();
    assert_eq!(left.target_groups().len(), 1);
}
