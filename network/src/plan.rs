//! The pure network plan: what the spec wants, compared with what exists, as one change per
//! resource. Resources created in the same run are referred to by role (`SgRole`, AZ, …) and
//! resolved to ids by apply.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{Action, Address, Change, FieldDiff, FieldValue, Plan, Stack};
use ipnet::Ipv4Net;

use crate::api::*;
use crate::observe::NetworkObserved;
use crate::{
    address, LbRole, ListenerRole, NatMode, NetworkSpec, RouteTableKey, SgRole, Tier, COMPONENT,
    EPMD_PORT,
};

/// A change carried out by another change's step (an elastic IP by its NAT gateway's).
fn carried_by_another(address: Address, action: Action, fields: Vec<FieldDiff>) -> Change<NetStep> {
    Change {
        address,
        action,
        fields,
        refused: None,
        step: None,
    }
}

/// A route's target, by role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetRef {
    InternetGateway,
    NatGateway(String),
}

/// One route change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    Create {
        destination: String,
        target: TargetRef,
    },
    Replace {
        destination: String,
        target: TargetRef,
    },
    Delete {
        destination: String,
    },
}

/// Where a desired rule admits traffic from, by role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceRef {
    Cidr(Ipv4Net),
    Group(SgRole),
}

/// A desired ingress rule (tcp).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DesiredRule {
    pub from_port: u16,
    pub to_port: u16,
    pub source: SourceRef,
    pub description: String,
}

/// What a listener does, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredAction {
    Forward(LbRole),
    RedirectToHttps,
}

/// A desired listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredListener {
    pub protocol: String,
    pub port: u16,
    pub action: DesiredAction,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
}

/// One step of a network plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetStep {
    CreateVpc {
        cidr: String,
    },
    SetVpcDns {
        vpc_id: String,
    },
    DeleteVpc {
        vpc_id: String,
    },
    CreateInternetGateway,
    AttachInternetGateway {
        igw_id: String,
    },
    DeleteInternetGateway {
        igw_id: String,
        attached_vpc: Option<String>,
    },
    CreateSubnet {
        tier: Tier,
        az: String,
        cidr: String,
    },
    DeleteSubnet {
        subnet_id: String,
    },
    /// Allocates the EIP (or reuses `allocation_id`, left by an interrupted run), creates the
    /// NAT in the AZ's public subnet, waits until it is available.
    CreateNatGateway {
        az: String,
        allocation_id: Option<String>,
    },
    /// Deletes the NAT (waiting until it is gone), then releases its EIP.
    DeleteNatGateway {
        nat_id: Option<String>,
        allocation_id: Option<String>,
    },
    /// Creates the table when `table_id` is `None`, then routes and associations.
    SyncRouteTable {
        key: RouteTableKey,
        table_id: Option<String>,
        routes: Vec<RouteOp>,
        associate: Vec<(Tier, String)>,
        disassociate: Vec<String>,
    },
    DeleteRouteTable {
        table_id: String,
        association_ids: Vec<String>,
    },
    CreateS3Endpoint {
        service: String,
        tables: Vec<RouteTableKey>,
    },
    UpdateS3Endpoint {
        endpoint_id: String,
        add: Vec<RouteTableKey>,
        remove: Vec<String>,
    },
    DeleteS3Endpoint {
        endpoint_id: String,
    },
    /// Creates the group when `group_id` is `None`, then adds missing and revokes extra rules.
    SyncSecurityGroup {
        role: SgRole,
        group_id: Option<String>,
        authorize: Vec<DesiredRule>,
        revoke: Vec<String>,
    },
    DeleteSecurityGroup {
        role: SgRole,
        group_id: String,
    },
    /// In the public subnets of `azs`, with the load balancers' security group.
    CreateLoadBalancer {
        role: LbRole,
        deletion_protection: bool,
        azs: Vec<String>,
    },
    UpdateLoadBalancer {
        role: LbRole,
        arn: String,
        azs: Vec<String>,
        deletion_protection: Option<bool>,
        resync_subnets: bool,
        resync_security_groups: bool,
    },
    DeleteLoadBalancer {
        arn: String,
        name: String,
    },
    CreateTargetGroup {
        role: LbRole,
        settings: TargetGroupSettings,
        attributes: TargetGroupAttributes,
    },
    UpdateTargetGroup {
        arn: String,
        health_check: Option<TargetGroupSettings>,
        attributes: Option<TargetGroupAttributes>,
    },
    DeleteTargetGroup {
        arn: String,
    },
    SyncListener {
        role: ListenerRole,
        arn: Option<String>,
        listener: DesiredListener,
    },
    DeleteListener {
        arn: String,
    },
    CreateNamespace {
        name: String,
    },
    DeleteNamespace {
        id: String,
    },
}

/// A route table's default route (if any) and the subnets it serves.
type DesiredTable = (Option<TargetRef>, Vec<(Tier, String)>);

