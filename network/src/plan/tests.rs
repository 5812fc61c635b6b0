//! Pure plan tests: every change kind, from hand-built observed states. `converged(spec)` is
//! a model of what apply leaves behind, so `plan(spec, converged(spec))` must be all no-ops.

use std::collections::BTreeMap;

use berth_core::{Action, Address, StackName};
use ipnet::Ipv4Net;

use super::*;
use crate::address;
use crate::load_balancing::DesiredAction;
use crate::observe::{LoadBalancerState, TargetGroupState};
use crate::routing::TargetRef;
use crate::security::SourceRef;
use crate::NatMode;
use crate::{layout, AlbSpec, NlbSpec, PortRange, SecuritySpec, TargetType, TierCidrs, COMPONENT};

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn spec(azs: usize, nat: NatMode) -> NetworkSpec {
    let vpc: Ipv4Net = "10.0.0.0/16".parse().unwrap();
    NetworkSpec {
        region: "us-east-2".into(),
        vpc_cidr: vpc,
        azs: ["us-east-2a", "us-east-2b", "us-east-2c"][..azs]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        subnets: layout(
            vpc,
            azs,
            &[
                TierCidrs::Prefix(24),
                TierCidrs::Prefix(20),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap(),
        nat,
        s3_endpoint: true,
        security: SecuritySpec {
            ingress_cidrs: vec!["0.0.0.0/0".parse().unwrap()],
            container_port: 4000,
            erlang_ports: PortRange {
                from: 9100,
                to: 9155,
            },
            database_port: 27017,
        },
        load_balancer: Some(AlbSpec {
            deletion_protection: false,
            certificate_arn: None,
            ssl_policy: "ELBSecurityPolicy-TLS13-1-2-2021-06".into(),
            target_type: TargetType::Instance,
            health_check_path: "/health".into(),
            health_check_matcher: "200,301,302,307".into(),
            deregistration_delay: 30,
            stickiness: false,
        }),
        websocket_load_balancer: Some(NlbSpec {
            deletion_protection: false,
            listener_port: 443,
            target_port: 4000,
            target_type: TargetType::Instance,
            deregistration_delay: 30,
        }),
        namespace: Some("prod.internal".into()),
    }
}

fn tagged<T>(id: &str, address: Address, detail: T) -> Tagged<T> {
    Tagged::new(id, stack().tags(COMPONENT, &address, id).0, detail)
}

/// What exists after apply carried out the spec: the model of apply these tests rely on.
fn converged(spec: &NetworkSpec) -> NetworkObserved {
    let mut obs = NetworkObserved {
        vpc: Some(tagged(
            "vpc-1",
            address::vpc(),
            VpcDetail {
                cidr: spec.vpc_cidr.to_string(),
            },
        )),
        vpc_dns: (true, true),
        internet_gateway: Some(tagged(
            "igw-1",
            address::internet_gateway(),
            IgwDetail {
                attached_vpc: Some("vpc-1".into()),
            },
        )),
        ..NetworkObserved::default()
    };
    for (t, tier) in Tier::ALL.into_iter().enumerate() {
        for (az, cidr) in spec.azs.iter().zip(&spec.subnets[t]) {
            obs.subnets.insert(
                (tier, az.clone()),
                tagged(
                    &format!("subnet-{}-{az}", tier.as_str()),
                    address::subnet(tier, az),
                    SubnetDetail {
                        vpc_id: "vpc-1".into(),
                        cidr: cidr.to_string(),
                        az: az.clone(),
                    },
                ),
            );
        }
    }
    let want = desired(spec);
    for az in &want.nat_azs {
        obs.nat_gateways.insert(
            az.clone(),
            tagged(
                &format!("nat-{az}"),
                address::nat_gateway(az),
                NatDetail {
                    subnet_id: format!("subnet-public-{az}"),
                    allocation_id: Some(format!("eipalloc-{az}")),
                    state: "available".into(),
                    failure: None,
                },
            ),
        );
        obs.elastic_ips.insert(
            az.clone(),
            tagged(
                &format!("eipalloc-{az}"),
                address::elastic_ip(az),
                EipDetail {
                    association_id: Some("a".into()),
                },
            ),
        );
    }
    for (key, (target, subnets)) in &want.tables {
        let id = format!("rtb-{:?}", key);
        let routes = target
            .iter()
            .map(|t| ObservedRoute {
                destination: "0.0.0.0/0".into(),
                target: match t {
                    TargetRef::InternetGateway => RouteTarget::InternetGateway("igw-1".into()),
                    TargetRef::NatGateway(az) => RouteTarget::NatGateway(format!("nat-{az}")),
                },
            })
            .collect();
        let associations = subnets
            .iter()
            .map(|(tier, az)| Association {
                id: format!("rtbassoc-{}-{az}", tier.as_str()),
                subnet_id: format!("subnet-{}-{az}", tier.as_str()),
            })
            .collect();
        obs.route_tables.insert(
            key.clone(),
            tagged(
                &id,
                address::route_table(key),
                RouteTableDetail {
                    vpc_id: "vpc-1".into(),
                    routes,
                    associations,
                },
            ),
        );
    }
    if spec.s3_endpoint {
        let ids = obs
            .route_tables
            .iter()
            .filter(|(k, _)| **k != RouteTableKey::Public)
            .map(|(_, t)| t.id.clone())
            .collect();
        obs.s3_endpoint = Some(tagged(
            "vpce-1",
            address::s3_endpoint(),
            EndpointDetail {
                service: "com.amazonaws.us-east-2.s3".into(),
                route_table_ids: ids,
                state: "available".into(),
            },
        ));
    }
    let group_id = |role: SgRole| format!("sg-{}", role.key());
    for (role, rules) in &want.rules {
        obs.security_groups.insert(
            *role,
            tagged(
                &group_id(*role),
                address::security_group(*role),
                SecurityGroupDetail {
                    vpc_id: "vpc-1".into(),
                    name: format!("prod-{}", role.key()),
                },
            ),
        );
        obs.ingress.insert(
            *role,
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| ObservedRule {
                    id: format!("sgr-{}-{i}", role.key()),
                    group_id: group_id(*role),
                    egress: false,
                    protocol: "tcp".into(),
                    from_port: i32::from(r.from_port),
                    to_port: i32::from(r.to_port),
                    source: Some(match &r.source {
                        SourceRef::Cidr(c) => RuleSource::Cidr(*c),
                        SourceRef::Group(g) => RuleSource::Group(group_id(*g)),
                    }),
                })
                .collect(),
        );
    }
    for (role, (settings, attributes, protection)) in &want.target_groups {
        obs.load_balancers.insert(
            *role,
            LoadBalancerState {
                lb: ObservedLoadBalancer {
                    arn: format!("arn:lb/{}", role.key()),
                    name: format!("prod-{}", role.key()),
                    dns_name: format!("prod-{}.elb", role.key()),
                    kind: LbKind::Application,
                    subnet_ids: spec
                        .azs
                        .iter()
                        .map(|az| format!("subnet-public-{az}"))
                        .collect(),
                    security_group_ids: vec![group_id(SgRole::LoadBalancer)],
                    state: "active".into(),
                },
                deletion_protection: *protection,
            },
        );
        obs.target_groups.insert(
            *role,
            TargetGroupState {
                tg: ObservedTargetGroup {
                    arn: format!("arn:tg/{}", role.target_group_key()),
                    name: format!("prod-{}", role.target_group_key()),
                    vpc_id: "vpc-1".into(),
                    settings: settings.clone(),
                },
                attributes: attributes.clone(),
            },
        );
    }
    for (role, listener) in &want.listeners {
        obs.listeners.insert(
            *role,
            ObservedListener {
                arn: format!("arn:listener/{}", role.key()),
                load_balancer_arn: format!("arn:lb/{}", role.load_balancer().key()),
                settings: ListenerSettings {
                    protocol: listener.protocol.clone(),
                    port: listener.port,
                    action: match &listener.action {
                        DesiredAction::Forward(r) => ListenerAction::Forward {
                            target_group_arn: format!("arn:tg/{}", r.target_group_key()),
                        },
                        DesiredAction::RedirectToHttps => ListenerAction::RedirectToHttps,
                    },
                    certificate_arn: listener.certificate_arn.clone(),
                    ssl_policy: listener.ssl_policy.clone(),
                },
            },
        );
    }
    obs.namespace = spec.namespace.as_ref().map(|name| ObservedNamespace {
        id: "ns-1".into(),
        arn: "arn:ns-1".into(),
        name: name.clone(),
    });
    obs
}

fn actions(plan: &Plan<NetStep>) -> BTreeMap<String, Action> {
    plan.changes()
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

fn changed(plan: &Plan<NetStep>) -> Vec<(String, Action)> {
    plan.actionable()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn from_nothing_everything_is_created() {
    let plan = plan(
        &stack(),
        Some(&spec(3, NatMode::PerAz)),
        &NetworkObserved::default(),
    );
    let all = actions(&plan);
    assert!(all.values().all(|a| *a == Action::Create), "{all:?}");
    // vpc, igw, 9 subnets, 3 NAT + 3 EIP, 5 route tables, endpoint, 3 groups, 2 LBs,
    // 2 target groups, 2 listeners, namespace.
    assert_eq!(all.len(), 1 + 1 + 9 + 6 + 5 + 1 + 3 + 2 + 2 + 2 + 1);
    assert!(plan.refused().next().is_none());
}

#[test]
fn what_apply_leaves_behind_plans_only_no_ops() {
    for nat in [NatMode::None, NatMode::Single, NatMode::PerAz] {
        for azs in 1..=3 {
            let spec = spec(azs, nat);
            let plan = plan(&stack(), Some(&spec), &converged(&spec));
            assert_eq!(changed(&plan), [], "{nat:?} with {azs} AZs");
        }
    }
}

#[test]
fn single_nat_lives_in_the_first_az_and_serves_every_private_subnet() {
    let spec = spec(3, NatMode::Single);
    let plan = plan(&stack(), Some(&spec), &NetworkObserved::default());
    let nats: Vec<_> = plan
        .changes()
        .iter()
        .filter(|c| c.address.as_str().starts_with("network.nat_gateway"))
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(nats, ["network.nat_gateway[us-east-2a]"]);
    let route_to_nat_a = plan
        .changes()
        .iter()
        .filter_map(|c| match &c.step {
            Some(NetStep::SyncRouteTable {
                key: RouteTableKey::Private(_),
                routes,
                ..
            }) => Some(routes.clone()),
            _ => None,
        })
        .all(|routes| {
            routes
                == [RouteOp::Create {
                    destination: "0.0.0.0/0".into(),
                    target: TargetRef::NatGateway("us-east-2a".into()),
                }]
        });
    assert!(route_to_nat_a);
}

#[test]
fn data_subnets_never_get_an_internet_route() {
    let plan = plan(
        &stack(),
        Some(&spec(3, NatMode::PerAz)),
        &NetworkObserved::default(),
    );
    let data = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "network.route_table.data")
        .unwrap();
    assert!(
        matches!(&data.step, Some(NetStep::SyncRouteTable { routes, .. }) if routes.is_empty())
    );
}

#[test]
fn a_rule_added_by_hand_is_revoked_and_nothing_else_touched() {
    let spec = spec(3, NatMode::Single);
    let mut obs = converged(&spec);
    obs.ingress
        .get_mut(&SgRole::Database)
        .unwrap()
        .push(ObservedRule {
            id: "sgr-extra".into(),
            group_id: "sg-db".into(),
            egress: false,
            protocol: "tcp".into(),
            from_port: 27017,
            to_port: 27017,
            source: Some(RuleSource::Cidr("0.0.0.0/0".parse().unwrap())),
        });
    let plan = plan(&stack(), Some(&spec), &obs);
    assert_eq!(
        changed(&plan),
        [("network.security_group[db]".to_owned(), Action::Update)]
    );
    let step = plan.actionable().next().unwrap().step.clone().unwrap();
    assert_eq!(
        step,
        NetStep::SyncSecurityGroup {
            role: SgRole::Database,
            group_id: Some("sg-db".into()),
            authorize: vec![],
            revoke: vec!["sgr-extra".into()]
        }
    );
}

#[test]
fn a_missing_rule_is_added_alone() {
    let spec = spec(3, NatMode::Single);
    let mut obs = converged(&spec);
    obs.ingress
        .get_mut(&SgRole::App)
        .unwrap()
        .retain(|r| r.from_port != 4369);
    let plan = plan(&stack(), Some(&spec), &obs);
    let step = plan.actionable().next().unwrap().step.clone();
    match &step {
        Some(NetStep::SyncSecurityGroup {
            authorize, revoke, ..
        }) => {
            assert_eq!(authorize.len(), 1);
            assert_eq!(authorize[0].from_port, 4369);
            assert_eq!(authorize[0].source, SourceRef::Group(SgRole::App));
            assert!(revoke.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_route_changed_by_hand_is_restored_and_extra_routes_removed() {
    let spec = spec(3, NatMode::PerAz);
    let mut obs = converged(&spec);
    let table = obs
        .route_tables
        .get_mut(&RouteTableKey::Private("us-east-2b".into()))
        .unwrap();
    table.detail.routes[0].target = RouteTarget::NatGateway("nat-us-east-2a".into());
    table.detail.routes.push(ObservedRoute {
        destination: "192.168.0.0/16".into(),
        target: RouteTarget::Other("pcx-1".into()),
    });
    let plan = plan(&stack(), Some(&spec), &obs);
    assert_eq!(
        changed(&plan),
        [(
            "network.route_table.private[us-east-2b]".to_owned(),
            Action::Update
        )]
    );
    let step = plan.actionable().next().unwrap().step.clone();
    match &step {
        Some(NetStep::SyncRouteTable { routes, .. }) => assert_eq!(
            routes,
            &[
                RouteOp::Replace {
                    destination: "0.0.0.0/0".into(),
                    target: TargetRef::NatGateway("us-east-2b".into())
                },
                RouteOp::Delete {
                    destination: "192.168.0.0/16".into()
                },
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shrinking_azs_deletes_that_azs_resources_and_moves_the_load_balancers() {
    let obs = converged(&spec(3, NatMode::PerAz));
    let plan = plan(&stack(), Some(&spec(2, NatMode::PerAz)), &obs);
    let mut deleted: Vec<String> = plan
        .actionable()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.to_string())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "network.elastic_ip[us-east-2c]",
            "network.nat_gateway[us-east-2c]",
            "network.route_table.private[us-east-2c]",
            "network.subnet.data[us-east-2c]",
            "network.subnet.private[us-east-2c]",
            "network.subnet.public[us-east-2c]",
        ]
    );
    let updated: Vec<String> = plan
        .actionable()
        .filter(|c| c.action == Action::Update)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        updated,
        [
            "network.load_balancer[alb]",
            "network.load_balancer[nlb]",
            "network.route_table.data",
            "network.route_table.public",
            "network.s3_endpoint",
        ]
    );
    // The NAT's elastic IP is released by the NAT's step, not a second one.
    let eip = plan
        .changes()
        .iter()
        .find(|c| c.address.as_str() == "network.elastic_ip[us-east-2c]")
        .unwrap();
    assert!(eip.step.is_none());
}

#[test]
fn teardown_deletes_everything() {
    let spec = spec(3, NatMode::PerAz);
    let obs = converged(&spec);
    let plan = plan(&stack(), None, &obs);
    let all = actions(&plan);
    assert!(all.values().all(|a| *a == Action::Delete), "{all:?}");
    assert_eq!(all.len(), 1 + 1 + 9 + 6 + 5 + 1 + 3 + 2 + 2 + 2 + 1);
    assert!(plan.refused().next().is_none());
}

#[test]
fn protected_load_balancers_are_refused_deletion() {
    let mut spec = spec(2, NatMode::Single);
    spec.load_balancer.as_mut().unwrap().deletion_protection = true;
    let obs = converged(&spec);
    let plan = plan(&stack(), None, &obs);
    let refused: Vec<_> = plan.refused().map(|c| c.address.to_string()).collect();
    assert_eq!(refused, ["network.load_balancer[alb]"]);
}

#[test]
fn a_load_balancer_or_target_group_named_like_ours_but_not_ours_is_refused_by_name() {
    let spec = spec(2, NatMode::Single);
    let mut obs = converged(&spec);
    obs.load_balancers.remove(&LbRole::Application);
    obs.target_groups.remove(&LbRole::Websocket);
    obs.listeners.clear();
    obs.foreign_load_balancers.insert(LbRole::Application);
    obs.foreign_target_groups.insert(LbRole::Websocket);
    let up = plan(&stack(), Some(&spec), &obs);
    let refused: BTreeMap<String, String> = up
        .refused()
        .map(|c| (c.address.to_string(), c.refused.clone().unwrap()))
        .collect();
    assert_eq!(
        refused.keys().collect::<Vec<_>>(),
        ["network.load_balancer[alb]", "network.target_group[ws]"]
    );
    assert!(refused["network.load_balancer[alb]"].contains("load balancer named prod-alb"));
    assert!(refused["network.target_group[ws]"].contains("target group named prod-ws"));
    // Someone else's is never deleted: teardown plans only the stack's own.
    let down = actions(&plan(&stack(), None, &obs));
    assert!(!down.contains_key("network.load_balancer[alb]"), "{down:?}");
    assert!(!down.contains_key("network.target_group[ws]"), "{down:?}");
}

#[test]
fn turning_deletion_protection_off_is_an_update() {
    let mut protected = spec(2, NatMode::Single);
    protected
        .load_balancer
        .as_mut()
        .unwrap()
        .deletion_protection = true;
    let obs = converged(&protected);
    let plan = plan(&stack(), Some(&spec(2, NatMode::Single)), &obs);
    assert_eq!(
        changed(&plan),
        [("network.load_balancer[alb]".to_owned(), Action::Update)]
    );
}

#[test]
fn a_new_vpc_cidr_or_subnet_cidr_is_refused() {
    let spec_a = spec(2, NatMode::Single);
    let mut spec_b = spec_a.clone();
    spec_b.vpc_cidr = "10.1.0.0/16".parse().unwrap();
    let plan_b = plan(&stack(), Some(&spec_b), &converged(&spec_a));
    assert!(plan_b
        .refused()
        .any(|c| c.address.as_str() == "network.vpc"));
    let mut spec_c = spec_a.clone();
    spec_c.subnets[1][0] = "10.0.200.0/24".parse().unwrap();
    let plan_c = plan(&stack(), Some(&spec_c), &converged(&spec_a));
    let refused: Vec<_> = plan_c.refused().map(|c| c.address.to_string()).collect();
    assert_eq!(refused, ["network.subnet.private[us-east-2a]"]);
}

#[test]
fn a_certificate_turns_http_into_a_redirect_and_adds_https() {
    let plain = spec(2, NatMode::Single);
    let mut tls = plain.clone();
    tls.load_balancer.as_mut().unwrap().certificate_arn =
        Some("arn:aws:acm:us-east-2:1:certificate/x".into());
    let plan = plan(&stack(), Some(&tls), &converged(&plain));
    let changes = changed(&plan);
    assert!(changes.contains(&("network.listener[http]".to_owned(), Action::Update)));
    assert!(changes.contains(&("network.listener[https]".to_owned(), Action::Create)));
}

#[test]
fn health_check_and_attributes_drift_into_target_group_updates() {
    let spec = spec(2, NatMode::Single);
    let mut obs = converged(&spec);
    let web = obs.target_groups.get_mut(&LbRole::Application).unwrap();
    web.tg.settings.matcher = Some("200".into());
    web.attributes.deregistration_delay = 300;
    let plan = plan(&stack(), Some(&spec), &obs);
    let change = plan.actionable().next().unwrap();
    assert_eq!(change.address.as_str(), "network.target_group[web]");
    match &change.step {
        Some(NetStep::UpdateTargetGroup {
            health_check,
            attributes,
            ..
        }) => {
            assert!(health_check.is_some());
            assert_eq!(attributes.as_ref().unwrap().deregistration_delay, 30);
        }
        other => panic!("{other:?}"),
    }
    let mut obs = converged(&spec);
    obs.target_groups
        .get_mut(&LbRole::Application)
        .unwrap()
        .tg
        .settings
        .target_type = "ip".into();
    let replan = super::plan(&stack(), Some(&spec), &obs);
    assert!(replan
        .refused()
        .any(|c| c.address.as_str() == "network.target_group[web]"));
}

#[test]
fn the_vpc_dns_and_a_detached_gateway_are_repaired() {
    let spec = spec(2, NatMode::Single);
    let mut obs = converged(&spec);
    obs.vpc_dns = (true, false);
    obs.internet_gateway.as_mut().unwrap().detail.attached_vpc = None;
    let plan = plan(&stack(), Some(&spec), &obs);
    assert_eq!(
        changed(&plan),
        [
            ("network.internet_gateway".to_owned(), Action::Update),
            ("network.vpc".to_owned(), Action::Update)
        ]
    );
}
