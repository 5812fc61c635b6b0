//! The pure network plan: what the spec wants, compared with what exists, as one change per
//! resource, family by family (see `vpc`, `routing`, `security`, `load_balancing`,
//! `namespace`). Resources created in the same run are referred to by role (`SgRole`, AZ, …)
//! and resolved to ids by apply.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{Plan, Stack};

use crate::api::*;
use crate::load_balancing::{self, DesiredListener, DesiredLoadBalancing};
use crate::observe::NetworkObserved;
use crate::routing::{self, DesiredTable, RouteOp};
use crate::security::{self, DesiredRule};
use crate::{namespace, vpc};
use crate::{LbRole, ListenerRole, NetworkSpec, RouteTableKey, SgRole, Tier};

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

/// What the spec wants, by role: every family's desired state.
pub(crate) struct Desired {
    pub(crate) rules: BTreeMap<SgRole, BTreeSet<DesiredRule>>,
    pub(crate) nat_azs: BTreeSet<String>,
    pub(crate) tables: BTreeMap<RouteTableKey, DesiredTable>,
    pub(crate) target_groups: BTreeMap<LbRole, (TargetGroupSettings, TargetGroupAttributes, bool)>,
    pub(crate) listeners: BTreeMap<ListenerRole, DesiredListener>,
}

fn desired(spec: &NetworkSpec) -> Desired {
    let DesiredLoadBalancing {
        target_groups,
        listeners,
    } = load_balancing::desired_load_balancing(spec);
    Desired {
        rules: security::desired_rules(spec),
        nat_azs: routing::desired_nat_azs(spec),
        tables: routing::desired_tables(spec),
        target_groups,
        listeners,
    }
}

/// The pure plan. With `spec: None` it deletes everything (teardown).
pub fn plan(
    stack: &Stack,
    spec: Option<&NetworkSpec>,
    observed: &NetworkObserved,
) -> Plan<NetStep> {
    let obs = observed;
    let want = spec.map(desired);
    let mut changes = vpc::plan_vpc(spec, obs);
    changes.extend(routing::plan_routing(spec, &want, obs));
    changes.extend(security::plan_security(&want, obs));
    changes.extend(load_balancing::plan_load_balancing(stack, spec, &want, obs));
    changes.extend(namespace::plan_namespace(spec, obs));
    // The elastic IP entries of a NAT share its step; apply runs each step once.
    Plan::new(changes)
}

#[cfg(test)]
mod tests;
