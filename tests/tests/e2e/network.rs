//! Network end to end: the whole network from empty, convergence, drift repaired, AZ shrink,
//! teardown to nothing, bad configs rejected before any request.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use berth_tests::Harness;

/// A network with every part: per-AZ NAT, the NLB, the S3 endpoint.
const NETWORK_STACK: &str = r#"
[stack]
region = "us-east-1"

[network]
vpc_cidr = "10.20.0.0/16"
az_count = 3
nat = "per-az"
container_port = 4000
erlang_ports = [9100, 9155]

[network.load_balancer]
health_check_path = "/health"

[network.websocket_load_balancer]
listener_port = 443
"#;

/// Whether EC2 tags carry this `berth:address` (matched here: moto's tag filters read `[…]`
/// as a pattern).
fn tagged_as(tags: &[aws_sdk_ec2::types::Tag], address: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("berth:address") && t.value() == Some(address))
}

fn stack_filter() -> Filter {
    Filter::builder()
        .name("tag:berth:stack")
        .values("prod")
        .build()
}

/// Counts of the stack's tagged EC2 resources by kind.
async fn ec2_counts(h: &Harness) -> [usize; 7] {
    let ec2 = h.clients().ec2;
    let vpcs = ec2
        .describe_vpcs()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let igws = ec2
        .describe_internet_gateways()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let nats = ec2
        .describe_nat_gateways()
        .filter(stack_filter())
        .send()
        .await
        .unwrap();
    let live_nats = nats
        .nat_gateways()
        .iter()
        .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
        .count();
    let eips = ec2
        .describe_addresses()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let tables = ec2
        .describe_route_tables()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    [
        vpcs.vpcs().len(),
        subnets.subnets().len(),
        igws.internet_gateways().len(),
        live_nats,
        eips.addresses().len(),
        tables.route_tables().len(),
        groups.security_groups().len(),
    ]
}

