//! The facades of berth-network — EC2, Elastic Load Balancing v2, Cloud Map — with only the
//! calls it makes, in domain types. `list_*` calls filter by the stack's tag and read every page;
//! the filter only narrows the list (some endpoints ignore it): observe checks each item's tags.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::stack::TAG_ADDRESS;
use berth_core::{AwsError, Tags};
use ipnet::Ipv4Net;

/// Any tagged EC2 resource: its id, its tags and the value of its `berth:address` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<T> {
    pub id: String,
    pub address: String,
    /// All its tags: observe keeps the resource only if they say it is the stack's.
    pub tags: BTreeMap<String, String>,
    pub detail: T,
}

impl<T> Tagged<T> {
    /// A resource as listed; its address is read from its tags.
    pub fn new(id: impl Into<String>, tags: BTreeMap<String, String>, detail: T) -> Self {
        Self {
            id: id.into(),
            address: tags.get(TAG_ADDRESS).cloned().unwrap_or_default(),
            tags,
            detail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcDetail {
    pub cidr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgwDetail {
    pub attached_vpc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetDetail {
    pub vpc_id: String,
    pub cidr: String,
    pub az: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EipDetail {
    pub association_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatDetail {
    pub subnet_id: String,
    pub allocation_id: Option<String>,
    /// pending | available | deleting | deleted | failed
    pub state: String,
    pub failure: Option<String>,
}

/// A route's target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteTarget {
    InternetGateway(String),
    NatGateway(String),
    /// Anything berth does not route to (peering, instances, …), described.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRoute {
    pub destination: String,
    pub target: RouteTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    pub id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableDetail {
    pub vpc_id: String,
    /// CIDR routes other than the VPC's `local` route.
    pub routes: Vec<ObservedRoute>,
    pub associations: Vec<Association>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDetail {
    pub service: String,
    pub route_table_ids: Vec<String>,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupDetail {
    pub vpc_id: String,
    pub name: String,
}

/// Where an ingress rule admits traffic from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSource {
    Cidr(Ipv4Net),
    Group(String),
}

/// One ingress rule (tcp).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngressRule {
    pub from_port: u16,
    pub to_port: u16,
    pub source: RuleSource,
    pub description: String,
}

/// An existing security group rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRule {
    pub id: String,
    pub group_id: String,
    pub egress: bool,
    /// `tcp`, `udp`, `-1` (all), …
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: Option<RuleSource>,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ec2Api: Send + Sync {
    /// Names of the region's available AZs, sorted.
    async fn availability_zones(&self) -> Result<Vec<String>, AwsError>;

    async fn list_vpcs(&self, stack: &str) -> Result<Vec<Tagged<VpcDetail>>, AwsError>;
    /// (enableDnsSupport, enableDnsHostnames).
    async fn vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError>;
    async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String, AwsError>;
    async fn set_vpc_dns(
        &self,
        vpc_id: &str,
        support: bool,
        hostnames: bool,
    ) -> Result<(), AwsError>;
    async fn delete_vpc(&self, vpc_id: &str) -> Result<(), AwsError>;

    async fn list_internet_gateways(&self, stack: &str)
        -> Result<Vec<Tagged<IgwDetail>>, AwsError>;
    async fn create_internet_gateway(&self, tags: &Tags) -> Result<String, AwsError>;
    async fn attach_internet_gateway(&self, igw_id: &str, vpc_id: &str) -> Result<(), AwsError>;
    async fn detach_internet_gateway(&self, igw_id: &str, vpc_id: &str) -> Result<(), AwsError>;
    async fn delete_internet_gateway(&self, igw_id: &str) -> Result<(), AwsError>;

    async fn list_subnets(&self, stack: &str) -> Result<Vec<Tagged<SubnetDetail>>, AwsError>;
    async fn create_subnet(
        &self,
        vpc_id: &str,
        cidr: &str,
        az: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn delete_subnet(&self, subnet_id: &str) -> Result<(), AwsError>;

    async fn list_addresses(&self, stack: &str) -> Result<Vec<Tagged<EipDetail>>, AwsError>;
    async fn allocate_address(&self, tags: &Tags) -> Result<String, AwsError>;
    async fn release_address(&self, allocation_id: &str) -> Result<(), AwsError>;

    async fn list_nat_gateways(&self, stack: &str) -> Result<Vec<Tagged<NatDetail>>, AwsError>;
    async fn nat_gateway(&self, nat_id: &str) -> Result<Option<NatDetail>, AwsError>;
    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        client_token: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn delete_nat_gateway(&self, nat_id: &str) -> Result<(), AwsError>;

    async fn list_route_tables(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<RouteTableDetail>>, AwsError>;
    async fn create_route_table(&self, vpc_id: &str, tags: &Tags) -> Result<String, AwsError>;
    async fn create_route(
        &self,
        table_id: &str,
        destination: &str,
        target: &RouteTarget,
    ) -> Result<(), AwsError>;
    async fn replace_route(
        &self,
        table_id: &str,
        destination: &str,
        target: &RouteTarget,
    ) -> Result<(), AwsError>;
    async fn delete_route(&self, table_id: &str, destination: &str) -> Result<(), AwsError>;
    async fn associate_route_table(&self, table_id: &str, subnet_id: &str) -> Result<(), AwsError>;
    async fn disassociate_route_table(&self, association_id: &str) -> Result<(), AwsError>;
    async fn delete_route_table(&self, table_id: &str) -> Result<(), AwsError>;

    async fn list_vpc_endpoints(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<EndpointDetail>>, AwsError>;
    async fn create_gateway_endpoint(
        &self,
        vpc_id: &str,
        service: &str,
        route_table_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn modify_endpoint_route_tables(
        &self,
        endpoint_id: &str,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<(), AwsError>;
    async fn delete_vpc_endpoint(&self, endpoint_id: &str) -> Result<(), AwsError>;

    async fn list_security_groups(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<SecurityGroupDetail>>, AwsError>;
    /// Every rule of the given groups, in one call.
    async fn list_security_group_rules(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<ObservedRule>, AwsError>;
    async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: Vec<IngressRule>,
    ) -> Result<(), AwsError>;
    async fn revoke_ingress(&self, group_id: &str, rule_ids: Vec<String>) -> Result<(), AwsError>;
    async fn delete_security_group(&self, group_id: &str) -> Result<(), AwsError>;
}

/// application | network
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LbKind {
    Application,
    Network,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub kind: LbKind,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub state: String,
}

/// HTTP (ALB) or TCP (NLB) target groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupSettings {
    pub protocol: String,
    pub port: u16,
    /// `instance` or `ip`.
    pub target_type: String,
    /// HTTP health checks only.
    pub health_check_path: Option<String>,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTargetGroup {
    pub arn: String,
    pub name: String,
    pub vpc_id: String,
    pub settings: TargetGroupSettings,
}

/// Target group attributes berth manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupAttributes {
    pub deregistration_delay: u32,
    /// ALB target groups only.
    pub stickiness: Option<bool>,
}

/// What a listener does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerAction {
    Forward { target_group_arn: String },
    RedirectToHttps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    pub protocol: String,
    pub port: u16,
    pub action: ListenerAction,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedListener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub settings: ListenerSettings,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ElbApi: Send + Sync {
    /// The load balancers with these names that exist.
    async fn list_load_balancers(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<ObservedLoadBalancer>, AwsError>;
    async fn load_balancer_deletion_protection(&self, arn: &str) -> Result<bool, AwsError>;
    async fn create_load_balancer(
        &self,
        name: &str,
        kind: LbKind,
        subnet_ids: Vec<String>,
        security_group_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn set_deletion_protection(&self, arn: &str, enabled: bool) -> Result<(), AwsError>;
    async fn set_subnets(&self, arn: &str, subnet_ids: Vec<String>) -> Result<(), AwsError>;
    async fn set_security_groups(&self, arn: &str, group_ids: Vec<String>) -> Result<(), AwsError>;
    async fn delete_load_balancer(&self, arn: &str) -> Result<(), AwsError>;

    async fn list_target_groups(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<ObservedTargetGroup>, AwsError>;
    async fn target_group_attributes(&self, arn: &str) -> Result<TargetGroupAttributes, AwsError>;
    async fn create_target_group(
        &self,
        name: &str,
        vpc_id: &str,
        settings: &TargetGroupSettings,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn modify_health_check(
        &self,
        arn: &str,
        settings: &TargetGroupSettings,
    ) -> Result<(), AwsError>;
    async fn set_target_group_attributes(
        &self,
        arn: &str,
        attributes: &TargetGroupAttributes,
    ) -> Result<(), AwsError>;
    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError>;

    async fn list_listeners(
        &self,
        load_balancer_arn: &str,
    ) -> Result<Vec<ObservedListener>, AwsError>;
    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        settings: &ListenerSettings,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn modify_listener(&self, arn: &str, settings: &ListenerSettings)
        -> Result<(), AwsError>;
    async fn delete_listener(&self, arn: &str) -> Result<(), AwsError>;

    /// Tags of up to 20 resources, by ARN.
    async fn tags(
        &self,
        arns: Vec<String>,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNamespace {
    pub id: String,
    pub arn: String,
    pub name: String,
}

/// Where an asynchronous Cloud Map operation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    Pending(String),
    /// Done; the namespace id it concerns.
    Succeeded(Option<String>),
    Failed(String),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudMapApi: Send + Sync {
    /// Private DNS namespaces.
    async fn list_namespaces(&self) -> Result<Vec<ObservedNamespace>, AwsError>;
    async fn namespace_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError>;
    /// Starts creating; returns the operation id.
    async fn create_private_dns_namespace(
        &self,
        name: &str,
        vpc_id: &str,
        creator_request_id: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    /// Starts deleting; returns the operation id.
    async fn delete_namespace(&self, id: &str) -> Result<String, AwsError>;
    async fn operation(&self, operation_id: &str) -> Result<OperationStatus, AwsError>;
}
