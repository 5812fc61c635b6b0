//! Carrying out a network plan: steps run in dependency phases (creates and updates first,
//! then deletes in reverse dependency order); steps of one phase run concurrently. Every
//! resource is created with its tags; every wait reports progress and ends at a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{
    apply_phased, client_token, wait_for, Address, AwsError, AwsResultExt, Change, Component,
    ComponentError, Grants, Phased, Plan, Poll, Reporter, Stack, WaitFor,
};

use crate::api::*;
use crate::observe::{self, lb_name, sg_name, tg_name, NetworkObserved};
use crate::plan::{DesiredAction, NetStep, RouteOp, SourceRef, TargetRef};
use crate::{address, LbRole, NetworkOutputs, NetworkSpec, RouteTableKey, SgRole, Tier, COMPONENT};

/// How long AWS may take to create or delete a NAT gateway, a load balancer, a namespace.
const SLOW_RESOURCE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long to retry deletes that fail while network interfaces are being released.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The network component over its three facades.
#[derive(Debug, Clone)]
pub struct Network<E, L, C> {
    ec2: E,
    elb: L,
    cloudmap: C,
}

/// Ids known so far: from what was observed, plus what this run created.
#[derive(Debug, Clone, Default)]
struct Ids {
    vpc: Option<String>,
    igw: Option<String>,
    subnets: BTreeMap<(Tier, String), String>,
    nats: BTreeMap<String, String>,
    route_tables: BTreeMap<RouteTableKey, String>,
    security_groups: BTreeMap<SgRole, String>,
    load_balancers: BTreeMap<LbRole, String>,
    target_groups: BTreeMap<LbRole, String>,
}

impl Ids {
    fn from_observed(obs: &NetworkObserved) -> Self {
        Self {
            vpc: obs.vpc.as_ref().map(|v| v.id.clone()),
            igw: obs.internet_gateway.as_ref().map(|g| g.id.clone()),
            subnets: obs
                .subnets
                .iter()
                .map(|(k, s)| (k.clone(), s.id.clone()))
                .collect(),
            nats: obs
                .nat_gateways
                .iter()
                .map(|(k, n)| (k.clone(), n.id.clone()))
                .collect(),
            route_tables: obs
                .route_tables
                .iter()
                .map(|(k, t)| (k.clone(), t.id.clone()))
                .collect(),
            security_groups: obs
                .security_groups
                .iter()
                .map(|(k, g)| (*k, g.id.clone()))
                .collect(),
            load_balancers: obs
                .load_balancers
                .iter()
                .map(|(k, l)| (*k, l.lb.arn.clone()))
                .collect(),
            target_groups: obs
                .target_groups
                .iter()
                .map(|(k, t)| (*k, t.tg.arn.clone()))
                .collect(),
        }
    }
}

/// An id created by a step, recorded for later phases.
enum Created {
    Vpc(String),
    Igw(String),
    Subnet(Tier, String, String),
    Nat(String, String),
    RouteTable(RouteTableKey, String),
    SecurityGroup(SgRole, String),
    LoadBalancer(LbRole, String),
    TargetGroup(LbRole, String),
}

impl Ids {
    fn record(&mut self, created: Created) {
        match created {
            Created::Vpc(id) => self.vpc = Some(id),
            Created::Igw(id) => self.igw = Some(id),
            Created::Subnet(tier, az, id) => {
                self.subnets.insert((tier, az), id);
            }
            Created::Nat(az, id) => {
                self.nats.insert(az, id);
            }
            Created::RouteTable(key, id) => {
                self.route_tables.insert(key, id);
            }
            Created::SecurityGroup(role, id) => {
                self.security_groups.insert(role, id);
            }
            Created::LoadBalancer(role, arn) => {
                self.load_balancers.insert(role, arn);
            }
            Created::TargetGroup(role, arn) => {
                self.target_groups.insert(role, arn);
            }
        }
    }
}

/// The order AWS lets the network's resources be created, then deleted. Creates and updates
/// run in the first five phases; deletes in the rest, in reverse dependency order: listeners,
/// load balancers, target groups, NAT, route tables, gateway, subnets, security groups
/// (database, app, load balancer), VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NetPhase {
    /// The VPC and its DNS attributes.
    Vpc,
    /// What lives directly in the VPC: internet gateway, subnets, namespace, security groups
    /// (the groups only; their rules name each other).
    InVpc,
    /// What needs those: security-group rules, NAT gateways, target groups, load balancers,
    /// the public and data route tables.
    OnSubnets,
    /// The private route tables (through the NAT gateways) and listeners (to target groups).
    Routes,
    /// The S3 gateway endpoint, on the route tables.
    Endpoints,
    DeleteListeners,
    DeleteLoadBalancers,
    /// Target groups, the namespace and the S3 endpoint.
    DeleteDetached,
    DeleteNatGateways,
    DeleteRouteTables,
    DeleteInternetGateway,
    DeleteSubnets,
    DeleteDatabaseGroup,
    DeleteAppGroup,
    DeleteLoadBalancerGroup,
    DeleteVpc,
}