async fn group_id(h: &Harness, role: &str) -> String {
    let out = h
        .clients()
        .ec2
        .describe_security_groups()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let address = format!("network.security_group[{role}]");
    out.security_groups()
        .iter()
        .find(|g| tagged_as(g.tags(), &address))
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_whole_network_is_created_converges_and_goes_away() {
    let h = Harness::new().await;
    h.write_stack("prod", NETWORK_STACK);
    let up = h.xtask(&["up", "prod", "--yes", "--json"]).await;
    up.expect_code(0);
    // vpc, 9 subnets, igw, 3 NAT, 3 EIP, 5 route tables, 3 groups.
    assert_eq!(ec2_counts(&h).await, [1, 9, 1, 3, 3, 5, 3]);
    // One create call per resource, no retries or duplicates; rules in one call per group.
    let created = |name: &str| up.calls.iter().filter(|c| c.as_str() == name).count();
    assert_eq!(created("ec2:CreateVpc"), 1);
    assert_eq!(created("ec2:CreateSubnet"), 9);
    assert_eq!(created("ec2:CreateSecurityGroup"), 3);
    assert_eq!(created("ec2:AuthorizeSecurityGroupIngress"), 3);
    assert_eq!(created("ec2:CreateNatGateway"), 3);
    assert_eq!(created("ec2:AllocateAddress"), 3);
    assert_eq!(created("ec2:CreateRouteTable"), 5);
    assert_eq!(created("ec2:AssociateRouteTable"), 9);
    assert_eq!(created("elasticloadbalancingv2:CreateLoadBalancer"), 2);
    assert_eq!(created("elasticloadbalancingv2:CreateTargetGroup"), 2);
    assert_eq!(created("elasticloadbalancingv2:CreateListener"), 2);
    assert_eq!(created("servicediscovery:CreatePrivateDnsNamespace"), 1);
    let outputs = up
        .json_lines()
        .into_iter()
        .find(|l| l["type"] == "outputs")
        .unwrap();
    let network = &outputs["outputs"]["network"];
    assert!(network["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    assert_eq!(network["subnets"]["private"].as_object().unwrap().len(), 3);
    assert_eq!(network["security_groups"].as_object().unwrap().len(), 3);
    assert!(network["target_groups"]["application"]
        .as_str()
        .unwrap()
        .contains(":targetgroup/prod-web/"));
    assert!(network["target_groups"]["websocket"]
        .as_str()
        .unwrap()
        .contains(":targetgroup/prod-ws/"));
    assert!(network["load_balancer_dns"]
        .as_str()
        .unwrap()
        .starts_with("prod-alb"));
    assert!(network["namespace_id"].as_str().unwrap().starts_with("ns-"));

    // Resources are tagged in the creating call, and the VPC has DNS on.
    let vpc_id = network["vpc_id"].as_str().unwrap().to_owned();
    let dns = h
        .clients()
        .ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(dns.enable_dns_hostnames().unwrap().value(), Some(true));

    // Least privilege: the app port only from the load balancers' group, the database port
    // only from the app's group, Erlang distribution only from the app's group itself.
    let rules = h
        .clients()
        .ec2
        .describe_security_group_rules()
        .filters(
            Filter::builder()
                .name("group-id")
                .values(group_id(&h, "app").await)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let lb = group_id(&h, "lb").await;
    let app = group_id(&h, "app").await;
    let mut ingress: Vec<(i32, i32, String)> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| {
            (
                r.from_port().unwrap(),
                r.to_port().unwrap(),
                r.referenced_group_info()
                    .and_then(|g| g.group_id())
                    .unwrap_or("cidr")
                    .to_owned(),
            )
        })
        .collect();
    ingress.sort();
    assert_eq!(
        ingress,
        [
            (4000, 4000, lb.clone()),
            (4369, 4369, app.clone()),
            (9100, 9155, app.clone())
        ]
    );

    // Converged: the second run plans no-ops and sends no mutating request.
    let again = h.xtask(&["up", "prod", "--yes"]).await;
    again.expect_code(0);
    assert_eq!(again.mutating(), Vec::<&str>::new(), "{:?}", again.calls);
    // Observing is one list call per resource type (plus the attributes with no list form).
    let plan = h.xtask(&["plan", "prod", "--detailed-exitcode"]).await;
    plan.expect_code(0);
    let count = |name: &str| plan.calls.iter().filter(|c| c.as_str() == name).count();
    for list in [
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeNatGateways",
        "ec2:DescribeAddresses",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeVpcEndpoints",
        "elasticloadbalancingv2:DescribeLoadBalancers",
        "elasticloadbalancingv2:DescribeTargetGroups",
        "elasticloadbalancingv2:DescribeTags",
    ] {
        assert_eq!(count(list), 1, "{list} in {:?}", plan.calls);
    }

    // Down removes everything, in an order AWS accepts, and leaves nothing tagged.
    let down = h.xtask(&["down", "prod", "--yes"]).await;
    down.expect_code(0);
    assert_eq!(ec2_counts(&h).await, [0, 0, 0, 0, 0, 0, 0]);
    let lbs = h
        .clients()
        .elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    assert!(lbs.load_balancers().is_empty());
    let tgs = h
        .clients()
        .elb
        .describe_target_groups()
        .send()
        .await
        .unwrap();
    assert!(tgs.target_groups().is_empty());
    let namespaces = h.clients().cloudmap.list_namespaces().send().await.unwrap();
    assert!(namespaces.namespaces().is_empty());
    // Each NAT was deleted and waited for (DescribeNatGateways polls) before an EIP was
    // released; the gateway was detached before it was deleted.
    let calls: Vec<&str> = down.calls.iter().map(String::as_str).collect();
    let first_nat_delete = calls
        .iter()
        .position(|c| *c == "ec2:DeleteNatGateway")
        .unwrap();
    let first_release = calls
        .iter()
        .position(|c| *c == "ec2:ReleaseAddress")
        .unwrap();
    assert!(first_nat_delete < first_release, "{calls:?}");
    assert!(
        calls[first_nat_delete..first_release].contains(&"ec2:DescribeNatGateways"),
        "no wait between NAT delete and EIP release: {calls:?}"
    );
    let order = calls;
    let detach = order
        .iter()
        .position(|c| c.ends_with("DetachInternetGateway"))
        .unwrap();
    let delete = order
        .iter()
        .position(|c| c.ends_with("DeleteInternetGateway"))
        .unwrap();
    assert!(detach < delete, "{order:?}");
}

#[tokio::test]
async fn a_rule_added_by_hand_is_revoked_and_a_route_changed_by_hand_is_restored() {
    let h = Harness::new().await;
    h.write_stack("prod", NETWORK_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let ec2 = h.clients().ec2;
    let db = group_id(&h, "db").await;
    ec2.authorize_security_group_ingress()
        .group_id(&db)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(27017)
                .to_port(27017)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Point private[us-east-1b]'s default route at the first AZ's NAT.
    let tables = ec2
        .describe_route_tables()
        .filters(stack_filter())
        .send()
        .await
        .unwrap();
    let table = tables
        .route_tables()
        .iter()
        .find(|t| tagged_as(t.tags(), "network.route_table.private[us-east-1b]"))
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_owned();
    let nats = ec2
        .describe_nat_gateways()
        .filter(stack_filter())
        .send()
        .await
        .unwrap();
    let nat_a = nats
        .nat_gateways()
        .iter()
        .find(|n| tagged_as(n.tags(), "network.nat_gateway[us-east-1a]"))
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_owned();
    ec2.replace_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&nat_a)
        .send()
        .await
        .unwrap();

    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let updates: Vec<String> = plan
        .json_lines()
        .into_iter()
        .filter(|l| l["action"] == "update")
        .map(|l| l["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        updates,
        [
            "network.route_table.private[us-east-1b]",
            "network.security_group[db]"
        ]
    );

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    let mut mutating = up.mutating();
    mutating.retain(|c| c.starts_with("ec2:"));
    mutating.sort();
    // Reconciled rule by rule: one revoke, no re-authorising of the rest.
    assert_eq!(
        mutating,
        ["ec2:ReplaceRoute", "ec2:RevokeSecurityGroupIngress"]
    );
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn shrinking_from_three_azs_to_two_removes_that_azs_resources() {
    let h = Harness::new().await;
    h.write_stack("prod", NETWORK_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.write_stack(
        "prod",
        &NETWORK_STACK.replace("az_count = 3", "az_count = 2"),
    );
    let plan = h.xtask(&["plan", "prod", "--json"]).await;
    plan.expect_code(0);
    let mut deletes: Vec<String> = plan
        .json_lines()
        .into_iter()
        .filter(|l| l["action"] == "delete")
        .map(|l| l["address"].as_str().unwrap().to_owned())
        .collect();
    deletes.sort();
    assert_eq!(
        deletes,
        [
            "network.elastic_ip[us-east-1c]",
            "network.nat_gateway[us-east-1c]",
            "network.route_table.private[us-east-1c]",
            "network.subnet.data[us-east-1c]",
            "network.subnet.private[us-east-1c]",
            "network.subnet.public[us-east-1c]",
        ]
    );
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert_eq!(ec2_counts(&h).await, [1, 6, 1, 2, 2, 4, 3]);
    // The load balancers left the removed AZ's subnet before it was deleted.
    let set_subnets = up
        .mutating()
        .into_iter()
        .filter(|c| c.ends_with(":SetSubnets"))
        .count();
    assert_eq!(set_subnets, 2, "{:?}", up.calls);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn nat_mode_changes_reroute_before_deleting() {
    let h = Harness::new().await;
    h.write_stack("prod", NETWORK_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.write_stack(
        "prod",
        &NETWORK_STACK.replace("nat = \"per-az\"", "nat = \"single\""),
    );
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert_eq!(ec2_counts(&h).await, [1, 9, 1, 1, 1, 5, 3]);
    let calls = up.mutating();
    let last_reroute = calls
        .iter()
        .rposition(|c| c.ends_with("ReplaceRoute"))
        .unwrap();
    let first_delete = calls
        .iter()
        .position(|c| c.ends_with("DeleteNatGateway"))
        .unwrap();
    assert!(last_reroute < first_delete, "{calls:?}");
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);

    h.write_stack(
        "prod",
        &NETWORK_STACK.replace("nat = \"per-az\"", "nat = \"none\""),
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(ec2_counts(&h).await, [1, 9, 1, 0, 0, 5, 3]);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn a_protected_load_balancer_is_not_deleted_until_unprotected() {
    let h = Harness::new().await;
    h.write_stack(
        "prod",
        &format!("{NETWORK_STACK}\n").replace(
            "[network.load_balancer]\n",
            "[network.load_balancer]\ndeletion_protection = true\n",
        ),
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let down = h.xtask(&["down", "prod", "--yes"]).await;
    let error = down.expect_error();
    assert!(
        error.contains("load balancer prod-alb has deletion protection on"),
        "{error}"
    );
    assert_eq!(down.mutating(), Vec::<&str>::new());
    h.write_stack("prod", NETWORK_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.xtask(&["down", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(ec2_counts(&h).await, [0, 0, 0, 0, 0, 0, 0]);
}

async fn rejected(config: &str, expected: &str) {
    let h = Harness::new().await;
    h.write_stack("prod", config);
    let outcome = h.xtask(&["up", "prod", "--yes"]).await;
    Harness::expect_rejected_without_request(&outcome, expected);
}

#[tokio::test]
async fn bad_network_configs_are_rejected_before_any_request() {
    rejected(
        "[network]\n[network.subnets]\npublic = [\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.2.0/24\"]\nprivate = [\"10.0.2.0/24\", \"10.0.3.0/24\", \"10.0.4.0/24\"]\n",
        "network.subnets.private[0]: private subnet 10.0.2.0/24 overlaps public subnet 10.0.2.0/24",
    )
    .await;
    rejected(
        "[network]\naz_count = 7\n",
        "network.az_count: 7 AZs is out of range; use 1 to 6",
    )
    .await;
    rejected(
        "[network]\nerlang_ports = [9155, 9100]\n",
        "network.erlang_ports: the range 9155-9100 is reversed",
    )
    .await;
    rejected(
        "[network]\nvpc_cidr = \"10.0.0.0/20\"\n",
        "network.subnets.private: /20 private subnets do not fit",
    )
    .await;
    rejected(
        "[network]\nnat = \"some\"\n",
        "network.nat: \"some\" is not a NAT mode",
    )
    .await;
    rejected(
        "[network]\nvpc_cidr = \"10.0.0.1/16\"\n",
        "network.vpc_cidr: \"10.0.0.1/16\" has host bits set",
    )
    .await;
}

#[tokio::test]
async fn asking_for_more_azs_than_the_region_has_fails_before_any_change() {
    let h = Harness::new().await;
    // moto's us-west-1 has two AZs.
    h.write_stack(
        "prod",
        "[stack]\nregion = \"us-west-1\"\n[network]\naz_count = 3\n",
    );
    let outcome = h.xtask(&["up", "prod", "--yes"]).await;
    let error = outcome.expect_error();
    assert!(
        error.contains("network.az_count: the region has 2 available AZs (us-west-1a, us-west-1b); the network asks for 3"),
        "{error}"
    );
    assert_eq!(outcome.mutating(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_run_killed_midway_converges_on_rerun_without_duplicates() {
    let h = Harness::new().await;
    h.write_stack("prod", NETWORK_STACK);
    // What a run killed early leaves: the VPC, one subnet and one NAT's elastic IP, tagged.
    let ec2 = h.clients().ec2;
    let tag = |address: &str, kind: aws_sdk_ec2::types::ResourceType| {
        aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(kind)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("berth:stack")
                    .value("prod")
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("berth:component")
                    .value("network")
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("berth:address")
                    .value(address)
                    .build(),
            )
            .build()
    };
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .tag_specifications(tag("network.vpc", aws_sdk_ec2::types::ResourceType::Vpc))
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_owned();
    ec2.create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.20.96.0/24")
        .availability_zone("us-east-1a")
        .tag_specifications(tag(
            "network.subnet.public[us-east-1a]",
            aws_sdk_ec2::types::ResourceType::Subnet,
        ))
        .send()
        .await
        .unwrap();
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .tag_specifications(tag(
            "network.elastic_ip[us-east-1a]",
            aws_sdk_ec2::types::ResourceType::ElasticIp,
        ))
        .send()
        .await
        .unwrap()
        .allocation_id()
        .unwrap()
        .to_owned();

    let plan = h.xtask(&["plan", "prod", "--json"]).await;
    let vpc_change = plan
        .json_lines()
        .into_iter()
        .find(|l| l["address"] == "network.vpc")
        .unwrap();
    assert_eq!(
        vpc_change["action"], "update",
        "only the DNS attributes are missing"
    );
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    // Nothing made twice: one VPC, 9 subnets, the leftover EIP reused for its NAT.
    assert_eq!(ec2_counts(&h).await, [1, 9, 1, 3, 3, 5, 3]);
    assert_eq!(
        up.calls
            .iter()
            .filter(|c| c.as_str() == "ec2:CreateVpc")
            .count(),
        0
    );
    assert_eq!(
        up.calls
            .iter()
            .filter(|c| c.as_str() == "ec2:CreateSubnet")
            .count(),
        8
    );
    assert_eq!(
        up.calls
            .iter()
            .filter(|c| c.as_str() == "ec2:AllocateAddress")
            .count(),
        2
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(stack_filter())
        .send()
        .await
        .unwrap();
    assert!(nats.nat_gateways().iter().any(|n| n
        .nat_gateway_addresses()
        .iter()
        .any(|a| a.allocation_id() == Some(eip.as_str()))));
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}
