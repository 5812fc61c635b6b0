//! Observing the network: one list call per resource type, filtered by the stack's tag (EC2)
//! or by name (load balancers, target groups, namespace), then the few details that have no
//! list form (VPC DNS attributes, load balancer and target group attributes, listeners).
//! Whatever a list returns, only items whose own tags name the stack and the component are
//! kept.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use berth_core::Stack;
use futures::future::try_join_all;

use crate::api::*;
use berth_core::ComponentError;

use crate::load_balancing::{lb_name, tg_name};
use crate::{address, LbRole, ListenerRole, RouteTableKey, SgRole, Tier, COMPONENT};

/// A load balancer with its deletion protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerState {
    pub lb: ObservedLoadBalancer,
    pub deletion_protection: bool,
}

/// A target group with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupState {
    pub tg: ObservedTargetGroup,
    pub attributes: TargetGroupAttributes,
}

/// Everything of the stack's network that exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkObserved {
    pub vpc: Option<Tagged<VpcDetail>>,
    /// (DNS support, DNS hostnames) of the VPC.
    pub vpc_dns: (bool, bool),
    pub internet_gateway: Option<Tagged<IgwDetail>>,
    pub subnets: BTreeMap<(Tier, String), Tagged<SubnetDetail>>,
    pub elastic_ips: BTreeMap<String, Tagged<EipDetail>>,
    pub nat_gateways: BTreeMap<String, Tagged<NatDetail>>,
    pub route_tables: BTreeMap<RouteTableKey, Tagged<RouteTableDetail>>,
    pub s3_endpoint: Option<Tagged<EndpointDetail>>,
    pub security_groups: BTreeMap<SgRole, Tagged<SecurityGroupDetail>>,
    /// Ingress rules of each group.
    pub ingress: BTreeMap<SgRole, Vec<ObservedRule>>,
    pub load_balancers: BTreeMap<LbRole, LoadBalancerState>,
    pub target_groups: BTreeMap<LbRole, TargetGroupState>,
    pub listeners: BTreeMap<ListenerRole, ObservedListener>,
    pub namespace: Option<ObservedNamespace>,
    /// Load balancers and target groups with the names the stack would use that are not the
    /// stack's: never adopted, changed or deleted; plan refuses to create their namesakes.
    pub foreign_load_balancers: BTreeSet<LbRole>,
    pub foreign_target_groups: BTreeSet<LbRole>,
}

/// One EC2 list, cut down to what is the stack's. The tag filter sent with the list call only
/// narrows it (the emulator ignores it for NAT gateways, and a filter is no proof): an item is
/// kept only if its own tags name the stack and the network component.
async fn owned<T>(
    stack: &Stack,
    what: &'static str,
    listed: impl Future<Output = Result<Vec<Tagged<T>>, berth_core::AwsError>>,
) -> Result<Vec<Tagged<T>>, ComponentError> {
    let items = listed.await.map_err(observe_err(what))?;
    Ok(items
        .into_iter()
        .filter(|item| stack.owns(COMPONENT, &item.tags))
        .collect())
}

/// Sorts what was found by name into the stack's, by role, and the roles whose name is taken
/// by something that is not the stack's.
fn by_role<T>(
    found: Vec<T>,
    role_of: impl Fn(&T) -> Option<LbRole>,
    ours: impl Fn(&T) -> bool,
    foreign: &mut BTreeSet<LbRole>,
) -> Vec<(LbRole, T)> {
    let mut owned = Vec::new();
    for item in found {
        let Some(role) = role_of(&item) else {
            continue;
        };
        if ours(&item) {
            owned.push((role, item));
        } else {
            foreign.insert(role);
        }
    }
    owned
}

fn keyed<T, K: Ord>(
    items: Vec<Tagged<T>>,
    key: impl Fn(&str) -> Option<K>,
) -> BTreeMap<K, Tagged<T>> {
    items
        .into_iter()
        .filter_map(|item| Some((key(&item.address)?, item)))
        .collect()
}

