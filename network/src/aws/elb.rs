//! [`ElbApi`] over `aws-sdk-elasticloadbalancingv2`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag, TargetGroupAttribute, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use berth_core::{sdk_error, AwsError, Tags};

use crate::api::*;

/// [`ElbApi`] for a real (or emulated) Elastic Load Balancing v2 endpoint.
#[derive(Debug, Clone)]
pub struct Elb {
    client: Client,
}

impl Elb {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn tags_of(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn action_of(action: &ListenerAction) -> Action {
    match action {
        ListenerAction::Forward { target_group_arn } => Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(target_group_arn)
            .build(),
        ListenerAction::RedirectToHttps => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build(),
    }
}

fn attribute_map<'a>(
    items: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    items
        .filter_map(|(k, v)| Some((k?.to_owned(), v?.to_owned())))
        .collect()
}

#[async_trait]
impl ElbApi for Elb {
    async fn list_load_balancers(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<ObservedLoadBalancer>, AwsError> {
        // Listing by name fails when one is missing: list all, keep ours.
        let lbs: Vec<_> = self
            .client
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeLoadBalancers"))?;
        Ok(lbs
            .into_iter()
            .filter(|lb| {
                lb.load_balancer_name()
                    .is_some_and(|n| names.iter().any(|w| w == n))
            })
            .map(|lb| ObservedLoadBalancer {
                arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
                name: lb.load_balancer_name().unwrap_or_default().to_owned(),
                dns_name: lb.dns_name().unwrap_or_default().to_owned(),
                kind: match lb.r#type() {
                    Some(LoadBalancerTypeEnum::Network) => LbKind::Network,
                    _ => LbKind::Application,
                },
                subnet_ids: lb
                    .availability_zones()
                    .iter()
                    .filter_map(|z| z.subnet_id().map(str::to_owned))
                    .collect(),
                security_group_ids: lb.security_groups().to_vec(),
                state: lb
                    .state()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn load_balancer_deletion_protection(&self, arn: &str) -> Result<bool, AwsError> {
        let out = self
            .client
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DescribeLoadBalancerAttributes"))?;
        let attributes = attribute_map(out.attributes().iter().map(|a| (a.key(), a.value())));
        Ok(attributes
            .get("deletion_protection.enabled")
            .map(String::as_str)
            == Some("true"))
    }

    async fn create_load_balancer(
        &self,
        name: &str,
        kind: LbKind,
        subnet_ids: Vec<String>,
        security_group_ids: Vec<String>,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_load_balancer()
            .name(name)
            .r#type(match kind {
                LbKind::Application => LoadBalancerTypeEnum::Application,
                LbKind::Network => LoadBalancerTypeEnum::Network,
            })
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(subnet_ids))
            .set_security_groups(Some(security_group_ids))
            .set_tags(Some(tags_of(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateLoadBalancer"))?;
        out.load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::invalid("CreateLoadBalancer", "no load balancer in the response")
            })
    }

    async fn set_deletion_protection(&self, arn: &str, enabled: bool) -> Result<(), AwsError> {
        self.client
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .attributes(
                LoadBalancerAttribute::builder()
                    .key("deletion_protection.enabled")
                    .value(enabled.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("ModifyLoadBalancerAttributes"))?;
        Ok(())
    }

    async fn set_subnets(&self, arn: &str, subnet_ids: Vec<String>) -> Result<(), AwsError> {
        self.client
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(subnet_ids))
            .send()
            .await
            .map_err(sdk_error("SetSubnets"))?;
        Ok(())
    }

    async fn set_security_groups(&self, arn: &str, group_ids: Vec<String>) -> Result<(), AwsError> {
        self.client
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(group_ids))
            .send()
            .await
            .map_err(sdk_error("SetSecurityGroups"))?;
        Ok(())
    }

    async fn delete_load_balancer(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DeleteLoadBalancer"))?;
        Ok(())
    }

    async fn list_target_groups(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<ObservedTargetGroup>, AwsError> {
        let tgs: Vec<_> = self
            .client
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeTargetGroups"))?;
        Ok(tgs
            .into_iter()
            .filter(|tg| {
                tg.target_group_name()
                    .is_some_and(|n| names.iter().any(|w| w == n))
            })
            .map(|tg| {
                let http = !matches!(tg.health_check_protocol(), Some(ProtocolEnum::Tcp));
                ObservedTargetGroup {
                    arn: tg.target_group_arn().unwrap_or_default().to_owned(),
                    name: tg.target_group_name().unwrap_or_default().to_owned(),
                    vpc_id: tg.vpc_id().unwrap_or_default().to_owned(),
                    settings: TargetGroupSettings {
                        protocol: tg
                            .protocol()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        port: tg
                            .port()
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or_default(),
                        target_type: tg
                            .target_type()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                        health_check_path: tg
                            .health_check_path()
                            .filter(|_| http)
                            .map(str::to_owned),
                        matcher: tg
                            .matcher()
                            .and_then(|m| m.http_code())
                            .filter(|_| http)
                            .map(str::to_owned),
                    },
                }
            })
            .collect())
    }

    async fn target_group_attributes(&self, arn: &str) -> Result<TargetGroupAttributes, AwsError> {
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DescribeTargetGroupAttributes"))?;
        let attributes = attribute_map(out.attributes().iter().map(|a| (a.key(), a.value())));
        Ok(TargetGroupAttributes {
            deregistration_delay: attributes
                .get("deregistration_delay.timeout_seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(300),
            stickiness: attributes.get("stickiness.enabled").map(|v| v == "true"),
        })
    }

    async fn create_target_group(
        &self,
        name: &str,
        vpc_id: &str,
        settings: &TargetGroupSettings,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let mut request = self
            .client
            .create_target_group()
            .name(name)
            .vpc_id(vpc_id)
            .protocol(ProtocolEnum::from(settings.protocol.as_str()))
            .port(i32::from(settings.port))
            .target_type(TargetTypeEnum::from(settings.target_type.as_str()))
            .set_tags(Some(tags_of(tags)));
        if let Some(path) = &settings.health_check_path {
            request = request
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path(path);
        }
        if let Some(matcher) = &settings.matcher {
            request = request.matcher(Matcher::builder().http_code(matcher).build());
        }
        let out = request
            .send()
            .await
            .map_err(sdk_error("CreateTargetGroup"))?;
        out.target_groups()
            .first()
            .and_then(|tg| tg.target_group_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::invalid("CreateTargetGroup", "no target group in the response")
            })
    }

    async fn modify_health_check(
        &self,
        arn: &str,
        settings: &TargetGroupSettings,
    ) -> Result<(), AwsError> {
        let mut request = self.client.modify_target_group().target_group_arn(arn);
        if let Some(path) = &settings.health_check_path {
            request = request.health_check_path(path);
        }
        if let Some(matcher) = &settings.matcher {
            request = request.matcher(Matcher::builder().http_code(matcher).build());
        }
        request
            .send()
            .await
            .map_err(sdk_error("ModifyTargetGroup"))?;
        Ok(())
    }

    async fn set_target_group_attributes(
        &self,
        arn: &str,
        attributes: &TargetGroupAttributes,
    ) -> Result<(), AwsError> {
        let mut request = self
            .client
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(attributes.deregistration_delay.to_string())
                    .build(),
            );
        if let Some(stickiness) = attributes.stickiness {
            request = request.attributes(
                TargetGroupAttribute::builder()
                    .key("stickiness.enabled")
                    .value(stickiness.to_string())
                    .build(),
            );
        }
        request
            .send()
            .await
            .map_err(sdk_error("ModifyTargetGroupAttributes"))?;
        Ok(())
    }

    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DeleteTargetGroup"))?;
        Ok(())
    }