/// What the spec wants, by role.
struct Desired {
    rules: BTreeMap<SgRole, BTreeSet<DesiredRule>>,
    nat_azs: BTreeSet<String>,
    tables: BTreeMap<RouteTableKey, DesiredTable>,
    target_groups: BTreeMap<LbRole, (TargetGroupSettings, TargetGroupAttributes, bool)>,
    listeners: BTreeMap<ListenerRole, DesiredListener>,
}

fn desired(spec: &NetworkSpec) -> Desired {
    let sec = &spec.security;
    let mut rules: BTreeMap<SgRole, BTreeSet<DesiredRule>> = SgRole::ALL
        .into_iter()
        .map(|r| (r, BTreeSet::new()))
        .collect();
    let rule = |from, to, source, description: &str| DesiredRule {
        from_port: from,
        to_port: to,
        source,
        description: description.to_owned(),
    };
    let lb = rules.get_mut(&SgRole::LoadBalancer).expect("all roles");
    for cidr in &sec.ingress_cidrs {
        if spec.load_balancer.is_some() {
            lb.insert(rule(
                80,
                80,
                SourceRef::Cidr(*cidr),
                "HTTP from the internet",
            ));
            lb.insert(rule(
                443,
                443,
                SourceRef::Cidr(*cidr),
                "HTTPS from the internet",
            ));
        }
        if let Some(nlb) = &spec.websocket_load_balancer {
            lb.insert(rule(
                nlb.listener_port,
                nlb.listener_port,
                SourceRef::Cidr(*cidr),
                "websockets from the internet",
            ));
        }
    }
    let app = rules.get_mut(&SgRole::App).expect("all roles");
    app.insert(rule(
        sec.container_port,
        sec.container_port,
        SourceRef::Group(SgRole::LoadBalancer),
        "app port from the load balancers",
    ));
    if let Some(nlb) = &spec.websocket_load_balancer {
        app.insert(rule(
            nlb.target_port,
            nlb.target_port,
            SourceRef::Group(SgRole::LoadBalancer),
            "websocket port from the load balancers",
        ));
    }
    app.insert(rule(
        EPMD_PORT,
        EPMD_PORT,
        SourceRef::Group(SgRole::App),
        "epmd between app tasks",
    ));
    app.insert(rule(
        sec.erlang_ports.from,
        sec.erlang_ports.to,
        SourceRef::Group(SgRole::App),
        "Erlang distribution between app tasks",
    ));
    rules
        .get_mut(&SgRole::Database)
        .expect("all roles")
        .insert(rule(
            sec.database_port,
            sec.database_port,
            SourceRef::Group(SgRole::App),
            "database from the app",
        ));
    // One rule per (ports, source): a second purpose for the same opening adds nothing.
    for set in rules.values_mut() {
        let mut seen = BTreeSet::new();
        set.retain(|r| seen.insert((r.from_port, r.to_port, r.source.clone())));
    }

    let nat_azs: BTreeSet<String> = match spec.nat {
        NatMode::None => BTreeSet::new(),
        NatMode::Single => spec.azs.first().cloned().into_iter().collect(),
        NatMode::PerAz => spec.azs.iter().cloned().collect(),
    };
    let mut tables = BTreeMap::new();
    tables.insert(
        RouteTableKey::Public,
        (
            Some(TargetRef::InternetGateway),
            spec.azs
                .iter()
                .map(|az| (Tier::Public, az.clone()))
                .collect(),
        ),
    );
    for az in &spec.azs {
        let nat = match spec.nat {
            NatMode::None => None,
            NatMode::Single => spec
                .azs
                .first()
                .map(|first| TargetRef::NatGateway(first.clone())),
            NatMode::PerAz => Some(TargetRef::NatGateway(az.clone())),
        };
        tables.insert(
            RouteTableKey::Private(az.clone()),
            (nat, vec![(Tier::Private, az.clone())]),
        );
    }
    tables.insert(
        RouteTableKey::Data,
        (
            None,
            spec.azs.iter().map(|az| (Tier::Data, az.clone())).collect(),
        ),
    );

    let mut target_groups = BTreeMap::new();
    let mut listeners = BTreeMap::new();
    if let Some(alb) = &spec.load_balancer {
        target_groups.insert(
            LbRole::Application,
            (
                TargetGroupSettings {
                    protocol: "HTTP".into(),
                    port: sec.container_port,
                    target_type: alb.target_type.as_str().into(),
                    health_check_path: Some(alb.health_check_path.clone()),
                    matcher: Some(alb.health_check_matcher.clone()),
                },
                TargetGroupAttributes {
                    deregistration_delay: alb.deregistration_delay,
                    stickiness: Some(alb.stickiness),
                },
                alb.deletion_protection,
            ),
        );
        let forward = DesiredListener {
            protocol: "HTTP".into(),
            port: 80,
            action: DesiredAction::Forward(LbRole::Application),
            certificate_arn: None,
            ssl_policy: None,
        };
        match &alb.certificate_arn {
            None => {
                listeners.insert(ListenerRole::Http, forward);
            }
            Some(cert) => {
                listeners.insert(
                    ListenerRole::Http,
                    DesiredListener {
                        action: DesiredAction::RedirectToHttps,
                        ..forward
                    },
                );
                listeners.insert(
                    ListenerRole::Https,
                    DesiredListener {
                        protocol: "HTTPS".into(),
                        port: 443,
                        action: DesiredAction::Forward(LbRole::Application),
                        certificate_arn: Some(cert.clone()),
                        ssl_policy: Some(alb.ssl_policy.clone()),
                    },
                );
            }
        }
    }
    if let Some(nlb) = &spec.websocket_load_balancer {
        target_groups.insert(
            LbRole::Websocket,
            (
                TargetGroupSettings {
                    protocol: "TCP".into(),
                    port: nlb.target_port,
                    target_type: nlb.target_type.as_str().into(),
                    health_check_path: None,
                    matcher: None,
                },
                TargetGroupAttributes {
                    deregistration_delay: nlb.deregistration_delay,
                    stickiness: None,
                },
                nlb.deletion_protection,
            ),
        );
        listeners.insert(
            ListenerRole::Tcp,
            DesiredListener {
                protocol: "TCP".into(),
                port: nlb.listener_port,
                action: DesiredAction::Forward(LbRole::Websocket),
                certificate_arn: None,
                ssl_policy: None,
            },
        );
    }
    Desired {
        rules,
        nat_azs,
        tables,
        target_groups,
        listeners,
    }
}

