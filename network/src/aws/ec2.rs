//! [`Ec2Api`] over `aws-sdk-ec2`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, IpPermission, IpRange, ResourceType, Tag,
    TagSpecification, UserIdGroupPair, VpcAttributeName, VpcEndpointType,
};
use aws_sdk_ec2::Client;
use berth_core::{sdk_error, AwsError, AwsResultExt, Tags};

use crate::api::*;

/// [`Ec2Api`] for a real (or emulated) EC2 endpoint.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn stack_filter(stack: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{}", berth_core::stack::TAG_STACK))
        .values(stack)
        .build()
}

fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn address_of(tags: &[Tag]) -> String {
    tags.iter()
        .find(|t| t.key() == Some(berth_core::stack::TAG_ADDRESS))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_owned()
}

#[async_trait]
impl Ec2Api for Ec2 {
    async fn availability_zones(&self) -> Result<Vec<String>, AwsError> {
        let out = self
            .client
            .describe_availability_zones()
            .filters(Filter::builder().name("state").values("available").build())
            .filters(
                Filter::builder()
                    .name("zone-type")
                    .values("availability-zone")
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("DescribeAvailabilityZones"))?;
        let mut names: Vec<String> = out
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn list_vpcs(&self, stack: &str) -> Result<Vec<Tagged<VpcDetail>>, AwsError> {
        let vpcs: Vec<_> = self
            .client
            .describe_vpcs()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeVpcs"))?;
        Ok(vpcs
            .into_iter()
            .map(|v| Tagged {
                id: v.vpc_id().unwrap_or_default().to_owned(),
                address: address_of(v.tags()),
                tags: tags_of(v.tags()),
                detail: VpcDetail {
                    cidr: v.cidr_block().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }

    async fn vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        let support = self
            .client
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsSupport)
            .send()
            .await
            .map_err(sdk_error("DescribeVpcAttribute"))?;
        let hostnames = self
            .client
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .map_err(sdk_error("DescribeVpcAttribute"))?;
        Ok((
            support
                .enable_dns_support()
                .and_then(|a| a.value())
                .unwrap_or(false),
            hostnames
                .enable_dns_hostnames()
                .and_then(|a| a.value())
                .unwrap_or(false),
        ))
    }

    async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, tags))
            .send()
            .await
            .map_err(sdk_error("CreateVpc"))?;
        out.vpc()
            .and_then(|v| v.vpc_id())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("CreateVpc", "no VPC id in the response"))
    }

    async fn set_vpc_dns(
        &self,
        vpc_id: &str,
        support: bool,
        hostnames: bool,
    ) -> Result<(), AwsError> {
        // One attribute per call: the API rejects both at once.
        self.client
            .modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_support(AttributeBooleanValue::builder().value(support).build())
            .send()
            .await
            .map_err(sdk_error("ModifyVpcAttribute"))?;
        self.client
            .modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(hostnames).build())
            .send()
            .await
            .map_err(sdk_error("ModifyVpcAttribute"))?;
        Ok(())
    }

    async fn delete_vpc(&self, vpc_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_vpc()
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(sdk_error("DeleteVpc"))?;
        Ok(())
    }

    async fn list_internet_gateways(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<IgwDetail>>, AwsError> {
        let igws: Vec<_> = self
            .client
            .describe_internet_gateways()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeInternetGateways"))?;
        Ok(igws
            .into_iter()
            .map(|g| Tagged {
                id: g.internet_gateway_id().unwrap_or_default().to_owned(),
                address: address_of(g.tags()),
                tags: tags_of(g.tags()),
                detail: IgwDetail {
                    attached_vpc: g
                        .attachments()
                        .iter()
                        .find_map(|a| a.vpc_id().map(str::to_owned)),
                },
            })
            .collect())
    }

    async fn create_internet_gateway(&self, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, tags))
            .send()
            .await
            .map_err(sdk_error("CreateInternetGateway"))?;
        out.internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::invalid("CreateInternetGateway", "no gateway id in the response")
            })
    }

    async fn attach_internet_gateway(&self, igw_id: &str, vpc_id: &str) -> Result<(), AwsError> {
        self.client
            .attach_internet_gateway()
            .internet_gateway_id(igw_id)
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(sdk_error("AttachInternetGateway"))?;
        Ok(())
    }

    async fn detach_internet_gateway(&self, igw_id: &str, vpc_id: &str) -> Result<(), AwsError> {
        self.client
            .detach_internet_gateway()
            .internet_gateway_id(igw_id)
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(sdk_error("DetachInternetGateway"))?;
        Ok(())
    }

    async fn delete_internet_gateway(&self, igw_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_internet_gateway()
            .internet_gateway_id(igw_id)
            .send()
            .await
            .map_err(sdk_error("DeleteInternetGateway"))?;
        Ok(())
    }

    async fn list_subnets(&self, stack: &str) -> Result<Vec<Tagged<SubnetDetail>>, AwsError> {
        let subnets: Vec<_> = self
            .client
            .describe_subnets()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeSubnets"))?;
        Ok(subnets
            .into_iter()
            .map(|s| Tagged {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                address: address_of(s.tags()),
                tags: tags_of(s.tags()),
                detail: SubnetDetail {
                    vpc_id: s.vpc_id().unwrap_or_default().to_owned(),
                    cidr: s.cidr_block().unwrap_or_default().to_owned(),
                    az: s.availability_zone().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        cidr: &str,
        az: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(cidr)
            .availability_zone(az)
            .tag_specifications(tag_spec(ResourceType::Subnet, tags))
            .send()
            .await
            .map_err(sdk_error("CreateSubnet"))?;
        out.subnet()
            .and_then(|s| s.subnet_id())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("CreateSubnet", "no subnet id in the response"))
    }

    async fn delete_subnet(&self, subnet_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_subnet()
            .subnet_id(subnet_id)
            .send()
            .await
            .map_err(sdk_error("DeleteSubnet"))?;
        Ok(())
    }

    async fn list_addresses(&self, stack: &str) -> Result<Vec<Tagged<EipDetail>>, AwsError> {
        let out = self
            .client
            .describe_addresses()
            .filters(stack_filter(stack))
            .send()
            .await
            .map_err(sdk_error("DescribeAddresses"))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| Tagged {
                id: a.allocation_id().unwrap_or_default().to_owned(),
                address: address_of(a.tags()),
                tags: tags_of(a.tags()),
                detail: EipDetail {
                    association_id: a.association_id().map(str::to_owned),
                },
            })
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, tags))
            .send()
            .await
            .map_err(sdk_error("AllocateAddress"))?;
        out.allocation_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("AllocateAddress", "no allocation id in the response"))
    }

    async fn release_address(&self, allocation_id: &str) -> Result<(), AwsError> {
        self.client
            .release_address()
            .allocation_id(allocation_id)
            .send()
            .await
            .map_err(sdk_error("ReleaseAddress"))?;
        Ok(())
    }

    async fn list_nat_gateways(&self, stack: &str) -> Result<Vec<Tagged<NatDetail>>, AwsError> {
        let nats: Vec<_> = self
            .client
            .describe_nat_gateways()
            .filter(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeNatGateways"))?;
        Ok(nats
            .into_iter()
            .map(|n| Tagged {
                id: n.nat_gateway_id().unwrap_or_default().to_owned(),
                address: address_of(n.tags()),
                tags: tags_of(n.tags()),
                detail: nat_detail(&n),
            })
            .collect())
    }

    async fn nat_gateway(&self, nat_id: &str) -> Result<Option<NatDetail>, AwsError> {
        let out = self
            .client
            .describe_nat_gateways()
            .nat_gateway_ids(nat_id)
            .send()
            .await
            .map_err(sdk_error("DescribeNatGateways"))
            .none_if_not_found()?;
        Ok(out.and_then(|o| o.nat_gateways().first().map(nat_detail)))
    }

    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        client_token: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_nat_gateway()
            .subnet_id(subnet_id)
            .allocation_id(allocation_id)
            .client_token(client_token)
            .tag_specifications(tag_spec(ResourceType::Natgateway, tags))
            .send()
            .await
            .map_err(sdk_error("CreateNatGateway"))?;
        out.nat_gateway()
            .and_then(|n| n.nat_gateway_id())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::invalid("CreateNatGateway", "no NAT gateway id in the response")
            })
    }

    async fn delete_nat_gateway(&self, nat_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_nat_gateway()
            .nat_gateway_id(nat_id)
            .send()
            .await
            .map_err(sdk_error("DeleteNatGateway"))?;
        Ok(())
    }

    async fn list_route_tables(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<RouteTableDetail>>, AwsError> {
        let tables: Vec<_> = self
            .client
            .describe_route_tables()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeRouteTables"))?;
        Ok(tables
            .into_iter()
            .map(|t| Tagged {
                id: t.route_table_id().unwrap_or_default().to_owned(),
                address: address_of(t.tags()),
                tags: tags_of(t.tags()),
                detail: RouteTableDetail {
                    vpc_id: t.vpc_id().unwrap_or_default().to_owned(),
                    routes: t
                        .routes()
                        .iter()
                        .filter(|r| r.gateway_id() != Some("local"))
                        .filter_map(|r| {
                            let destination = r.destination_cidr_block()?.to_owned();
                            let target = match (r.gateway_id(), r.nat_gateway_id()) {
                                (Some(g), _) if g.starts_with("igw-") => {
                                    RouteTarget::InternetGateway(g.to_owned())
                                }
                                (_, Some(n)) => RouteTarget::NatGateway(n.to_owned()),
                                (Some(g), _) => RouteTarget::Other(g.to_owned()),
                                _ => RouteTarget::Other(
                                    r.vpc_peering_connection_id()
                                        .or(r.transit_gateway_id())
                                        .or(r.network_interface_id())
                                        .or(r.instance_id())
                                        .unwrap_or("unknown")
                                        .to_owned(),
                                ),
                            };
                            Some(ObservedRoute {
                                destination,
                                target,
                            })
                        })
                        .collect(),
                    associations: t
                        .associations()
                        .iter()
                        .filter(|a| !a.main().unwrap_or(false))
                        .filter_map(|a| {
                            Some(Association {
                                id: a.route_table_association_id()?.to_owned(),
                                subnet_id: a.subnet_id()?.to_owned(),
                            })
                        })
                        .collect(),
                },
            })
            .collect())
    }

    async fn create_route_table(&self, vpc_id: &str, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_route_table()
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(ResourceType::RouteTable, tags))
            .send()
            .await
            .map_err(sdk_error("CreateRouteTable"))?;
        out.route_table()
            .and_then(|t| t.route_table_id())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::invalid("CreateRouteTable", "no route table id in the response")
            })
    }

    async fn create_route(
        &self,
        table_id: &str,
        destination: &str,
        target: &RouteTarget,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .create_route()
            .route_table_id(table_id)
            .destination_cidr_block(destination);
        let request = match target {
            RouteTarget::InternetGateway(id) => request.gateway_id(id),
            RouteTarget::NatGateway(id) => request.nat_gateway_id(id),
            RouteTarget::Other(id) => {
                return Err(AwsError::invalid(
                    "CreateRoute",
                    format!("berth does not route to {id}"),
                ))
            }
        };
        request.send().await.map_err(sdk_error("CreateRoute"))?;
        Ok(())
    }

    async fn replace_route(
        &self,
        table_id: &str,
        destination: &str,
        target: &RouteTarget,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .replace_route()
            .route_table_id(table_id)
            .destination_cidr_block(destination);
        let request = match target {
            RouteTarget::InternetGateway(id) => request.gateway_id(id),
            RouteTarget::NatGateway(id) => request.nat_gateway_id(id),
            RouteTarget::Other(id) => {
                return Err(AwsError::invalid(
                    "ReplaceRoute",
                    format!("berth does not route to {id}"),
                ))
            }
        };
        request.send().await.map_err(sdk_error("ReplaceRoute"))?;
        Ok(())
    }

    async fn delete_route(&self, table_id: &str, destination: &str) -> Result<(), AwsError> {
        self.client
            .delete_route()
            .route_table_id(table_id)
            .destination_cidr_block(destination)
            .send()
            .await
            .map_err(sdk_error("DeleteRoute"))?;
        Ok(())
    }

    async fn associate_route_table(&self, table_id: &str, subnet_id: &str) -> Result<(), AwsError> {
        self.client
            .associate_route_table()
            .route_table_id(table_id)
            .subnet_id(subnet_id)
            .send()
            .await
            .map_err(sdk_error("AssociateRouteTable"))?;
        Ok(())
    }

    async fn disassociate_route_table(&self, association_id: &str) -> Result<(), AwsError> {
        self.client
            .disassociate_route_table()
            .association_id(association_id)
            .send()
            .await
            .map_err(sdk_error("DisassociateRouteTable"))?;
        Ok(())
    }

    async fn delete_route_table(&self, table_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_route_table()
            .route_table_id(table_id)
            .send()
            .await
            .map_err(sdk_error("DeleteRouteTable"))?;
        Ok(())
    }

    async fn list_vpc_endpoints(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<EndpointDetail>>, AwsError> {
        let endpoints: Vec<_> = self
            .client
            .describe_vpc_endpoints()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeVpcEndpoints"))?;
        Ok(endpoints
            .into_iter()
            .map(|e| Tagged {
                id: e.vpc_endpoint_id().unwrap_or_default().to_owned(),
                address: address_of(e.tags()),
                tags: tags_of(e.tags()),
                detail: EndpointDetail {
                    service: e.service_name().unwrap_or_default().to_owned(),
                    route_table_ids: e.route_table_ids().to_vec(),
                    state: e.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                },
            })
            .collect())
    }

    async fn create_gateway_endpoint(
        &self,
        vpc_id: &str,
        service: &str,
        route_table_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_vpc_endpoint()
            .vpc_id(vpc_id)
            .service_name(service)
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(route_table_ids))
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, tags))
            .send()
            .await
            .map_err(sdk_error("CreateVpcEndpoint"))?;
        out.vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("CreateVpcEndpoint", "no endpoint id in the response"))
    }

    async fn modify_endpoint_route_tables(
        &self,
        endpoint_id: &str,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<(), AwsError> {
        self.client
            .modify_vpc_endpoint()
            .vpc_endpoint_id(endpoint_id)
            .set_add_route_table_ids((!add.is_empty()).then_some(add))
            .set_remove_route_table_ids((!remove.is_empty()).then_some(remove))
            .send()
            .await
            .map_err(sdk_error("ModifyVpcEndpoint"))?;
        Ok(())
    }

    async fn delete_vpc_endpoint(&self, endpoint_id: &str) -> Result<(), AwsError> {
        let out = self
            .client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(endpoint_id)
            .send()
            .await
            .map_err(sdk_error("DeleteVpcEndpoints"))?;
        match out.unsuccessful().first().and_then(|u| u.error()) {
            Some(e) => Err(AwsError::new(
                "DeleteVpcEndpoints",
                berth_core::ErrorClass::classify(e.code(), None),
                e.message().unwrap_or_default(),
            )),
            None => Ok(()),
        }
    }

    async fn list_security_groups(
        &self,
        stack: &str,
    ) -> Result<Vec<Tagged<SecurityGroupDetail>>, AwsError> {
        let groups: Vec<_> = self
            .client
            .describe_security_groups()
            .filters(stack_filter(stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeSecurityGroups"))?;
        Ok(groups
            .into_iter()
            .map(|g| Tagged {
                id: g.group_id().unwrap_or_default().to_owned(),
                address: address_of(g.tags()),
                tags: tags_of(g.tags()),
                detail: SecurityGroupDetail {
                    vpc_id: g.vpc_id().unwrap_or_default().to_owned(),
                    name: g.group_name().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }

    async fn list_security_group_rules(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<ObservedRule>, AwsError> {
        let rules: Vec<_> = self
            .client
            .describe_security_group_rules()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .set_values(Some(group_ids))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeSecurityGroupRules"))?;
        Ok(rules
            .into_iter()
            .map(|r| ObservedRule {
                id: r.security_group_rule_id().unwrap_or_default().to_owned(),
                group_id: r.group_id().unwrap_or_default().to_owned(),
                egress: r.is_egress().unwrap_or(false),
                protocol: r.ip_protocol().unwrap_or_default().to_owned(),
                from_port: r.from_port().unwrap_or(-1),
                to_port: r.to_port().unwrap_or(-1),
                source: match (
                    r.cidr_ipv4(),
                    r.referenced_group_info().and_then(|g| g.group_id()),
                ) {
                    (Some(cidr), _) => cidr.parse().ok().map(RuleSource::Cidr),
                    (None, Some(group)) => Some(RuleSource::Group(group.to_owned())),
                    _ => None,
                },
            })
            .collect())
    }

    async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(sdk_error("CreateSecurityGroup"))?;
        out.group_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("CreateSecurityGroup", "no group id in the response"))
    }

    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: Vec<IngressRule>,
    ) -> Result<(), AwsError> {
        let permissions = rules
            .into_iter()
            .map(|rule| {
                let permission = IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(i32::from(rule.from_port))
                    .to_port(i32::from(rule.to_port));
                match rule.source {
                    RuleSource::Cidr(cidr) => permission.ip_ranges(
                        IpRange::builder()
                            .cidr_ip(cidr.to_string())
                            .description(rule.description)
                            .build(),
                    ),
                    RuleSource::Group(group) => permission.user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(group)
                            .description(rule.description)
                            .build(),
                    ),
                }
                .build()
            })
            .collect();
        self.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(sdk_error("AuthorizeSecurityGroupIngress"))?;
        Ok(())
    }

    async fn revoke_ingress(&self, group_id: &str, rule_ids: Vec<String>) -> Result<(), AwsError> {
        self.client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(rule_ids))
            .send()
            .await
            .map_err(sdk_error("RevokeSecurityGroupIngress"))?;
        Ok(())
    }

    async fn delete_security_group(&self, group_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .map_err(sdk_error("DeleteSecurityGroup"))?;
        Ok(())
    }
}

fn nat_detail(n: &aws_sdk_ec2::types::NatGateway) -> NatDetail {
    NatDetail {
        subnet_id: n.subnet_id().unwrap_or_default().to_owned(),
        allocation_id: n
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.allocation_id().map(str::to_owned)),
        state: n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        failure: n.failure_message().map(str::to_owned),
    }
}
