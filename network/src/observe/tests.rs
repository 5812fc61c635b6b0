//! Observe against mocked facades: whatever a list returns, only what the stack owns by its
//! tags enters the observed state (the emulator, for one, ignores the tag filter on NAT
//! gateways).

use berth_core::stack::TAG_ADDRESS;
use berth_core::{Address, StackName};

use super::*;
use crate::api::{MockCloudMapApi, MockEc2Api, MockElbApi};

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn tags_of(stack: &str, component: &str, address: &Address) -> BTreeMap<String, String> {
    Stack::new(StackName::new(stack).unwrap())
        .tags(component, address, "name")
        .0
}

/// The stack's resource first, then three at the same address that are not its: another
/// stack's, another component's, and one with only the address tag. Listed last, any of them
/// would win the address if observe trusted the list.
fn listed<T: Clone>(address: Address, detail: T) -> Vec<Tagged<T>> {
    let address_only = BTreeMap::from([(TAG_ADDRESS.to_owned(), address.to_string())]);
    vec![
        Tagged::new("ours", tags_of("prod", COMPONENT, &address), detail.clone()),
        Tagged::new(
            "staging",
            tags_of("staging", COMPONENT, &address),
            detail.clone(),
        ),
        Tagged::new(
            "database",
            tags_of("prod", "database", &address),
            detail.clone(),
        ),
        Tagged::new("untagged", address_only, detail),
    ]
}

/// An EC2 facade listing one resource of every kind for the stack and three impostors each.
fn ec2_with_impostors() -> MockEc2Api {
    let mut ec2 = MockEc2Api::new();
    ec2.expect_list_vpcs().returning(|_| {
        Ok(listed(
            address::vpc(),
            VpcDetail {
                cidr: "10.0.0.0/16".into(),
            },
        ))
    });
    ec2.expect_list_internet_gateways().returning(|_| {
        Ok(listed(
            address::internet_gateway(),
            IgwDetail { attached_vpc: None },
        ))
    });
    ec2.expect_list_subnets().returning(|_| {
        Ok(listed(
            address::subnet(Tier::Public, "us-east-2a"),
            SubnetDetail {
                vpc_id: "vpc-1".into(),
                cidr: "10.0.96.0/24".into(),
                az: "us-east-2a".into(),
            },
        ))
    });
    ec2.expect_list_addresses().returning(|_| {
        Ok(listed(
            address::elastic_ip("us-east-2a"),
            EipDetail {
                association_id: None,
            },
        ))
    });
    ec2.expect_list_nat_gateways().returning(|_| {
        Ok(listed(
            address::nat_gateway("us-east-2a"),
            NatDetail {
                subnet_id: "subnet-1".into(),
                allocation_id: None,
                state: "available".into(),
                failure: None,
            },
        ))
    });
    ec2.expect_list_route_tables().returning(|_| {
        Ok(listed(
            address::route_table(&RouteTableKey::Public),
            RouteTableDetail {
                vpc_id: "vpc-1".into(),
                routes: vec![],
                associations: vec![],
            },
        ))
    });
    ec2.expect_list_vpc_endpoints().returning(|_| {
        Ok(listed(
            address::s3_endpoint(),
            EndpointDetail {
                service: "com.amazonaws.us-east-2.s3".into(),
                route_table_ids: vec![],
                state: "available".into(),
            },
        ))
    });
    ec2.expect_list_security_groups().returning(|_| {
        Ok(listed(
            address::security_group(SgRole::App),
            SecurityGroupDetail {
                vpc_id: "vpc-1".into(),
                name: "prod-app".into(),
            },
        ))
    });
    ec2.expect_vpc_dns()
        .withf(|id| id == "ours")
        .returning(|_| Ok((true, true)));
    ec2.expect_list_security_group_rules()
        .withf(|ids| *ids == ["ours"])
        .returning(|_| Ok(vec![]));
    ec2
}

fn empty_elb() -> MockElbApi {
    let mut elb = MockElbApi::new();
    elb.expect_list_load_balancers().returning(|_| Ok(vec![]));
    elb.expect_list_target_groups().returning(|_| Ok(vec![]));
    elb
}

fn no_namespaces() -> MockCloudMapApi {
    let mut cloudmap = MockCloudMapApi::new();
    cloudmap.expect_list_namespaces().returning(|| Ok(vec![]));
    cloudmap
}

#[tokio::test]
async fn only_ec2_resources_tagged_for_the_stack_and_component_are_observed() {
    let observed = observe(
        &ec2_with_impostors(),
        &empty_elb(),
        &no_namespaces(),
        &stack(),
    )
    .await
    .unwrap();
    let id = |t: Option<&str>| t.map(str::to_owned);
    assert_eq!(
        id(observed.vpc.as_ref().map(|v| v.id.as_str())),
        id(Some("ours"))
    );
    assert_eq!(
        id(observed.internet_gateway.as_ref().map(|g| g.id.as_str())),
        id(Some("ours"))
    );
    assert_eq!(
        id(observed.s3_endpoint.as_ref().map(|e| e.id.as_str())),
        id(Some("ours"))
    );
    let ids = |ids: Vec<&str>| ids.into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        ids(observed.subnets.values().map(|s| s.id.as_str()).collect()),
        ["ours"]
    );
    assert_eq!(
        ids(observed
            .elastic_ips
            .values()
            .map(|e| e.id.as_str())
            .collect()),
        ["ours"]
    );
    assert_eq!(
        ids(observed
            .nat_gateways
            .values()
            .map(|n| n.id.as_str())
            .collect()),
        ["ours"]
    );
    assert_eq!(
        ids(observed
            .route_tables
            .values()
            .map(|t| t.id.as_str())
            .collect()),
        ["ours"]
    );
    assert_eq!(
        ids(observed
            .security_groups
            .values()
            .map(|g| g.id.as_str())
            .collect()),
        ["ours"]
    );
}