impl Phased for NetStep {
    type Phase = NetPhase;

    fn phases(&self) -> Vec<NetPhase> {
        use NetPhase::*;
        match self {
            NetStep::CreateVpc { .. } | NetStep::SetVpcDns { .. } => vec![Vpc],
            NetStep::CreateInternetGateway
            | NetStep::AttachInternetGateway { .. }
            | NetStep::CreateSubnet { .. }
            | NetStep::CreateNamespace { .. } => vec![InVpc],
            // The group first (others' rules name it), its rules in the next phase.
            NetStep::SyncSecurityGroup { .. } => vec![InVpc, OnSubnets],
            NetStep::CreateNatGateway { .. }
            | NetStep::CreateTargetGroup { .. }
            | NetStep::UpdateTargetGroup { .. }
            | NetStep::CreateLoadBalancer { .. }
            | NetStep::UpdateLoadBalancer { .. } => vec![OnSubnets],
            NetStep::SyncRouteTable {
                key: RouteTableKey::Private(_),
                ..
            } => vec![Routes],
            NetStep::SyncRouteTable { .. } => vec![OnSubnets],
            NetStep::SyncListener { .. } => vec![Routes],
            NetStep::CreateS3Endpoint { .. } | NetStep::UpdateS3Endpoint { .. } => vec![Endpoints],
            NetStep::DeleteListener { .. } => vec![DeleteListeners],
            NetStep::DeleteLoadBalancer { .. } => vec![DeleteLoadBalancers],
            NetStep::DeleteTargetGroup { .. }
            | NetStep::DeleteNamespace { .. }
            | NetStep::DeleteS3Endpoint { .. } => vec![DeleteDetached],
            NetStep::DeleteNatGateway { .. } => vec![DeleteNatGateways],
            NetStep::DeleteRouteTable { .. } => vec![DeleteRouteTables],
            NetStep::DeleteInternetGateway { .. } => vec![DeleteInternetGateway],
            NetStep::DeleteSubnet { .. } => vec![DeleteSubnets],
            NetStep::DeleteSecurityGroup {
                role: SgRole::Database,
                ..
            } => vec![DeleteDatabaseGroup],
            NetStep::DeleteSecurityGroup {
                role: SgRole::App, ..
            } => vec![DeleteAppGroup],
            NetStep::DeleteSecurityGroup {
                role: SgRole::LoadBalancer,
                ..
            } => vec![DeleteLoadBalancerGroup],
            NetStep::DeleteVpc { .. } => vec![DeleteVpc],
        }
    }
}

fn apply_err<'a>(
    action: &'static str,
    address: &'a Address,
) -> impl Fn(AwsError) -> ComponentError + 'a {
    move |source| ComponentError::Apply {
        action,
        address: address.to_string(),
        source,
    }
}

