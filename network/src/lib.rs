//! berth-network: the stack's network — a VPC with a public, private and data subnet in every
//! AZ, an internet gateway, NAT (none, one, or one per AZ), route tables, least-privilege
//! security groups, an application load balancer (and optionally a network load balancer for
//! websockets), and a Cloud Map private DNS namespace for node discovery.
//!
//! EC2 resources are found by the stack's tag (one list call per resource type), load
//! balancers and target groups by their `<stack>-<name>` names, the namespace among the
//! account's; each is kept only if its own tags say it is the stack's.

pub mod api;
pub mod aws;
mod component;
pub mod layout;
mod load_balancing;
mod namespace;
mod observe;
mod plan;
mod routing;
mod security;
mod vpc;

pub use component::Network;
pub use layout::{layout, LayoutError, Tier, TierCidrs, MAX_AZS};
pub use observe::NetworkObserved;
pub use plan::{plan, NetStep};

use std::collections::BTreeMap;

use berth_core::{Address, AwsError};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The component's name: first segment of its addresses, value of its `berth:component` tag.
pub const COMPONENT: &str = "network";

/// The Erlang port mapper daemon's port, open between the app's tasks for clustering.
pub const EPMD_PORT: u16 = 4369;

/// The desired network. AZ names are resolved (see [`resolve_azs`]) and subnet CIDRs computed
/// (see [`layout`]) before it is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    /// The region, for the S3 endpoint's service name.
    pub region: String,
    pub vpc_cidr: Ipv4Net,
    /// The AZs, in slot order.
    pub azs: Vec<String>,
    /// Subnet CIDRs per tier (in [`Tier::ALL`] order), one per AZ.
    pub subnets: [Vec<Ipv4Net>; 3],
    pub nat: NatMode,
    /// An S3 gateway endpoint on the private and data route tables (image layers from ECR
    /// come from S3: this keeps them off the NAT).
    pub s3_endpoint: bool,
    pub security: SecuritySpec,
    pub load_balancer: Option<AlbSpec>,
    pub websocket_load_balancer: Option<NlbSpec>,
    /// The private DNS namespace name (e.g. `prod.internal`), if any.
    pub namespace: Option<String>,
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// No NAT: private subnets have no internet route (VPC endpoints only).
    None,
    /// One NAT gateway in the first AZ for every private subnet (cheap; one AZ's failure
    /// cuts the others' internet access).
    Single,
    /// A NAT gateway per AZ, each private subnet routed through its own AZ's.
    PerAz,
}

/// Inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// What the security groups admit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecuritySpec {
    /// Who may reach the load balancers.
    pub ingress_cidrs: Vec<Ipv4Net>,
    /// The app's port, open to the load balancers' group only.
    pub container_port: u16,
    /// Erlang distribution ports, open between the app's tasks (with epmd, 4369).
    pub erlang_ports: PortRange,
    /// The database port, open to the app's group only.
    pub database_port: u16,
}

/// `instance` (EC2, bridge networking) or `ip` (awsvpc: Fargate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Instance,
    Ip,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Instance => "instance",
            TargetType::Ip => "ip",
        }
    }
}

/// The application load balancer and its target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlbSpec {
    pub deletion_protection: bool,
    /// With a certificate, HTTP redirects to HTTPS and an HTTPS listener forwards.
    pub certificate_arn: Option<String>,
    pub ssl_policy: String,
    pub target_type: TargetType,
    pub health_check_path: String,
    pub health_check_matcher: String,
    pub deregistration_delay: u32,
    pub stickiness: bool,
}

/// A network load balancer passing TCP through (websockets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NlbSpec {
    pub deletion_protection: bool,
    pub listener_port: u16,
    pub target_port: u16,
    pub target_type: TargetType,
    pub deregistration_delay: u32,
}

/// The three security groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SgRole {
    LoadBalancer,
    App,
    Database,
}

impl SgRole {
    pub const ALL: [SgRole; 3] = [SgRole::LoadBalancer, SgRole::App, SgRole::Database];

    pub fn key(self) -> &'static str {
        match self {
            SgRole::LoadBalancer => "lb",
            SgRole::App => "app",
            SgRole::Database => "db",
        }
    }
}

/// Route tables: one public, one private per AZ, one data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteTableKey {
    Public,
    Private(String),
    Data,
}

/// The two load balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbRole {
    /// `<stack>-alb`, HTTP(S).
    Application,
    /// `<stack>-nlb`, TCP for websockets.
    Websocket,
}