fn load_balancer(name: &str, kind: LbKind) -> ObservedLoadBalancer {
    ObservedLoadBalancer {
        arn: format!("arn:{name}"),
        name: name.into(),
        dns_name: format!("{name}.example"),
        kind,
        subnet_ids: vec![],
        security_group_ids: vec![],
        state: "active".into(),
    }
}

fn target_group(name: &str) -> ObservedTargetGroup {
    ObservedTargetGroup {
        arn: format!("arn:{name}"),
        name: name.into(),
        vpc_id: "vpc-1".into(),
        settings: TargetGroupSettings {
            protocol: "TCP".into(),
            port: 4000,
            target_type: "instance".into(),
            health_check_path: None,
            matcher: None,
        },
    }
}

#[tokio::test]
async fn load_balancers_and_target_groups_with_our_names_but_not_our_tags_are_foreign() {
    let mut ec2 = MockEc2Api::new();
    ec2.expect_list_vpcs().returning(|_| Ok(vec![]));
    ec2.expect_list_internet_gateways()
        .returning(|_| Ok(vec![]));
    ec2.expect_list_subnets().returning(|_| Ok(vec![]));
    ec2.expect_list_addresses().returning(|_| Ok(vec![]));
    ec2.expect_list_nat_gateways().returning(|_| Ok(vec![]));
    ec2.expect_list_route_tables().returning(|_| Ok(vec![]));
    ec2.expect_list_vpc_endpoints().returning(|_| Ok(vec![]));
    ec2.expect_list_security_groups().returning(|_| Ok(vec![]));
    let mut elb = MockElbApi::new();
    elb.expect_list_load_balancers().returning(|_| {
        Ok(vec![
            load_balancer("prod-alb", LbKind::Application),
            load_balancer("prod-nlb", LbKind::Network),
        ])
    });
    elb.expect_list_target_groups()
        .returning(|_| Ok(vec![target_group("prod-web"), target_group("prod-ws")]));
    elb.expect_tags().returning(|_| {
        let ours = |role: LbRole| tags_of("prod", COMPONENT, &address::load_balancer(role));
        Ok(BTreeMap::from([
            // Someone's hand-made ALB, untagged; a target group of another stack's.
            ("arn:prod-alb".to_owned(), BTreeMap::new()),
            ("arn:prod-nlb".to_owned(), ours(LbRole::Websocket)),
            (
                "arn:prod-web".to_owned(),
                tags_of(
                    "staging",
                    COMPONENT,
                    &address::target_group(LbRole::Application),
                ),
            ),
            ("arn:prod-ws".to_owned(), ours(LbRole::Websocket)),
        ]))
    });
    elb.expect_load_balancer_deletion_protection()
        .withf(|arn| arn == "arn:prod-nlb")
        .returning(|_| Ok(false));
    elb.expect_target_group_attributes()
        .withf(|arn| arn == "arn:prod-ws")
        .returning(|_| {
            Ok(TargetGroupAttributes {
                deregistration_delay: 30,
                stickiness: None,
            })
        });
    elb.expect_list_listeners()
        .withf(|arn| arn == "arn:prod-nlb")
        .returning(|_| Ok(vec![]));

    let observed = observe(&ec2, &elb, &no_namespaces(), &stack())
        .await
        .unwrap();
    assert_eq!(
        observed.load_balancers.keys().copied().collect::<Vec<_>>(),
        [LbRole::Websocket]
    );
    assert_eq!(
        observed.target_groups.keys().copied().collect::<Vec<_>>(),
        [LbRole::Websocket]
    );
    assert_eq!(
        observed.foreign_load_balancers,
        BTreeSet::from([LbRole::Application])
    );
    assert_eq!(
        observed.foreign_target_groups,
        BTreeSet::from([LbRole::Application])
    );
}

#[tokio::test]
async fn the_namespace_is_the_one_tagged_for_the_stack_and_component() {
    let mut ec2 = MockEc2Api::new();
    ec2.expect_list_vpcs().returning(|_| Ok(vec![]));
    ec2.expect_list_internet_gateways()
        .returning(|_| Ok(vec![]));
    ec2.expect_list_subnets().returning(|_| Ok(vec![]));
    ec2.expect_list_addresses().returning(|_| Ok(vec![]));
    ec2.expect_list_nat_gateways().returning(|_| Ok(vec![]));
    ec2.expect_list_route_tables().returning(|_| Ok(vec![]));
    ec2.expect_list_vpc_endpoints().returning(|_| Ok(vec![]));
    ec2.expect_list_security_groups().returning(|_| Ok(vec![]));
    let mut cloudmap = MockCloudMapApi::new();
    cloudmap.expect_list_namespaces().returning(|| {
        Ok(["ns-staging", "ns-other-component", "ns-ours"]
            .into_iter()
            .map(|id| ObservedNamespace {
                id: id.into(),
                arn: format!("arn:{id}"),
                name: "prod.internal".into(),
            })
            .collect())
    });
    cloudmap.expect_namespace_tags().returning(|arn| {
        let address = address::namespace();
        Ok(match arn {
            "arn:ns-staging" => tags_of("staging", COMPONENT, &address),
            "arn:ns-other-component" => tags_of("prod", "compute", &address),
            _ => tags_of("prod", COMPONENT, &address),
        })
    });
    let observed = observe(&ec2, &empty_elb(), &cloudmap, &stack())
        .await
        .unwrap();
    assert_eq!(observed.namespace.map(|n| n.id), Some("ns-ours".to_owned()));
}