/// `prefix[key]` → `key`.
fn indexed<'a>(address: &'a str, prefix: &str) -> Option<&'a str> {
    address
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

fn observe_err(what: &'static str) -> impl Fn(berth_core::AwsError) -> ComponentError {
    move |source| ComponentError::Observe { what, source }
}

pub(crate) async fn observe<E, L, C>(
    ec2: &E,
    elb: &L,
    cloudmap: &C,
    stack: &Stack,
) -> Result<NetworkObserved, ComponentError>
where
    E: Ec2Api + ?Sized,
    L: ElbApi + ?Sized,
    C: CloudMapApi + ?Sized,
{
    let name = stack.name().as_str();
    let roles = [LbRole::Application, LbRole::Websocket];
    let (vpcs, igws, subnets, eips, nats, tables, endpoints, groups) = futures::try_join!(
        owned(stack, "VPC", ec2.list_vpcs(name)),
        owned(stack, "internet gateway", ec2.list_internet_gateways(name)),
        owned(stack, "subnets", ec2.list_subnets(name)),
        owned(stack, "elastic IPs", ec2.list_addresses(name)),
        owned(stack, "NAT gateways", ec2.list_nat_gateways(name)),
        owned(stack, "route tables", ec2.list_route_tables(name)),
        owned(stack, "VPC endpoints", ec2.list_vpc_endpoints(name)),
        owned(stack, "security groups", ec2.list_security_groups(name)),
    )?;
    let (lbs, tgs, namespaces) = futures::try_join!(
        async {
            elb.list_load_balancers(roles.iter().map(|r| lb_name(stack, *r)).collect())
                .await
                .map_err(observe_err("load balancers"))
        },
        async {
            elb.list_target_groups(roles.iter().map(|r| tg_name(stack, *r)).collect())
                .await
                .map_err(observe_err("target groups"))
        },
        async {
            cloudmap
                .list_namespaces()
                .await
                .map_err(observe_err("namespaces"))
        },
    )?;

    let mut observed = NetworkObserved {
        vpc: vpcs
            .into_iter()
            .find(|v| v.address == address::vpc().as_str()),
        internet_gateway: igws
            .into_iter()
            .find(|g| g.address == address::internet_gateway().as_str()),
        subnets: keyed(subnets, |a| {
            Tier::ALL.into_iter().find_map(|tier| {
                indexed(a, &format!("network.subnet.{}", tier.as_str()))
                    .map(|az| (tier, az.to_owned()))
            })
        }),
        elastic_ips: keyed(eips, |a| {
            indexed(a, "network.elastic_ip").map(str::to_owned)
        }),
        nat_gateways: keyed(
            nats.into_iter()
                .filter(|n| !matches!(n.detail.state.as_str(), "deleted" | "deleting" | "failed"))
                .collect(),
            |a| indexed(a, "network.nat_gateway").map(str::to_owned),
        ),
        route_tables: keyed(tables, |a| match a {
            "network.route_table.public" => Some(RouteTableKey::Public),
            "network.route_table.data" => Some(RouteTableKey::Data),
            _ => indexed(a, "network.route_table.private")
                .map(|az| RouteTableKey::Private(az.to_owned())),
        }),
        s3_endpoint: endpoints
            .into_iter()
            .filter(|e| {
                !matches!(
                    e.detail.state.to_lowercase().as_str(),
                    "deleted" | "deleting"
                )
            })
            .find(|e| e.address == address::s3_endpoint().as_str()),
        security_groups: keyed(groups, |a| {
            SgRole::ALL
                .into_iter()
                .find(|role| address::security_group(*role).as_str() == a)
        }),
        ..NetworkObserved::default()
    };

    // Load balancers and target groups are found by name; their tags confirm they are ours.
    // One with the stack's name that is not the stack's is remembered, so that plan refuses
    // to create (and so adopt) it.
    let arns: Vec<String> = lbs
        .iter()
        .map(|l| l.arn.clone())
        .chain(tgs.iter().map(|t| t.arn.clone()))
        .collect();
    let tags = if arns.is_empty() {
        BTreeMap::new()
    } else {
        elb.tags(arns)
            .await
            .map_err(observe_err("load balancer tags"))?
    };
    let ours = |arn: &str| tags.get(arn).is_some_and(|t| stack.owns(COMPONENT, t));
    let lbs = by_role(
        lbs,
        |lb| roles.into_iter().find(|r| lb_name(stack, *r) == lb.name),
        |lb| ours(&lb.arn),
        &mut observed.foreign_load_balancers,
    );
    let tgs = by_role(
        tgs,
        |tg| roles.into_iter().find(|r| tg_name(stack, *r) == tg.name),
        |tg| ours(&tg.arn),
        &mut observed.foreign_target_groups,
    );

    let vpc_id = observed.vpc.as_ref().map(|v| v.id.clone());
    let group_ids: Vec<String> = observed
        .security_groups
        .values()
        .map(|g| g.id.clone())
        .collect();
    let (dns, rules, lb_states, tg_states, listeners, namespace) = futures::try_join!(
        async {
            match &vpc_id {
                Some(id) => ec2.vpc_dns(id).await.map_err(observe_err("VPC attributes")),
                None => Ok((false, false)),
            }
        },
        async {
            if group_ids.is_empty() {
                Ok(Vec::new())
            } else {
                ec2.list_security_group_rules(group_ids.clone())
                    .await
                    .map_err(observe_err("security group rules"))
            }
        },
        try_join_all(lbs.iter().map(|(role, lb)| async move {
            let protection = elb
                .load_balancer_deletion_protection(&lb.arn)
                .await
                .map_err(observe_err("load balancer attributes"))?;
            Ok::<_, ComponentError>((
                *role,
                LoadBalancerState {
                    lb: lb.clone(),
                    deletion_protection: protection,
                },
            ))
        })),
        try_join_all(tgs.iter().map(|(role, tg)| async move {
            let attributes = elb
                .target_group_attributes(&tg.arn)
                .await
                .map_err(observe_err("target group attributes"))?;
            Ok::<_, ComponentError>((
                *role,
                TargetGroupState {
                    tg: tg.clone(),
                    attributes,
                },
            ))
        })),
        try_join_all(lbs.iter().map(|(_, lb)| async move {
            elb.list_listeners(&lb.arn)
                .await
                .map_err(observe_err("listeners"))
        })),
        // Cloud Map cannot filter by tag: the account's (few) private DNS namespaces are
        // checked one by one.
        async {
            let owned = try_join_all(namespaces.iter().map(|ns| async move {
                let tags = cloudmap
                    .namespace_tags(&ns.arn)
                    .await
                    .map_err(observe_err("namespace tags"))?;
                Ok::<_, ComponentError>(stack.owns(COMPONENT, &tags).then(|| ns.clone()))
            }))
            .await?;
            Ok::<_, ComponentError>(owned.into_iter().flatten().next())
        },
    )?;
    observed.vpc_dns = dns;
    for rule in rules.into_iter().filter(|r| !r.egress) {
        if let Some((role, _)) = observed
            .security_groups
            .iter()
            .find(|(_, g)| g.id == rule.group_id)
        {
            observed.ingress.entry(*role).or_default().push(rule);
        }
    }
    observed.load_balancers = lb_states.into_iter().collect();
    observed.target_groups = tg_states.into_iter().collect();
    for listener in listeners.into_iter().flatten() {
        let Some((role, _)) = lbs
            .iter()
            .find(|(_, lb)| lb.arn == listener.load_balancer_arn)
        else {
            continue;
        };
        let key = match (role, listener.settings.port) {
            (LbRole::Application, 80) => ListenerRole::Http,
            (LbRole::Application, 443) => ListenerRole::Https,
            (LbRole::Websocket, _) => ListenerRole::Tcp,
            // A listener berth did not make on our ALB: left alone.
            _ => continue,
        };
        observed.listeners.insert(key, listener);
    }
    observed.namespace = namespace;
    Ok(observed)
}

#[cfg(test)]
mod tests;
