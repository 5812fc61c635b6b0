//! `[network]`: the VPC's CIDR, AZs, NAT, subnets per tier, security ports, load balancers and
//! the namespace, validated into a `NetworkSpec` (AZ names and region are filled in later).

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    vpc_cidr: Option<String>,
    az_count: Option<i64>,
    nat: Option<String>,
    s3_endpoint: Option<bool>,
    ingress_cidrs: Option<Vec<String>>,
    container_port: Option<i64>,
    erlang_ports: Option<[i64; 2]>,
    pub(super) database_port: Option<i64>,
    namespace: Option<String>,
    #[serde(default)]
    subnets: RawSubnets,
    #[serde(default)]
    load_balancer: RawLoadBalancer,
    websocket_load_balancer: Option<RawWebsocketLoadBalancer>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawTier {
    Prefix(i64),
    Cidrs(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSubnets {
    public: Option<RawTier>,
    private: Option<RawTier>,
    data: Option<RawTier>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoadBalancer {
    deletion_protection: Option<bool>,
    certificate_arn: Option<String>,
    ssl_policy: Option<String>,
    health_check_path: Option<String>,
    health_check_matcher: Option<String>,
    deregistration_delay: Option<i64>,
    stickiness: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebsocketLoadBalancer {
    deletion_protection: Option<bool>,
    listener_port: Option<i64>,
    target_port: Option<i64>,
}

impl Validator {
    pub(super) fn port(&mut self, key: &str, raw: Option<i64>, default: u16) -> u16 {
        match raw {
            None => default,
            Some(port) => match u16::try_from(port) {
                Ok(port) if port > 0 => port,
                _ => {
                    self.problem(key, format!("{port} is not a port; use 1 to 65535"));
                    default
                }
            },
        }
    }

    pub(super) fn cidr(&mut self, key: &str, text: &str) -> Option<Ipv4Net> {
        match text.parse::<Ipv4Net>() {
            Ok(net) if net.trunc() == net => Some(net),
            Ok(net) => {
                self.problem(
                    key,
                    format!("{text:?} has host bits set; did you mean {}?", net.trunc()),
                );
                None
            }
            Err(_) => {
                self.problem(
                    key,
                    format!("{text:?} is not an IPv4 CIDR block (like \"10.0.0.0/16\")"),
                );
                None
            }
        }
    }

    pub(super) fn network(
        &mut self,
        stack: &StackName,
        raw: RawNetwork,
        target_type: TargetType,
    ) -> NetworkConfig {
        // AWS reserves these prefixes: security groups `sg-…`, load balancers `internal-…`.
        if stack.as_str() == "sg"
            || stack.as_str().starts_with("sg-")
            || stack.as_str() == "internal"
            || stack.as_str().starts_with("internal-")
        {
            self.problem(
                "",
                format!("the stack name {stack:?} makes resource names AWS reserves (sg-…, internal-…); rename the file"),
            );
        }
        // Load balancer and target group names are `<stack>-alb` etc., at most 32 characters.
        if stack.as_str().len() > 28 {
            self.problem(
                "",
                format!("the stack name {stack:?} is too long for a network: load balancer names allow 28 characters before \"-alb\""),
            );
        }
        let vpc_cidr = match raw.vpc_cidr.as_deref() {
            None => "10.0.0.0/16".parse().expect("a valid default"),
            Some(text) => match self.cidr("network.vpc_cidr", text) {
                Some(net) if (16..=24).contains(&net.prefix_len()) => net,
                Some(net) => {
                    self.problem(
                        "network.vpc_cidr",
                        format!(
                            "a /{} VPC is outside what berth lays out (/16 to /24)",
                            net.prefix_len()
                        ),
                    );
                    net
                }
                None => "10.0.0.0/16".parse().expect("a valid default"),
            },
        };
        let az_count = match raw.az_count {
            None => 3,
            Some(n) if (1..=berth_network::MAX_AZS as i64).contains(&n) => n as usize,
            Some(n) => {
                self.problem(
                    "network.az_count",
                    format!(
                        "{n} AZs is out of range; use 1 to {}",
                        berth_network::MAX_AZS
                    ),
                );
                3
            }
        };
        if az_count < 2 {
            self.problem(
                "network.az_count",
                "an application load balancer needs subnets in at least 2 AZs; use 2 or more"
                    .into(),
            );
        }
        let nat = match raw.nat.as_deref() {
            None | Some("single") => NatMode::Single,
            Some("none") => NatMode::None,
            Some("per-az") => NatMode::PerAz,
            Some(other) => {
                self.problem(
                    "network.nat",
                    format!("{other:?} is not a NAT mode; use \"none\", \"single\" or \"per-az\""),
                );
                NatMode::Single
            }
        };
        let mut tiers = [
            TierCidrs::Prefix(24),
            TierCidrs::Prefix(20),
            TierCidrs::Prefix(24),
        ];
        for (i, (name, tier)) in [
            ("public", raw.subnets.public),
            ("private", raw.subnets.private),
            ("data", raw.subnets.data),
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("network.subnets.{name}");
            match tier {
                None => {}
                Some(RawTier::Prefix(p)) => match u8::try_from(p) {
                    Ok(p) if (16..=28).contains(&p) => tiers[i] = TierCidrs::Prefix(p),
                    _ => self.problem(
                        &key,
                        format!("/{p} is not a subnet size; use a prefix length from 16 to 28"),
                    ),
                },
                Some(RawTier::Cidrs(list)) => {
                    let nets: Vec<Ipv4Net> = list
                        .iter()
                        .enumerate()
                        .filter_map(|(j, c)| self.cidr(&format!("{key}[{j}]"), c))
                        .collect();
                    tiers[i] = TierCidrs::Explicit(nets);
                }
            }
        }
        let subnets = match berth_network::layout(vpc_cidr, az_count, &tiers) {
            Ok(layout) => layout,
            Err(err) => {
                let (tier, index) = err.location();
                let key = match index {
                    Some(i) => format!("network.subnets.{tier}[{i}]"),
                    None => format!("network.subnets.{tier}"),
                };
                self.problem(&key, err.to_string());
                [Vec::new(), Vec::new(), Vec::new()]
            }
        };
        let ingress_cidrs = match raw.ingress_cidrs {
            None => vec!["0.0.0.0/0".parse().expect("a valid default")],
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, c)| self.cidr(&format!("network.ingress_cidrs[{i}]"), c))
                .collect(),
        };
        let container_port = self.port("network.container_port", raw.container_port, 4000);
        let erlang_ports = match raw.erlang_ports {
            None => PortRange {
                from: 9100,
                to: 9155,
            },
            Some([from, to]) => {
                let from = self.port("network.erlang_ports[0]", Some(from), 9100);
                let to = self.port("network.erlang_ports[1]", Some(to), 9155);
                if from > to {
                    self.problem(
                        "network.erlang_ports",
                        format!("the range {from}-{to} is reversed; write the lower port first: [{to}, {from}]"),
                    );
                }
                PortRange { from, to }
            }
        };
        let database_port = self.port("network.database_port", raw.database_port, 27017);
        let namespace = raw.namespace.unwrap_or_else(|| format!("{stack}.internal"));
        let dns_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        };
        if !namespace.contains('.') || !namespace.split('.').all(dns_label) {
            self.problem(
                "network.namespace",
                format!("{namespace:?} is not a DNS name like \"{stack}.internal\""),
            );
        }
        let lb = raw.load_balancer;
        if let Some(arn) = &lb.certificate_arn {
            if !(arn.starts_with("arn:") && arn.contains(":acm:") && arn.contains(":certificate/"))
            {
                self.problem(
                    "network.load_balancer.certificate_arn",
                    format!("{arn:?} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"),
                );
            }
        }
        let health_check_path = lb.health_check_path.unwrap_or_else(|| "/".to_owned());
        if !health_check_path.starts_with('/') {
            self.problem(
                "network.load_balancer.health_check_path",
                format!("{health_check_path:?} must start with '/'"),
            );
        }
        let health_check_matcher = lb
            .health_check_matcher
            .unwrap_or_else(|| "200,301,302,307".to_owned());
        let matcher_ok = health_check_matcher.split(',').all(|part| {
            let mut bounds = part.trim().splitn(2, '-');
            bounds.all(|b| b.parse::<u16>().is_ok_and(|c| (200..=499).contains(&c)))
        });
        if !matcher_ok {
            self.problem(
                "network.load_balancer.health_check_matcher",
                format!("{health_check_matcher:?} is not a list of HTTP codes from 200 to 499 (like \"200,301,302\" or \"200-299\")"),
            );
        }
        let deregistration_delay = match lb.deregistration_delay {
            None => 30,
            Some(d) if (0..=3600).contains(&d) => d as u32,
            Some(d) => {
                self.problem(
                    "network.load_balancer.deregistration_delay",
                    format!("{d} seconds is out of range; use 0 to 3600"),
                );
                30
            }
        };
        let load_balancer = Some(AlbSpec {
            deletion_protection: lb.deletion_protection.unwrap_or(false),
            certificate_arn: lb.certificate_arn,
            ssl_policy: lb
                .ssl_policy
                .unwrap_or_else(|| "ELBSecurityPolicy-TLS13-1-2-2021-06".to_owned()),
            target_type,
            health_check_path,
            health_check_matcher,
            deregistration_delay,
            stickiness: lb.stickiness.unwrap_or(false),
        });
        let websocket_load_balancer = raw.websocket_load_balancer.map(|ws| NlbSpec {
            deletion_protection: ws.deletion_protection.unwrap_or(false),
            listener_port: self.port(
                "network.websocket_load_balancer.listener_port",
                ws.listener_port,
                80,
            ),
            target_port: self.port(
                "network.websocket_load_balancer.target_port",
                ws.target_port,
                container_port,
            ),
            target_type,
            deregistration_delay,
        });
        NetworkConfig {
            az_count,
            spec: NetworkSpec {
                region: String::new(),
                vpc_cidr,
                azs: Vec::new(),
                subnets,
                nat,
                s3_endpoint: raw.s3_endpoint.unwrap_or(true),
                security: SecuritySpec {
                    ingress_cidrs,
                    container_port,
                    erlang_ports,
                    database_port,
                },
                load_balancer,
                websocket_load_balancer,
                namespace: Some(namespace),
            },
        }
    }
}
