//! The routing family: NAT gateways with their elastic IPs, the route tables and the S3
//! gateway endpoint on them — what the spec wants of them, the changes to get there, and the
//! steps that make them.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{
    client_token, wait_for, Action, Address, AwsError, AwsResultExt, Change, ComponentError,
    FieldDiff, Poll, Reporter, Stack, WaitFor,
};

use crate::api::*;
use crate::component::{apply_err, missing, Created, Ids, Network, SLOW_RESOURCE_TIMEOUT};
use crate::observe::NetworkObserved;
use crate::plan::{Desired, NetStep};
use crate::{address, NatMode, NetworkSpec, RouteTableKey, Tier, COMPONENT};

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

/// A route table's default route (if any) and the subnets it serves.
pub(crate) type DesiredTable = (Option<TargetRef>, Vec<(Tier, String)>);

/// NAT gateways, route tables and the S3 endpoint.
pub(crate) fn plan_routing(
    spec: Option<&NetworkSpec>,
    want: &Option<Desired>,
    obs: &NetworkObserved,
) -> Vec<Change<NetStep>> {
    let nat_azs = want.as_ref().map(|w| w.nat_azs.clone()).unwrap_or_default();
    let tables = want.as_ref().map(|w| w.tables.clone()).unwrap_or_default();
    let mut changes = Vec::new();
    plan_nat_gateways(&nat_azs, obs, &mut changes);
    plan_route_tables(&tables, obs, &mut changes);
    plan_s3_endpoint(spec, &tables, obs, &mut changes);
    changes
}

/// The AZs with a NAT gateway: none, the first, or every one.
pub(crate) fn desired_nat_azs(spec: &NetworkSpec) -> BTreeSet<String> {
    match spec.nat {
        NatMode::None => BTreeSet::new(),
        NatMode::Single => spec.azs.first().cloned().into_iter().collect(),
        NatMode::PerAz => spec.azs.iter().cloned().collect(),
    }
}

/// The public table (to the internet gateway), a private one per AZ (through NAT, if any) and
/// the data table (no route out).
pub(crate) fn desired_tables(spec: &NetworkSpec) -> BTreeMap<RouteTableKey, DesiredTable> {
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
    tables
}

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

fn target_label(target: &TargetRef) -> String {
    match target {
        TargetRef::InternetGateway => "internet_gateway".into(),
        TargetRef::NatGateway(az) => format!("nat_gateway[{az}]"),
    }
}