fn missing(address: &Address, needs: &str) -> ComponentError {
    ComponentError::Missing {
        address: address.to_string(),
        needs: needs.to_owned(),
    }
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    pub fn new(ec2: E, elb: L, cloudmap: C) -> Self {
        Self { ec2, elb, cloudmap }
    }

    pub fn ec2(&self) -> &E {
        &self.ec2
    }

    /// Retries `delete` while AWS says the resource is still in use (network interfaces of a
    /// deleted load balancer or NAT linger for a while), reporting the wait.
    async fn delete_when_free<F, Fut>(
        &self,
        address: &Address,
        reporter: &dyn Reporter,
        delete: F,
    ) -> Result<(), ComponentError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), AwsError>>,
    {
        let wait = WaitFor::new(
            format!("{address} to be free to delete"),
            DEPENDENCY_TIMEOUT,
        );
        wait_for(&wait, reporter, || async {
            match delete().await {
                Ok(()) => Ok(Poll::Ready(())),
                Err(err) if err.is_not_found() => Ok(Poll::Ready(())),
                Err(err) if err.is_conflict() => {
                    Ok(Poll::Pending(format!("still in use ({})", err.message)))
                }
                Err(err) => Err(err),
            }
        })
        .await
        .map_err(|e| match e {
            berth_core::WaitError::Check { source, .. } => ComponentError::Apply {
                action: "deleting",
                address: address.to_string(),
                source,
            },
            other => ComponentError::Wait {
                address: address.to_string(),
                source: Box::new(other),
            },
        })
    }

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

    async fn wait_operation(
        &self,
        address: &Address,
        operation_id: &str,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let wait = WaitFor::new(
            format!("Cloud Map operation {operation_id}"),
            SLOW_RESOURCE_TIMEOUT,
        );
        wait_for(&wait, reporter, || async {
            Ok::<_, AwsError>(match self.cloudmap.operation(operation_id).await? {
                OperationStatus::Succeeded(_) => Poll::Ready(()),
                OperationStatus::Pending(status) => Poll::Pending(status),
                OperationStatus::Failed(cause) => Poll::Failed(cause),
            })
        })
        .await
        .map_err(|e| ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(e),
        })
    }

    async fn run(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        phase: NetPhase,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        let addr = &change.address;
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        let vpc = || ids.vpc.clone().ok_or_else(|| missing(addr, "the VPC"));
        let mut created = Vec::new();
        match step {
            NetStep::CreateVpc { cidr } => {
                let id = self
                    .ec2
                    .create_vpc(cidr, &tags(&stack.resource_name("vpc")))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.ec2
                    .set_vpc_dns(&id, true, true)
                    .await
                    .map_err(apply_err("configuring", addr))?;
                created.push(Created::Vpc(id));
            }
            NetStep::SetVpcDns { vpc_id } => {
                self.ec2
                    .set_vpc_dns(vpc_id, true, true)
                    .await
                    .map_err(apply_err("configuring", addr))?;
            }
            NetStep::CreateInternetGateway => {
                let vpc = vpc()?;
                let id = self
                    .ec2
                    .create_internet_gateway(&tags(&stack.resource_name("igw")))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.ec2
                    .attach_internet_gateway(&id, &vpc)
                    .await
                    .map_err(apply_err("attaching", addr))?;
                created.push(Created::Igw(id));
            }
            NetStep::AttachInternetGateway { igw_id } => {
                self.ec2
                    .attach_internet_gateway(igw_id, &vpc()?)
                    .await
                    .map_err(apply_err("attaching", addr))?;
            }
            NetStep::CreateSubnet { tier, az, cidr } => {
                let name = stack.resource_name(&format!("{}-{az}", tier.as_str()));
                let id = self
                    .ec2
                    .create_subnet(&vpc()?, cidr, az, &tags(&name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                created.push(Created::Subnet(*tier, az.clone(), id));
            }
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
            NetStep::SyncSecurityGroup {
                role,
                group_id,
                authorize,
                revoke,
            } => {
                if phase == NetPhase::InVpc {
                    if group_id.is_none() {
                        let name = sg_name(stack, *role);
                        let description = match role {
                            SgRole::LoadBalancer => "berth: the load balancers",
                            SgRole::App => "berth: the app's tasks",
                            SgRole::Database => "berth: the database",
                        };
                        let id = self
                            .ec2
                            .create_security_group(&vpc()?, &name, description, &tags(&name))
                            .await
                            .map_err(apply_err("creating", addr))?;
                        created.push(Created::SecurityGroup(*role, id));
                    }
                    return Ok(created);
                }
                let group = ids
                    .security_groups
                    .get(role)
                    .cloned()
                    .ok_or_else(|| missing(addr, "the group itself"))?;
                if !revoke.is_empty() {
                    self.ec2
                        .revoke_ingress(&group, revoke.clone())
                        .await
                        .ok_if_not_found()
                        .map_err(apply_err("revoking rules of", addr))?;
                }
                if !authorize.is_empty() {
                    let rules = authorize
                        .iter()
                        .map(|rule| {
                            let source = match &rule.source {
                                SourceRef::Cidr(cidr) => RuleSource::Cidr(*cidr),
                                SourceRef::Group(other) => RuleSource::Group(
                                    ids.security_groups.get(other).cloned().ok_or_else(|| {
                                        missing(addr, &format!("security group {}", other.key()))
                                    })?,
                                ),
                            };
                            Ok(IngressRule {
                                from_port: rule.from_port,
                                to_port: rule.to_port,
                                source,
                                description: rule.description.clone(),
                            })
                        })
                        .collect::<Result<Vec<_>, ComponentError>>()?;
                    match self.ec2.authorize_ingress(&group, rules).await {
                        Err(err) if err.code.as_deref() == Some("InvalidPermission.Duplicate") => {
                            Ok(())
                        }
                        other => other,
                    }
                    .map_err(apply_err("authorizing rules of", addr))?;
                }
            }
            NetStep::CreateLoadBalancer {
                role,
                deletion_protection,
                azs,
            } => {
                let subnets = public_subnets(ids, azs, addr)?;
                let group = ids
                    .security_groups
                    .get(&SgRole::LoadBalancer)
                    .cloned()
                    .ok_or_else(|| missing(addr, "the load balancers' security group"))?;
                let kind = match role {
                    LbRole::Application => LbKind::Application,
                    LbRole::Websocket => LbKind::Network,
                };
                let name = lb_name(stack, *role);
                let arn = self
                    .elb
                    .create_load_balancer(&name, kind, subnets, vec![group], &tags(&name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                if *deletion_protection {
                    self.elb
                        .set_deletion_protection(&arn, true)
                        .await
                        .map_err(apply_err("protecting", addr))?;
                }
                created.push(Created::LoadBalancer(*role, arn));
            }
            NetStep::UpdateLoadBalancer {
                arn,
                azs,
                deletion_protection,
                resync_subnets,
                resync_security_groups,
                ..
            } => {
                if *resync_subnets {
                    self.elb
                        .set_subnets(arn, public_subnets(ids, azs, addr)?)
                        .await
                        .map_err(apply_err("updating subnets of", addr))?;
                }
                if *resync_security_groups {
                    let group = ids
                        .security_groups
                        .get(&SgRole::LoadBalancer)
                        .cloned()
                        .ok_or_else(|| missing(addr, "the load balancers' security group"))?;
                    self.elb
                        .set_security_groups(arn, vec![group])
                        .await
                        .map_err(apply_err("updating security groups of", addr))?;
                }
                if let Some(enabled) = deletion_protection {
                    self.elb
                        .set_deletion_protection(arn, *enabled)
                        .await
                        .map_err(apply_err("updating", addr))?;
                }
            }
            NetStep::CreateTargetGroup {
                role,
                settings,
                attributes,
            } => {
                let name = tg_name(stack, *role);
                let arn = self
                    .elb
                    .create_target_group(&name, &vpc()?, settings, &tags(&name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.elb
                    .set_target_group_attributes(&arn, attributes)
                    .await
                    .map_err(apply_err("configuring", addr))?;
                created.push(Created::TargetGroup(*role, arn));
            }
            NetStep::UpdateTargetGroup {
                arn,
                health_check,
                attributes,
            } => {
                if let Some(settings) = health_check {
                    self.elb
                        .modify_health_check(arn, settings)
                        .await
                        .map_err(apply_err("updating", addr))?;
                }
                if let Some(attributes) = attributes {
                    self.elb
                        .set_target_group_attributes(arn, attributes)
                        .await
                        .map_err(apply_err("updating", addr))?;
                }
            }
            NetStep::SyncListener {
                role,
                arn,
                listener,
            } => {
                let action = match &listener.action {
                    DesiredAction::RedirectToHttps => ListenerAction::RedirectToHttps,
                    DesiredAction::Forward(tg) => ListenerAction::Forward {
                        target_group_arn: ids
                            .target_groups
                            .get(tg)
                            .cloned()
                            .ok_or_else(|| missing(addr, "its target group"))?,
                    },
                };
                let settings = ListenerSettings {
                    protocol: listener.protocol.clone(),
                    port: listener.port,
                    action,
                    certificate_arn: listener.certificate_arn.clone(),
                    ssl_policy: listener.ssl_policy.clone(),
                };
                match arn {
                    Some(arn) => self
                        .elb
                        .modify_listener(arn, &settings)
                        .await
                        .map_err(apply_err("updating", addr))?,
                    None => {
                        let lb = ids
                            .load_balancers
                            .get(&role.load_balancer())
                            .cloned()
                            .ok_or_else(|| missing(addr, "its load balancer"))?;
                        self.elb
                            .create_listener(
                                &lb,
                                &settings,
                                &tags(&stack.resource_name(role.key())),
                            )
                            .await
                            .map_err(apply_err("creating", addr))?;
                    }
                }
            }
            NetStep::CreateNamespace { name } => {
                let vpc = vpc()?;
                let token = client_token(stack, addr, &(name, &vpc));
                let operation = self
                    .cloudmap
                    .create_private_dns_namespace(name, &vpc, &token, &tags(name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.wait_operation(addr, &operation, reporter).await?;
            }
            NetStep::DeleteListener { arn } => {
                self.elb
                    .delete_listener(arn)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
            NetStep::DeleteLoadBalancer { arn, name } => {
                self.elb
                    .delete_load_balancer(arn)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
                let wait = WaitFor::new(
                    format!("load balancer {name} to be deleted"),
                    SLOW_RESOURCE_TIMEOUT,
                );
                wait_for(&wait, reporter, || async {
                    let left = self.elb.list_load_balancers(vec![name.clone()]).await?;
                    Ok::<_, AwsError>(match left.first() {
                        None => Poll::Ready(()),
                        Some(lb) => Poll::Pending(lb.state.clone()),
                    })
                })
                .await
                .map_err(|e| ComponentError::Wait {
                    address: addr.to_string(),
                    source: Box::new(e),
                })?;
            }
            NetStep::DeleteTargetGroup { arn } => {
                self.delete_when_free(addr, reporter, || self.elb.delete_target_group(arn))
                    .await?;
            }
            NetStep::DeleteNamespace { id } => match self.cloudmap.delete_namespace(id).await {
                Ok(operation) => self.wait_operation(addr, &operation, reporter).await?,
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(apply_err("deleting", addr)(err)),
            },
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
            NetStep::DeleteInternetGateway {
                igw_id,
                attached_vpc,
            } => {
                if let Some(vpc) = attached_vpc {
                    self.delete_when_free(addr, reporter, || {
                        self.ec2.detach_internet_gateway(igw_id, vpc)
                    })
                    .await?;
                }
                self.delete_when_free(addr, reporter, || self.ec2.delete_internet_gateway(igw_id))
                    .await?;
            }
            NetStep::DeleteSubnet { subnet_id } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_subnet(subnet_id))
                    .await?;
            }
            NetStep::DeleteSecurityGroup { group_id, .. } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_security_group(group_id))
                    .await?;
            }
            NetStep::DeleteVpc { vpc_id } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_vpc(vpc_id))
                    .await?;
            }
        }
        Ok(created)
    }
}

fn public_subnets(
    ids: &Ids,
    azs: &[String],
    addr: &Address,
) -> Result<Vec<String>, ComponentError> {
    azs.iter()
        .map(|az| {
            ids.subnets
                .get(&(Tier::Public, az.clone()))
                .cloned()
                .ok_or_else(|| missing(addr, &format!("the public subnet in {az}")))
        })
        .collect()
}

#[async_trait]
impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Component for Network<E, L, C> {
    /// `None`: the stack has no network (everything of it is deleted).
    type Spec = Option<NetworkSpec>;
    type Inputs = ();
    type Observed = NetworkObserved;
    type Step = NetStep;
    type Outputs = NetworkOutputs;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn observe(&self, stack: &Stack) -> Result<NetworkObserved, ComponentError> {
        observe::observe(&self.ec2, &self.elb, &self.cloudmap, stack).await
    }

    fn plan(
        &self,
        stack: &Stack,
        spec: &Option<NetworkSpec>,
        _inputs: &(),
        observed: &NetworkObserved,
        _grants: &Grants,
    ) -> Plan<NetStep> {
        crate::plan(stack, spec.as_ref(), observed)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<NetStep>,
        observed: &NetworkObserved,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        apply_phased(
            plan,
            Ids::from_observed(observed),
            reporter,
            |change, step, phase, ids| async move {
                self.run(stack, change, step, phase, &ids, reporter).await
            },
            Ids::record,
        )
        .await
        .map(drop)
    }

    fn outputs(&self, _stack: &Stack, observed: &NetworkObserved) -> NetworkOutputs {
        let mut subnets: BTreeMap<Tier, BTreeMap<String, String>> = BTreeMap::new();
        for ((tier, az), subnet) in &observed.subnets {
            subnets
                .entry(*tier)
                .or_default()
                .insert(az.clone(), subnet.id.clone());
        }
        NetworkOutputs {
            vpc_id: observed.vpc.as_ref().map(|v| v.id.clone()),
            subnets,
            security_groups: observed
                .security_groups
                .iter()
                .map(|(role, g)| (*role, g.id.clone()))
                .collect(),
            target_groups: observed
                .target_groups
                .iter()
                .map(|(role, t)| (*role, t.tg.arn.clone()))
                .collect(),
            load_balancer_dns: observed
                .load_balancers
                .get(&LbRole::Application)
                .map(|l| l.lb.dns_name.clone()),
            websocket_load_balancer_dns: observed
                .load_balancers
                .get(&LbRole::Websocket)
                .map(|l| l.lb.dns_name.clone()),
            namespace_id: observed.namespace.as_ref().map(|n| n.id.clone()),
            namespace_name: observed.namespace.as_ref().map(|n| n.name.clone()),
            load_balancer_arn: observed
                .load_balancers
                .get(&LbRole::Application)
                .map(|l| l.lb.arn.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