    async fn list_listeners(
        &self,
        load_balancer_arn: &str,
    ) -> Result<Vec<ObservedListener>, AwsError> {
        let listeners: Vec<_> = self
            .client
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error("DescribeListeners"))?;
        Ok(listeners
            .into_iter()
            .map(|l| {
                let action = l.default_actions().first();
                let action = match action.and_then(|a| a.r#type()) {
                    Some(ActionTypeEnum::Redirect) => ListenerAction::RedirectToHttps,
                    _ => ListenerAction::Forward {
                        target_group_arn: action
                            .and_then(|a| a.target_group_arn())
                            .unwrap_or_default()
                            .to_owned(),
                    },
                };
                ObservedListener {
                    arn: l.listener_arn().unwrap_or_default().to_owned(),
                    load_balancer_arn: l.load_balancer_arn().unwrap_or_default().to_owned(),
                    settings: ListenerSettings {
                        protocol: l
                            .protocol()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        port: l
                            .port()
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or_default(),
                        action,
                        certificate_arn: l
                            .certificates()
                            .first()
                            .and_then(|c| c.certificate_arn())
                            .map(str::to_owned),
                        ssl_policy: l.ssl_policy().map(str::to_owned),
                    },
                }
            })
            .collect())
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        settings: &ListenerSettings,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(load_balancer_arn)
            .protocol(ProtocolEnum::from(settings.protocol.as_str()))
            .port(i32::from(settings.port))
            .default_actions(action_of(&settings.action))
            .set_certificates(
                settings
                    .certificate_arn
                    .as_ref()
                    .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
            )
            .set_ssl_policy(settings.ssl_policy.clone())
            .set_tags(Some(tags_of(tags)))
            .send()
            .await
            .map_err(sdk_error("CreateListener"))?;
        out.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::invalid("CreateListener", "no listener in the response"))
    }

    async fn modify_listener(
        &self,
        arn: &str,
        settings: &ListenerSettings,
    ) -> Result<(), AwsError> {
        self.client
            .modify_listener()
            .listener_arn(arn)
            .protocol(ProtocolEnum::from(settings.protocol.as_str()))
            .port(i32::from(settings.port))
            .default_actions(action_of(&settings.action))
            .set_certificates(
                settings
                    .certificate_arn
                    .as_ref()
                    .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
            )
            .set_ssl_policy(settings.ssl_policy.clone())
            .send()
            .await
            .map_err(sdk_error("ModifyListener"))?;
        Ok(())
    }

    async fn delete_listener(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .delete_listener()
            .listener_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DeleteListener"))?;
        Ok(())
    }

    async fn tags(
        &self,
        arns: Vec<String>,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
        let mut all = BTreeMap::new();
        // DescribeTags takes at most 20 ARNs.
        for chunk in arns.chunks(20) {
            let out = self
                .client
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(sdk_error("DescribeTags"))?;
            for description in out.tag_descriptions() {
                let Some(arn) = description.resource_arn() else {
                    continue;
                };
                let tags = description
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect();
                all.insert(arn.to_owned(), tags);
            }
        }
        Ok(all)
    }
}