/// NAT gateways, with their elastic IPs.
fn plan_nat_gateways(
    nat_azs: &BTreeSet<String>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    for az in nat_azs {
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
}

/// Route tables: their default route and the subnets they serve.
fn plan_route_tables(
    tables: &BTreeMap<RouteTableKey, DesiredTable>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    let nat_ids: BTreeMap<&String, &String> =
        obs.nat_gateways.iter().map(|(az, n)| (az, &n.id)).collect();
    let igw_id = obs.internet_gateway.as_ref().map(|g| &g.id);
    let target_matches = |target: &TargetRef, have: &RouteTarget| match (target, have) {
        (TargetRef::InternetGateway, RouteTarget::InternetGateway(id)) => Some(id) == igw_id,
        (TargetRef::NatGateway(az), RouteTarget::NatGateway(id)) => nat_ids.get(az) == Some(&id),
        _ => false,
    };
    for (key, (target, subnets)) in tables {
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
}

/// The S3 gateway endpoint, on the private and data route tables.
fn plan_s3_endpoint(
    spec: Option<&NetworkSpec>,
    tables: &BTreeMap<RouteTableKey, DesiredTable>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
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
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    async fn wait_nat(
        &self,
        address: &Address,
        nat_id: &str,
        reporter: &dyn Reporter,
        gone: bool,
    ) -> Result<(), ComponentError> {
        let what = if gone {
            "to be deleted"
        } else {
            "to be available"
        };
        let wait = WaitFor::new(
            format!("NAT gateway {nat_id} {what}"),
            SLOW_RESOURCE_TIMEOUT,
        );
        wait_for(&wait, reporter, || async {
            let nat = self.ec2.nat_gateway(nat_id).await?;
            Ok::<_, AwsError>(match (nat, gone) {
                (None, true) => Poll::Ready(()),
                (Some(n), true) if n.state == "deleted" => Poll::Ready(()),
                (Some(n), false) if n.state == "available" => Poll::Ready(()),
                (Some(n), false) if n.state == "failed" || n.state == "deleted" => Poll::Failed(
                    n.failure
                        .unwrap_or_else(|| format!("the NAT gateway went to state {}", n.state)),
                ),
                (None, false) => Poll::Failed("the NAT gateway disappeared".into()),
                (Some(n), _) => Poll::Pending(n.state),
            })
        })
        .await
        .map_err(|e| ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(e),
        })
    }
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    /// Creates or deletes a NAT gateway (with its elastic IP), syncs or deletes a route table, creates, updates or deletes the S3 endpoint.
    pub(crate) async fn run_routing_step(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        let addr = &change.address;
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        let vpc = || ids.vpc.clone().ok_or_else(|| missing(addr, "the VPC"));
        let mut created = Vec::new();
        match step {
            NetStep::CreateNatGateway { az, allocation_id } => {
                let subnet = ids
                    .subnets
                    .get(&(Tier::Public, az.clone()))
                    .ok_or_else(|| missing(addr, &format!("the public subnet in {az}")))?;
                let allocation_id = match allocation_id {
                    Some(id) => id.clone(),
                    None => {
                        let eip = address::elastic_ip(az);
                        self.ec2
                            .allocate_address(&stack.tags(
                                COMPONENT,
                                &eip,
                                &stack.resource_name(&format!("nat-{az}")),
                            ))
                            .await
                            .map_err(apply_err("allocating", &eip))?
                    }
                };
                let token = client_token(stack, addr, &allocation_id);
                let id = self
                    .ec2
                    .create_nat_gateway(
                        subnet,
                        &allocation_id,
                        &token,
                        &tags(&stack.resource_name(&format!("nat-{az}"))),
                    )
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.wait_nat(addr, &id, reporter, false).await?;
                created.push(Created::Nat(az.clone(), id));
            }
            NetStep::SyncRouteTable {
                key,
                table_id,
                routes,
                associate,
                disassociate,
            } => {
                let table = match table_id {
                    Some(id) => id.clone(),
                    None => {
                        let name = match key {
                            RouteTableKey::Public => stack.resource_name("public"),
                            RouteTableKey::Private(az) => {
                                stack.resource_name(&format!("private-{az}"))
                            }
                            RouteTableKey::Data => stack.resource_name("data"),
                        };
                        let id = self
                            .ec2
                            .create_route_table(&vpc()?, &tags(&name))
                            .await
                            .map_err(apply_err("creating", addr))?;
                        created.push(Created::RouteTable(key.clone(), id.clone()));
                        id
                    }
                };
                let resolve = |target: &TargetRef| match target {
                    TargetRef::InternetGateway => ids
                        .igw
                        .clone()
                        .map(RouteTarget::InternetGateway)
                        .ok_or_else(|| missing(addr, "the internet gateway")),
                    TargetRef::NatGateway(az) => ids
                        .nats
                        .get(az)
                        .cloned()
                        .map(RouteTarget::NatGateway)
                        .ok_or_else(|| missing(addr, &format!("the NAT gateway in {az}"))),
                };
                for op in routes {
                    match op {
                        RouteOp::Create {
                            destination,
                            target,
                        } => {
                            let target = resolve(target)?;
                            match self.ec2.create_route(&table, destination, &target).await {
                                // There already (an interrupted run): make it ours.
                                Err(err) if err.is_conflict() => {
                                    self.ec2.replace_route(&table, destination, &target).await
                                }
                                other => other,
                            }
                            .map_err(apply_err("routing", addr))?;
                        }
                        RouteOp::Replace {
                            destination,
                            target,
                        } => {
                            self.ec2
                                .replace_route(&table, destination, &resolve(target)?)
                                .await
                                .map_err(apply_err("routing", addr))?;
                        }
                        RouteOp::Delete { destination } => {
                            self.ec2
                                .delete_route(&table, destination)
                                .await
                                .ok_if_not_found()
                                .map_err(apply_err("routing", addr))?;
                        }
                    }
                }
                for association in disassociate {
                    self.ec2
                        .disassociate_route_table(association)
                        .await
                        .ok_if_not_found()
                        .map_err(apply_err("disassociating", addr))?;
                }
                for (tier, az) in associate {
                    let subnet = ids.subnets.get(&(*tier, az.clone())).ok_or_else(|| {
                        missing(addr, &format!("the {} subnet in {az}", tier.as_str()))
                    })?;
                    match self.ec2.associate_route_table(&table, subnet).await {
                        Err(err) if err.is_conflict() => Ok(()),
                        other => other,
                    }
                    .map_err(apply_err("associating", addr))?;
                }
            }
            NetStep::CreateS3Endpoint { service, tables } => {
                let table_ids = tables
                    .iter()
                    .map(|k| {
                        ids.route_tables
                            .get(k)
                            .cloned()
                            .ok_or_else(|| missing(addr, "a route table"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.ec2
                    .create_gateway_endpoint(
                        &vpc()?,
                        service,
                        table_ids,
                        &tags(&stack.resource_name("s3")),
                    )
                    .await
                    .map_err(apply_err("creating", addr))?;
            }
            NetStep::UpdateS3Endpoint {
                endpoint_id,
                add,
                remove,
            } => {
                let add = add
                    .iter()
                    .map(|k| {
                        ids.route_tables
                            .get(k)
                            .cloned()
                            .ok_or_else(|| missing(addr, "a route table"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.ec2
                    .modify_endpoint_route_tables(endpoint_id, add, remove.clone())
                    .await
                    .map_err(apply_err("updating", addr))?;
            }
            NetStep::DeleteS3Endpoint { endpoint_id } => {
                self.ec2
                    .delete_vpc_endpoint(endpoint_id)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
            NetStep::DeleteNatGateway {
                nat_id,
                allocation_id,
            } => {
                if let Some(nat_id) = nat_id {
                    self.ec2
                        .delete_nat_gateway(nat_id)
                        .await
                        .ok_if_not_found()
                        .map_err(apply_err("deleting", addr))?;
                    self.wait_nat(addr, nat_id, reporter, true).await?;
                }
                if let Some(allocation_id) = allocation_id {
                    self.delete_when_free(addr, reporter, || {
                        self.ec2.release_address(allocation_id)
                    })
                    .await?;
                }
            }
            NetStep::DeleteRouteTable {
                table_id,
                association_ids,
            } => {
                for association in association_ids {
                    self.ec2
                        .disassociate_route_table(association)
                        .await
                        .ok_if_not_found()
                        .map_err(apply_err("disassociating", addr))?;
                }
                self.delete_when_free(addr, reporter, || self.ec2.delete_route_table(table_id))
                    .await?;
            }
            other => unreachable!("not a routing step: {other:?}"),
        }
        Ok(created)
    }
}