impl LbRole {
    pub fn key(self) -> &'static str {
        match self {
            LbRole::Application => "alb",
            LbRole::Websocket => "nlb",
        }
    }

    /// The target group behind it.
    pub fn target_group_key(self) -> &'static str {
        match self {
            LbRole::Application => "web",
            LbRole::Websocket => "ws",
        }
    }
}

/// Listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenerRole {
    Http,
    Https,
    Tcp,
}

impl ListenerRole {
    pub fn key(self) -> &'static str {
        match self {
            ListenerRole::Http => "http",
            ListenerRole::Https => "https",
            ListenerRole::Tcp => "tcp",
        }
    }

    pub fn load_balancer(self) -> LbRole {
        match self {
            ListenerRole::Http | ListenerRole::Https => LbRole::Application,
            ListenerRole::Tcp => LbRole::Websocket,
        }
    }
}

/// Addresses of the network's resources.
pub mod address {
    use super::*;

    pub fn vpc() -> Address {
        Address::singleton(COMPONENT, "vpc")
    }
    pub fn internet_gateway() -> Address {
        Address::singleton(COMPONENT, "internet_gateway")
    }
    pub fn subnet(tier: Tier, az: &str) -> Address {
        Address::new(COMPONENT, &format!("subnet.{}", tier.as_str()), az)
    }
    pub fn elastic_ip(az: &str) -> Address {
        Address::new(COMPONENT, "elastic_ip", az)
    }
    pub fn nat_gateway(az: &str) -> Address {
        Address::new(COMPONENT, "nat_gateway", az)
    }
    pub fn route_table(key: &RouteTableKey) -> Address {
        match key {
            RouteTableKey::Public => Address::singleton(COMPONENT, "route_table.public"),
            RouteTableKey::Private(az) => Address::new(COMPONENT, "route_table.private", az),
            RouteTableKey::Data => Address::singleton(COMPONENT, "route_table.data"),
        }
    }
    pub fn s3_endpoint() -> Address {
        Address::singleton(COMPONENT, "s3_endpoint")
    }
    pub fn security_group(role: SgRole) -> Address {
        Address::new(COMPONENT, "security_group", role.key())
    }
    pub fn load_balancer(role: LbRole) -> Address {
        Address::new(COMPONENT, "load_balancer", role.key())
    }
    pub fn target_group(role: LbRole) -> Address {
        Address::new(COMPONENT, "target_group", role.target_group_key())
    }
    pub fn listener(role: ListenerRole) -> Address {
        Address::new(COMPONENT, "listener", role.key())
    }
    pub fn namespace() -> Address {
        Address::singleton(COMPONENT, "namespace")
    }
}

/// What other components need from the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkOutputs {
    pub vpc_id: Option<String>,
    /// Subnet ids by tier, then AZ.
    pub subnets: BTreeMap<Tier, BTreeMap<String, String>>,
    /// Security group ids by role.
    pub security_groups: BTreeMap<SgRole, String>,
    /// Target group ARNs by the load balancer in front of them.
    pub target_groups: BTreeMap<LbRole, String>,
    pub load_balancer_dns: Option<String>,
    pub websocket_load_balancer_dns: Option<String>,
    pub namespace_id: Option<String>,
    /// The namespace's DNS name (`prod.internal`).
    pub namespace_name: Option<String>,
    /// The application load balancer's ARN.
    pub load_balancer_arn: Option<String>,
}

impl NetworkOutputs {
    /// The ids of a tier's subnets in `azs` order, if every one of them exists.
    pub fn subnet_ids(&self, tier: Tier, azs: &[String]) -> Option<Vec<String>> {
        if azs.is_empty() {
            return None;
        }
        let tier = self.subnets.get(&tier)?;
        azs.iter().map(|az| tier.get(az).cloned()).collect()
    }
}

/// The region cannot hold the network, or its AZs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AzError {
    #[error("the region has {available} available AZs ({names}); the network asks for {wanted}")]
    NotEnoughAzs {
        wanted: usize,
        available: usize,
        names: String,
    },
    #[error("reading the region's availability zones")]
    Read(#[source] AwsError),
}

/// The first `count` available AZs of the region, sorted by name.
pub async fn resolve_azs<A: api::Ec2Api + ?Sized>(
    api: &A,
    count: usize,
) -> Result<Vec<String>, AzError> {
    let mut names = api.availability_zones().await.map_err(AzError::Read)?;
    names.sort();
    if names.len() < count {
        return Err(AzError::NotEnoughAzs {
            wanted: count,
            available: names.len(),
            names: names.join(", "),
        });
    }
    names.truncate(count);
    Ok(names)
}