fn rule_label(rule: &DesiredRule) -> String {
    let ports = if rule.from_port == rule.to_port {
        rule.from_port.to_string()
    } else {
        format!("{}-{}", rule.from_port, rule.to_port)
    };
    let source = match &rule.source {
        SourceRef::Cidr(c) => c.to_string(),
        SourceRef::Group(r) => format!("sg:{}", r.key()),
    };
    format!("tcp {ports} from {source}")
}

fn observed_rule_label(rule: &ObservedRule, groups: &BTreeMap<String, SgRole>) -> String {
    let ports = if rule.from_port == rule.to_port {
        rule.from_port.to_string()
    } else {
        format!("{}-{}", rule.from_port, rule.to_port)
    };
    let source = match &rule.source {
        Some(RuleSource::Cidr(c)) => c.to_string(),
        Some(RuleSource::Group(id)) => match groups.get(id) {
            Some(role) => format!("sg:{}", role.key()),
            None => id.clone(),
        },
        None => "(other)".into(),
    };
    let protocol = if rule.protocol == "-1" {
        "all"
    } else {
        rule.protocol.as_str()
    };
    format!("{protocol} {ports} from {source}")
}

fn target_label(target: &TargetRef) -> String {
    match target {
        TargetRef::InternetGateway => "internet_gateway".into(),
        TargetRef::NatGateway(az) => format!("nat_gateway[{az}]"),
    }
}

/// Refuses a change that would need everything in the VPC rebuilt.
fn refuse_move(change: Change<NetStep>, what: &str) -> Change<NetStep> {
    change.refuse(format!(
        "{what} cannot change in place: every resource in it would have to be rebuilt; \
         take the stack down first (`cargo xtask down`) or keep the old value"
    ))
}

