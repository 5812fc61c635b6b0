//! Observing the network: one list call per resource type, filtered by the stack's tag (EC2)
//! or by name (load balancers, target groups, namespace), then the few details that have no
//! list form (VPC DNS attributes, load balancer and target group attributes, listeners).

use std::collections::BTreeMap;

use berth_core::Stack;
use futures::future::try_join_all;

use crate::api::*;
use crate::{address, LbRole, ListenerRole, NetworkError, RouteTableKey, SgRole, Tier, COMPONENT};

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

pub(crate) fn lb_name(stack: &Stack, role: LbRole) -> String {
    stack.resource_name(role.key())
}

pub(crate) fn tg_name(stack: &Stack, role: LbRole) -> String {
    stack.resource_name(role.target_group_key())
}

pub(crate) fn sg_name(stack: &Stack, role: SgRole) -> String {
    stack.resource_name(role.key())
}

fn observe_err(what: &'static str) -> impl Fn(berth_core::AwsError) -> NetworkError {
    move |source| NetworkError::Observe { what, source }
}

pub(crate) async fn observe<E, L, C>(
    ec2: &E,
    elb: &L,
    cloudmap: &C,
    stack: &Stack,
) -> Result<NetworkObserved, NetworkError>
where
    E: Ec2Api + ?Sized,
    L: ElbApi + ?Sized,
    C: CloudMapApi + ?Sized,
{
    let name = stack.name().as_str();
    let roles = [LbRole::Application, LbRole::Websocket];
    let (vpcs, igws, subnets, eips, nats, tables, endpoints, groups) = futures::try_join!(
        async { ec2.list_vpcs(name).await.map_err(observe_err("VPC")) },
        async {
            ec2.list_internet_gateways(name)
                .await
                .map_err(observe_err("internet gateway"))
        },
        async { ec2.list_subnets(name).await.map_err(observe_err("subnets")) },
        async {
            ec2.list_addresses(name)
                .await
                .map_err(observe_err("elastic IPs"))
        },
        async {
            ec2.list_nat_gateways(name)
                .await
                .map_err(observe_err("NAT gateways"))
        },
        async {
            ec2.list_route_tables(name)
                .await
                .map_err(observe_err("route tables"))
        },
        async {
            ec2.list_vpc_endpoints(name)
                .await
                .map_err(observe_err("VPC endpoints"))
        },
        async {
            ec2.list_security_groups(name)
                .await
                .map_err(observe_err("security groups"))
        },
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
    let owned = |arn: &str| tags.get(arn).is_some_and(|t| stack.owns(COMPONENT, t));
    let lbs: Vec<(LbRole, ObservedLoadBalancer)> = lbs
        .into_iter()
        .filter(|lb| owned(&lb.arn))
        .filter_map(|lb| {
            Some((
                roles.into_iter().find(|r| lb_name(stack, *r) == lb.name)?,
                lb,
            ))
        })
        .collect();
    let tgs: Vec<(LbRole, ObservedTargetGroup)> = tgs
        .into_iter()
        .filter(|tg| owned(&tg.arn))
        .filter_map(|tg| {
            Some((
                roles.into_iter().find(|r| tg_name(stack, *r) == tg.name)?,
                tg,
            ))
        })
        .collect();

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
            Ok::<_, NetworkError>((
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
            Ok::<_, NetworkError>((
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
                Ok::<_, NetworkError>(stack.owns(COMPONENT, &tags).then(|| ns.clone()))
            }))
            .await?;
            Ok::<_, NetworkError>(owned.into_iter().flatten().next())
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
