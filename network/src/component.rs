//! The network component: the `Network` type over its three facades, the ids a run knows, the
//! phases its steps run in, and the `Component` impl, which plans and applies through the
//! resource families.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{
    apply_phased, wait_for, Address, AwsError, Change, Component, ComponentError, Grants, Phased,
    Plan, Poll, Reporter, Stack, WaitFor,
};

use crate::api::*;
use crate::observe::{self, NetworkObserved};
use crate::plan::NetStep;
use crate::{LbRole, NetworkOutputs, NetworkSpec, RouteTableKey, SgRole, Tier, COMPONENT};

/// How long AWS may take to create or delete a NAT gateway, a load balancer, a namespace.
pub(crate) const SLOW_RESOURCE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long to retry deletes that fail while network interfaces are being released.
pub(crate) const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The network component over its three facades.
#[derive(Debug, Clone)]
pub struct Network<E, L, C> {
    pub(crate) ec2: E,
    pub(crate) elb: L,
    pub(crate) cloudmap: C,
}

/// Ids known so far: from what was observed, plus what this run created.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    pub(crate) vpc: Option<String>,
    pub(crate) igw: Option<String>,
    pub(crate) subnets: BTreeMap<(Tier, String), String>,
    pub(crate) nats: BTreeMap<String, String>,
    pub(crate) route_tables: BTreeMap<RouteTableKey, String>,
    pub(crate) security_groups: BTreeMap<SgRole, String>,
    pub(crate) load_balancers: BTreeMap<LbRole, String>,
    pub(crate) target_groups: BTreeMap<LbRole, String>,
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
pub(crate) enum Created {
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

pub(crate) fn apply_err<'a>(
    action: &'static str,
    address: &'a Address,
) -> impl Fn(AwsError) -> ComponentError + 'a {
    move |source| ComponentError::Apply {
        action,
        address: address.to_string(),
        source,
    }
}

pub(crate) fn missing(address: &Address, needs: &str) -> ComponentError {
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
    pub(crate) async fn delete_when_free<F, Fut>(
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

    /// Runs one step through the family its resource belongs to.
    async fn run(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        phase: NetPhase,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        match step {
            NetStep::CreateVpc { .. }
            | NetStep::SetVpcDns { .. }
            | NetStep::DeleteVpc { .. }
            | NetStep::CreateInternetGateway
            | NetStep::AttachInternetGateway { .. }
            | NetStep::DeleteInternetGateway { .. }
            | NetStep::CreateSubnet { .. }
            | NetStep::DeleteSubnet { .. } => {
                self.run_vpc_step(stack, change, step, ids, reporter).await
            }
            NetStep::CreateNatGateway { .. }
            | NetStep::DeleteNatGateway { .. }
            | NetStep::SyncRouteTable { .. }
            | NetStep::DeleteRouteTable { .. }
            | NetStep::CreateS3Endpoint { .. }
            | NetStep::UpdateS3Endpoint { .. }
            | NetStep::DeleteS3Endpoint { .. } => {
                self.run_routing_step(stack, change, step, ids, reporter)
                    .await
            }
            NetStep::SyncSecurityGroup { .. } | NetStep::DeleteSecurityGroup { .. } => {
                self.run_security_step(stack, change, step, phase, ids, reporter)
                    .await
            }
            NetStep::CreateLoadBalancer { .. }
            | NetStep::UpdateLoadBalancer { .. }
            | NetStep::DeleteLoadBalancer { .. }
            | NetStep::CreateTargetGroup { .. }
            | NetStep::UpdateTargetGroup { .. }
            | NetStep::DeleteTargetGroup { .. }
            | NetStep::SyncListener { .. }
            | NetStep::DeleteListener { .. } => {
                self.run_load_balancing_step(stack, change, step, ids, reporter)
                    .await
            }
            NetStep::CreateNamespace { .. } | NetStep::DeleteNamespace { .. } => {
                self.run_namespace_step(stack, change, step, ids, reporter)
                    .await
            }
        }
    }
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