/// The pure plan. With `spec: None` it deletes everything (teardown).
pub fn plan(
    stack: &Stack,
    spec: Option<&NetworkSpec>,
    observed: &NetworkObserved,
) -> Plan<NetStep> {
    let mut changes: Vec<Change<NetStep>> = Vec::new();
    let obs = observed;
    let groups_by_id: BTreeMap<String, SgRole> = obs
        .security_groups
        .iter()
        .map(|(role, g)| (g.id.clone(), *role))
        .collect();

    // VPC.
    match (spec, &obs.vpc) {
        (Some(spec), None) => changes.push(Change::new(
            address::vpc(),
            Action::Create,
            vec![
                FieldDiff::added("cidr", spec.vpc_cidr.to_string()),
                FieldDiff::added("dns", true),
            ],
            NetStep::CreateVpc {
                cidr: spec.vpc_cidr.to_string(),
            },
        )),
        (Some(spec), Some(vpc)) => {
            if vpc.detail.cidr != spec.vpc_cidr.to_string() {
                changes.push(refuse_move(
                    Change::new(
                        address::vpc(),
                        Action::Replace,
                        vec![FieldDiff::changed(
                            "cidr",
                            &vpc.detail.cidr,
                            spec.vpc_cidr.to_string(),
                        )],
                        NetStep::SetVpcDns {
                            vpc_id: vpc.id.clone(),
                        },
                    ),
                    "the VPC CIDR",
                ));
            } else if obs.vpc_dns != (true, true) {
                changes.push(Change::new(
                    address::vpc(),
                    Action::Update,
                    vec![FieldDiff::changed(
                        "dns",
                        [obs.vpc_dns.0, obs.vpc_dns.1],
                        [true, true],
                    )],
                    NetStep::SetVpcDns {
                        vpc_id: vpc.id.clone(),
                    },
                ));
            } else {
                changes.push(Change::no_op(address::vpc()));
            }
        }
        (None, Some(vpc)) => changes.push(Change::new(
            address::vpc(),
            Action::Delete,
            vec![FieldDiff::removed("id", &vpc.id)],
            NetStep::DeleteVpc {
                vpc_id: vpc.id.clone(),
            },
        )),
        (None, None) => {}
    }

    // Internet gateway.
    match (spec, &obs.internet_gateway) {
        (Some(_), None) => changes.push(Change::new(
            address::internet_gateway(),
            Action::Create,
            vec![],
            NetStep::CreateInternetGateway,
        )),
        (Some(_), Some(igw)) => {
            let vpc_id = obs.vpc.as_ref().map(|v| v.id.clone());
            if igw.detail.attached_vpc.is_some() && igw.detail.attached_vpc == vpc_id {
                changes.push(Change::no_op(address::internet_gateway()));
            } else {
                changes.push(Change::new(
                    address::internet_gateway(),
                    Action::Update,
                    vec![FieldDiff::new(
                        "attached_to",
                        igw.detail.attached_vpc.as_ref().map(FieldValue::of),
                        Some(FieldValue::of("vpc")),
                    )],
                    NetStep::AttachInternetGateway {
                        igw_id: igw.id.clone(),
                    },
                ));
            }
        }
        (None, Some(igw)) => changes.push(Change::new(
            address::internet_gateway(),
            Action::Delete,
            vec![FieldDiff::removed("id", &igw.id)],
            NetStep::DeleteInternetGateway {
                igw_id: igw.id.clone(),
                attached_vpc: igw.detail.attached_vpc.clone(),
            },
        )),
        (None, None) => {}
    }

    // Subnets.
    let mut wanted_subnets: BTreeMap<(Tier, String), String> = BTreeMap::new();
    if let Some(spec) = spec {
        for (t, tier) in Tier::ALL.into_iter().enumerate() {
            for (az, cidr) in spec.azs.iter().zip(&spec.subnets[t]) {
                wanted_subnets.insert((tier, az.clone()), cidr.to_string());
            }
        }
    }
    for ((tier, az), cidr) in &wanted_subnets {
        let addr = address::subnet(*tier, az);
        match obs.subnets.get(&(*tier, az.clone())) {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                vec![FieldDiff::added("cidr", cidr), FieldDiff::added("az", az)],
                NetStep::CreateSubnet {
                    tier: *tier,
                    az: az.clone(),
                    cidr: cidr.clone(),
                },
            )),
            Some(have) if &have.detail.cidr != cidr || &have.detail.az != az => {
                changes.push(refuse_move(
                    Change::new(
                        addr,
                        Action::Replace,
                        vec![FieldDiff::changed("cidr", &have.detail.cidr, cidr)],
                        NetStep::DeleteSubnet {
                            subnet_id: have.id.clone(),
                        },
                    ),
                    "a subnet's CIDR",
                ))
            }
            Some(_) => changes.push(Change::no_op(addr)),
        }
    }
    for ((tier, az), have) in &obs.subnets {
        if !wanted_subnets.contains_key(&(*tier, az.clone())) {
            changes.push(Change::new(
                address::subnet(*tier, az),
                Action::Delete,
                vec![FieldDiff::removed("cidr", &have.detail.cidr)],
                NetStep::DeleteSubnet {
                    subnet_id: have.id.clone(),
                },
            ));
        }
    }

    let want = spec.map(desired);

    // NAT gateways (with their elastic IPs).
    let nat_azs = want.as_ref().map(|w| w.nat_azs.clone()).unwrap_or_default();
    for az in &nat_azs {
        let addr = address::nat_gateway(az);
        if obs.nat_gateways.contains_key(az) {
            changes.push(Change::no_op(addr));
            changes.push(Change::no_op(address::elastic_ip(az)));
        } else {
            changes.push(Change::new(
                addr,
                Action::Create,
                vec![FieldDiff::added("subnet", format!("public[{az}]"))],
                NetStep::CreateNatGateway {
                    az: az.clone(),
                    allocation_id: obs.elastic_ips.get(az).map(|e| e.id.clone()),
                },
            ));
            if obs.elastic_ips.contains_key(az) {
                changes.push(Change::no_op(address::elastic_ip(az)));
            } else {
                changes.push(carried_by_another(
                    address::elastic_ip(az),
                    Action::Create,
                    vec![],
                ));
            }
        }
    }
    let gone_azs: BTreeSet<&String> = obs
        .nat_gateways
        .keys()
        .chain(obs.elastic_ips.keys())
        .filter(|az| !nat_azs.contains(*az))
        .collect();
    for az in gone_azs {
        let nat = obs.nat_gateways.get(az);
        let eip = obs.elastic_ips.get(az);
        let step = NetStep::DeleteNatGateway {
            nat_id: nat.map(|n| n.id.clone()),
            allocation_id: eip.map(|e| e.id.clone()),
        };
        if let Some(nat) = nat {
            changes.push(Change::new(
                address::nat_gateway(az),
                Action::Delete,
                vec![FieldDiff::removed("id", &nat.id)],
                step,
            ));
            if let Some(eip) = eip {
                changes.push(carried_by_another(
                    address::elastic_ip(az),
                    Action::Delete,
                    vec![FieldDiff::removed("allocation_id", &eip.id)],
                ));
            }
        } else if let Some(eip) = eip {
            changes.push(Change::new(
                address::elastic_ip(az),
                Action::Delete,
                vec![FieldDiff::removed("allocation_id", &eip.id)],
                step,
            ));
        }
    }

    // Route tables.
    let tables = want.as_ref().map(|w| w.tables.clone()).unwrap_or_default();
    let nat_ids: BTreeMap<&String, &String> =
        obs.nat_gateways.iter().map(|(az, n)| (az, &n.id)).collect();
    let igw_id = obs.internet_gateway.as_ref().map(|g| &g.id);
    let target_matches = |target: &TargetRef, have: &RouteTarget| match (target, have) {
        (TargetRef::InternetGateway, RouteTarget::InternetGateway(id)) => Some(id) == igw_id,
        (TargetRef::NatGateway(az), RouteTarget::NatGateway(id)) => nat_ids.get(az) == Some(&id),
        _ => false,
    };
    for (key, (target, subnets)) in &tables {
        let addr = address::route_table(key);
        let have = obs.route_tables.get(key);
        let mut routes = Vec::new();
        let mut fields = Vec::new();
        let existing: Vec<&ObservedRoute> = have
            .map(|t| t.detail.routes.iter().collect())
            .unwrap_or_default();
        if let Some(target) = target {
            match existing.iter().find(|r| r.destination == "0.0.0.0/0") {
                None => {
                    fields.push(FieldDiff::added("route 0.0.0.0/0", target_label(target)));
                    routes.push(RouteOp::Create {
                        destination: "0.0.0.0/0".into(),
                        target: target.clone(),
                    });
                }
                Some(route) if !target_matches(target, &route.target) => {
                    fields.push(FieldDiff::changed(
                        "route 0.0.0.0/0",
                        format!("{:?}", route.target),
                        target_label(target),
                    ));
                    routes.push(RouteOp::Replace {
                        destination: "0.0.0.0/0".into(),
                        target: target.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        for route in &existing {
            let wanted = target.is_some() && route.destination == "0.0.0.0/0";
            if !wanted {
                fields.push(FieldDiff::removed(
                    &format!("route {}", route.destination),
                    format!("{:?}", route.target),
                ));
                routes.push(RouteOp::Delete {
                    destination: route.destination.clone(),
                });
            }
        }
        let associated: BTreeMap<&String, &String> = have
            .map(|t| {
                t.detail
                    .associations
                    .iter()
                    .map(|a| (&a.subnet_id, &a.id))
                    .collect()
            })
            .unwrap_or_default();
        let mut associate = Vec::new();
        let mut keep = BTreeSet::new();
        for (tier, az) in subnets {
            match obs
                .subnets
                .get(&(*tier, az.clone()))
                .and_then(|s| associated.get(&s.id))
            {
                Some(_) => {
                    keep.insert(obs.subnets[&(*tier, az.clone())].id.clone());
                }
                None => {
                    fields.push(FieldDiff::added(
                        "subnet",
                        format!("{}[{az}]", tier.as_str()),
                    ));
                    associate.push((*tier, az.clone()));
                }
            }
        }
        let disassociate: Vec<String> = associated
            .iter()
            .filter(|(subnet, _)| !keep.contains(**subnet))
            .map(|(subnet, assoc)| {
                fields.push(FieldDiff::removed("subnet", subnet));
                (*assoc).clone()
            })
            .collect();
        match have {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                fields,
                NetStep::SyncRouteTable {
                    key: key.clone(),
                    table_id: None,
                    routes,
                    associate,
                    disassociate,
                },
            )),
            Some(_) if fields.is_empty() => changes.push(Change::no_op(addr)),
            Some(t) => changes.push(Change::new(
                addr,
                Action::Update,
                fields,
                NetStep::SyncRouteTable {
                    key: key.clone(),
                    table_id: Some(t.id.clone()),
                    routes,
                    associate,
                    disassociate,
                },
            )),
        }
    }
    for (key, have) in &obs.route_tables {
        if !tables.contains_key(key) {
            changes.push(Change::new(
                address::route_table(key),
                Action::Delete,
                vec![FieldDiff::removed("id", &have.id)],
                NetStep::DeleteRouteTable {
                    table_id: have.id.clone(),
                    association_ids: have
                        .detail
                        .associations
                        .iter()
                        .map(|a| a.id.clone())
                        .collect(),
                },
            ));
        }
    }

    // S3 gateway endpoint on the private and data route tables.
    let endpoint_tables: Vec<RouteTableKey> = match spec {
        Some(spec) if spec.s3_endpoint => tables
            .keys()
            .filter(|k| **k != RouteTableKey::Public)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    match (&obs.s3_endpoint, endpoint_tables.is_empty()) {
        (None, false) => changes.push(Change::new(
            address::s3_endpoint(),
            Action::Create,
            vec![FieldDiff::added("route_tables", endpoint_tables.len())],
            NetStep::CreateS3Endpoint {
                service: format!(
                    "com.amazonaws.{}.s3",
                    spec.map_or("", |s| s.region.as_str())
                ),
                tables: endpoint_tables,
            },
        )),
        (Some(have), false) => {
            let table_id = |k: &RouteTableKey| obs.route_tables.get(k).map(|t| t.id.clone());
            let add: Vec<RouteTableKey> = endpoint_tables
                .iter()
                .filter(|k| table_id(k).is_none_or(|id| !have.detail.route_table_ids.contains(&id)))
                .cloned()
                .collect();
            let wanted_ids: BTreeSet<String> =
                endpoint_tables.iter().filter_map(table_id).collect();
            let remove: Vec<String> = have
                .detail
                .route_table_ids
                .iter()
                .filter(|id| !wanted_ids.contains(*id))
                .cloned()
                .collect();
            if add.is_empty() && remove.is_empty() {
                changes.push(Change::no_op(address::s3_endpoint()));
            } else {
                changes.push(Change::new(
                    address::s3_endpoint(),
                    Action::Update,
                    vec![FieldDiff::changed(
                        "route_tables",
                        have.detail.route_table_ids.len(),
                        endpoint_tables.len(),
                    )],
                    NetStep::UpdateS3Endpoint {
                        endpoint_id: have.id.clone(),
                        add,
                        remove,
                    },
                ));
            }
        }
        (Some(have), true) => changes.push(Change::new(
            address::s3_endpoint(),
            Action::Delete,
            vec![FieldDiff::removed("id", &have.id)],
            NetStep::DeleteS3Endpoint {
                endpoint_id: have.id.clone(),
            },
        )),
        (None, true) => {}
    }

    // Security groups: rules reconciled one by one.
    let wanted_rules = want.as_ref().map(|w| w.rules.clone()).unwrap_or_default();
    for (role, rules) in &wanted_rules {
        let addr = address::security_group(*role);
        let have = obs.security_groups.get(role);
        let existing = obs.ingress.get(role).cloned().unwrap_or_default();
        let matches = |want: &DesiredRule, have: &ObservedRule| {
            have.protocol == "tcp"
                && have.from_port == i32::from(want.from_port)
                && have.to_port == i32::from(want.to_port)
                && match (&want.source, &have.source) {
                    (SourceRef::Cidr(a), Some(RuleSource::Cidr(b))) => a == b,
                    (SourceRef::Group(role), Some(RuleSource::Group(id))) => {
                        groups_by_id.get(id) == Some(role)
                    }
                    _ => false,
                }
        };
        let authorize: Vec<DesiredRule> = rules
            .iter()
            .filter(|w| !existing.iter().any(|h| matches(w, h)))
            .cloned()
            .collect();
        let extra: Vec<&ObservedRule> = existing
            .iter()
            .filter(|h| !rules.iter().any(|w| matches(w, h)))
            .collect();
        let mut fields: Vec<FieldDiff> = authorize
            .iter()
            .map(|r| FieldDiff::added("ingress", rule_label(r)))
            .collect();
        fields.extend(
            extra
                .iter()
                .map(|r| FieldDiff::removed("ingress", observed_rule_label(r, &groups_by_id))),
        );
        let revoke = extra.iter().map(|r| r.id.clone()).collect();
        match have {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                fields,
                NetStep::SyncSecurityGroup {
                    role: *role,
                    group_id: None,
                    authorize,
                    revoke,
                },
            )),
            Some(_) if fields.is_empty() => changes.push(Change::no_op(addr)),
            Some(g) => changes.push(Change::new(
                addr,
                Action::Update,
                fields,
                NetStep::SyncSecurityGroup {
                    role: *role,
                    group_id: Some(g.id.clone()),
                    authorize,
                    revoke,
                },
            )),
        }
    }
    for (role, have) in &obs.security_groups {
        if !wanted_rules.contains_key(role) {
            changes.push(Change::new(
                address::security_group(*role),
                Action::Delete,
                vec![FieldDiff::removed("id", &have.id)],
                NetStep::DeleteSecurityGroup {
                    role: *role,
                    group_id: have.id.clone(),
                },
            ));
        }
    }

    // Load balancers and target groups.
    let target_groups = want
        .as_ref()
        .map(|w| w.target_groups.clone())
        .unwrap_or_default();
    let public_subnets: Option<BTreeSet<String>> = spec.and_then(|s| {
        s.azs
            .iter()
            .map(|az| {
                obs.subnets
                    .get(&(Tier::Public, az.clone()))
                    .map(|t| t.id.clone())
            })
            .collect()
    });
    let lb_group = obs
        .security_groups
        .get(&SgRole::LoadBalancer)
        .map(|g| g.id.clone());
    for (role, (settings, attributes, protection)) in &target_groups {
        let lb_addr = address::load_balancer(*role);
        match obs.load_balancers.get(role) {
            None => {
                let name = stack.resource_name(role.key());
                let change = Change::new(
                    lb_addr,
                    Action::Create,
                    vec![
                        FieldDiff::added("name", &name),
                        FieldDiff::added("deletion_protection", protection),
                    ],
                    NetStep::CreateLoadBalancer {
                        role: *role,
                        deletion_protection: *protection,
                        azs: spec.map(|s| s.azs.clone()).unwrap_or_default(),
                    },
                );
                changes.push(if obs.foreign_load_balancers.contains(role) {
                    change.refuse(stack.foreign_refusal(COMPONENT, "load balancer", &name))
                } else {
                    change
                });
            }
            Some(have) => {
                let mut fields = Vec::new();
                let deletion_protection = (have.deletion_protection != *protection).then(|| {
                    fields.push(FieldDiff::changed(
                        "deletion_protection",
                        have.deletion_protection,
                        protection,
                    ));
                    *protection
                });
                let have_subnets: BTreeSet<String> = have.lb.subnet_ids.iter().cloned().collect();
                let resync_subnets = public_subnets.as_ref() != Some(&have_subnets);
                if resync_subnets {
                    fields.push(FieldDiff::changed(
                        "subnets",
                        have_subnets.len(),
                        spec.map_or(0, |s| s.azs.len()),
                    ));
                }
                let have_groups: Vec<String> = have.lb.security_group_ids.clone();
                let resync_security_groups =
                    lb_group.as_ref().is_none_or(|g| have_groups != [g.clone()]);
                if resync_security_groups {
                    fields.push(FieldDiff::changed(
                        "security_groups",
                        &have_groups,
                        ["sg:lb"],
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(lb_addr));
                } else {
                    changes.push(Change::new(
                        lb_addr,
                        Action::Update,
                        fields,
                        NetStep::UpdateLoadBalancer {
                            role: *role,
                            arn: have.lb.arn.clone(),
                            azs: spec.map(|s| s.azs.clone()).unwrap_or_default(),
                            deletion_protection,
                            resync_subnets,
                            resync_security_groups,
                        },
                    ));
                }
            }
        }
        let tg_addr = address::target_group(*role);
        match obs.target_groups.get(role) {
            None => {
                let change = Change::new(
                    tg_addr,
                    Action::Create,
                    vec![
                        FieldDiff::added("protocol", &settings.protocol),
                        FieldDiff::added("port", settings.port),
                        FieldDiff::added("target_type", &settings.target_type),
                    ],
                    NetStep::CreateTargetGroup {
                        role: *role,
                        settings: settings.clone(),
                        attributes: attributes.clone(),
                    },
                );
                changes.push(if obs.foreign_target_groups.contains(role) {
                    let name = stack.resource_name(role.target_group_key());
                    change.refuse(stack.foreign_refusal(COMPONENT, "target group", &name))
                } else {
                    change
                });
            }
            Some(have) => {
                let vpc_changed = obs.vpc.as_ref().is_some_and(|v| v.id != have.tg.vpc_id);
                let fixed_changed = have.tg.settings.protocol != settings.protocol
                    || have.tg.settings.port != settings.port
                    || have.tg.settings.target_type != settings.target_type;
                if fixed_changed || vpc_changed {
                    changes.push(
                        Change::new(
                            tg_addr,
                            Action::Replace,
                            vec![
                                FieldDiff::changed("port", have.tg.settings.port, settings.port),
                                FieldDiff::changed("target_type", &have.tg.settings.target_type, &settings.target_type),
                            ],
                            NetStep::DeleteTargetGroup { arn: have.tg.arn.clone() },
                        )
                        .refuse(
                            "a target group's protocol, port and target type are fixed: services register \
                             into it, so take the stack down first (`cargo xtask down`) to change them",
                        ),
                    );
                    continue;
                }
                let mut fields = Vec::new();
                let health_changed = have.tg.settings.health_check_path
                    != settings.health_check_path
                    || have.tg.settings.matcher != settings.matcher;
                if health_changed {
                    fields.push(FieldDiff::changed(
                        "health_check",
                        (
                            &have.tg.settings.health_check_path,
                            &have.tg.settings.matcher,
                        ),
                        (&settings.health_check_path, &settings.matcher),
                    ));
                }
                if have.attributes.deregistration_delay != attributes.deregistration_delay {
                    fields.push(FieldDiff::changed(
                        "deregistration_delay",
                        have.attributes.deregistration_delay,
                        attributes.deregistration_delay,
                    ));
                }
                // Stickiness is berth's on ALB target groups only; NLB ones report it anyway.
                let stickiness_changed = attributes.stickiness.is_some()
                    && have.attributes.stickiness != attributes.stickiness;
                if stickiness_changed {
                    fields.push(FieldDiff::changed(
                        "stickiness",
                        have.attributes.stickiness,
                        attributes.stickiness,
                    ));
                }
                let attributes_changed = have.attributes.deregistration_delay
                    != attributes.deregistration_delay
                    || stickiness_changed;
                if fields.is_empty() {
                    changes.push(Change::no_op(tg_addr));
                } else {
                    changes.push(Change::new(
                        tg_addr,
                        Action::Update,
                        fields,
                        NetStep::UpdateTargetGroup {
                            arn: have.tg.arn.clone(),
                            health_check: health_changed.then(|| settings.clone()),
                            attributes: attributes_changed.then(|| attributes.clone()),
                        },
                    ));
                }
            }
        }
    }
    for (role, have) in &obs.load_balancers {
        if !target_groups.contains_key(role) {
            let change = Change::new(
                address::load_balancer(*role),
                Action::Delete,
                vec![FieldDiff::removed("dns_name", &have.lb.dns_name)],
                NetStep::DeleteLoadBalancer {
                    arn: have.lb.arn.clone(),
                    name: have.lb.name.clone(),
                },
            );
            changes.push(if have.deletion_protection {
                change.refuse(format!(
                    "load balancer {} has deletion protection on; set deletion_protection = false for it \
                     in the stack's config and run `cargo xtask up` first",
                    have.lb.name
                ))
            } else {
                change
            });
        }
    }
    for (role, have) in &obs.target_groups {
        if !target_groups.contains_key(role) {
            changes.push(Change::new(
                address::target_group(*role),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.tg.name)],
                NetStep::DeleteTargetGroup {
                    arn: have.tg.arn.clone(),
                },
            ));
        }
    }

    // Listeners.
    let listeners = want
        .as_ref()
        .map(|w| w.listeners.clone())
        .unwrap_or_default();
    let tg_arn = |role: &LbRole| obs.target_groups.get(role).map(|t| t.tg.arn.clone());
    for (role, listener) in &listeners {
        let addr = address::listener(*role);
        let action_label = |a: &DesiredAction| match a {
            DesiredAction::Forward(r) => {
                format!("forward to target_group[{}]", r.target_group_key())
            }
            DesiredAction::RedirectToHttps => "redirect to https".to_owned(),
        };
        match obs.listeners.get(role) {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                vec![
                    FieldDiff::added("port", listener.port),
                    FieldDiff::added("action", action_label(&listener.action)),
                ],
                NetStep::SyncListener {
                    role: *role,
                    arn: None,
                    listener: listener.clone(),
                },
            )),
            Some(have) => {
                let action_matches = match (&listener.action, &have.settings.action) {
                    (DesiredAction::Forward(r), ListenerAction::Forward { target_group_arn }) => {
                        tg_arn(r).as_ref() == Some(target_group_arn)
                    }
                    (DesiredAction::RedirectToHttps, ListenerAction::RedirectToHttps) => true,
                    _ => false,
                };
                let mut fields = Vec::new();
                if !action_matches {
                    fields.push(FieldDiff::changed(
                        "action",
                        format!("{:?}", have.settings.action),
                        action_label(&listener.action),
                    ));
                }
                if have.settings.protocol != listener.protocol
                    || have.settings.port != listener.port
                {
                    fields.push(FieldDiff::changed(
                        "listener",
                        format!("{} {}", have.settings.protocol, have.settings.port),
                        format!("{} {}", listener.protocol, listener.port),
                    ));
                }
                if have.settings.certificate_arn != listener.certificate_arn {
                    fields.push(FieldDiff::changed(
                        "certificate_arn",
                        &have.settings.certificate_arn,
                        &listener.certificate_arn,
                    ));
                }
                // AWS reports the default policy when none was asked for: only compare ours.
                if listener.ssl_policy.is_some() && have.settings.ssl_policy != listener.ssl_policy
                {
                    fields.push(FieldDiff::changed(
                        "ssl_policy",
                        &have.settings.ssl_policy,
                        &listener.ssl_policy,
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(addr));
                } else {
                    changes.push(Change::new(
                        addr,
                        Action::Update,
                        fields,
                        NetStep::SyncListener {
                            role: *role,
                            arn: Some(have.arn.clone()),
                            listener: listener.clone(),
                        },
                    ));
                }
            }
        }
    }
    for (role, have) in &obs.listeners {
        if !listeners.contains_key(role) {
            changes.push(Change::new(
                address::listener(*role),
                Action::Delete,
                vec![FieldDiff::removed("port", have.settings.port)],
                NetStep::DeleteListener {
                    arn: have.arn.clone(),
                },
            ));
        }
    }

    // Private DNS namespace.
    let wanted_namespace = spec.and_then(|s| s.namespace.clone());
    match (&wanted_namespace, &obs.namespace) {
        (Some(name), None) => changes.push(Change::new(
            address::namespace(),
            Action::Create,
            vec![FieldDiff::added("name", name)],
            NetStep::CreateNamespace { name: name.clone() },
        )),
        (Some(name), Some(have)) if &have.name != name => changes.push(
            Change::new(
                address::namespace(),
                Action::Replace,
                vec![FieldDiff::changed("name", &have.name, name)],
                NetStep::DeleteNamespace { id: have.id.clone() },
            )
            .refuse("the namespace's name cannot change while services may be registered in it; take the stack down first"),
        ),
        (Some(_), Some(_)) => changes.push(Change::no_op(address::namespace())),
        (None, Some(have)) => changes.push(Change::new(
            address::namespace(),
            Action::Delete,
            vec![FieldDiff::removed("name", &have.name)],
            NetStep::DeleteNamespace { id: have.id.clone() },
        )),
        (None, None) => {}
    }

    // The elastic IP entries of a NAT share its step; apply runs each step once.
    Plan::new(changes)
}

#[cfg(test)]
mod tests;
