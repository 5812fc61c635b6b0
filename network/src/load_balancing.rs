//! The load balancing family: the application and websocket load balancers, their target
//! groups and listeners, and the names they go by — what the spec wants of them, the changes
//! to get there, and the steps that make them.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{
    wait_for, Action, Address, AwsError, AwsResultExt, Change, ComponentError, FieldDiff, Poll,
    Reporter, Stack, WaitFor,
};

use crate::api::*;
use crate::component::{apply_err, missing, Created, Ids, Network, SLOW_RESOURCE_TIMEOUT};
use crate::observe::NetworkObserved;
use crate::plan::{Desired, NetStep};
use crate::{address, LbRole, ListenerRole, NetworkSpec, SgRole, Tier, COMPONENT};

/// What a listener does, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredAction {
    Forward(LbRole),
    RedirectToHttps,
}

/// A desired listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredListener {
    pub protocol: String,
    pub port: u16,
    pub action: DesiredAction,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
}

/// A load balancer's name: `<stack>-alb`, `<stack>-nlb`.
pub(crate) fn lb_name(stack: &Stack, role: LbRole) -> String {
    stack.resource_name(role.key())
}

/// A target group's name: `<stack>-web`, `<stack>-ws`.
pub(crate) fn tg_name(stack: &Stack, role: LbRole) -> String {
    stack.resource_name(role.target_group_key())
}

/// What the spec wants of load balancing, by role.
pub(crate) struct DesiredLoadBalancing {
    /// Each target group's settings and attributes, with its load balancer's deletion
    /// protection.
    pub(crate) target_groups: BTreeMap<LbRole, (TargetGroupSettings, TargetGroupAttributes, bool)>,
    pub(crate) listeners: BTreeMap<ListenerRole, DesiredListener>,
}

pub(crate) fn desired_load_balancing(spec: &NetworkSpec) -> DesiredLoadBalancing {
    let sec = &spec.security;
    let mut target_groups = BTreeMap::new();
    let mut listeners = BTreeMap::new();
    if let Some(alb) = &spec.load_balancer {
        target_groups.insert(
            LbRole::Application,
            (
                TargetGroupSettings {
                    protocol: "HTTP".into(),
                    port: sec.container_port,
                    target_type: alb.target_type.as_str().into(),
                    health_check_path: Some(alb.health_check_path.clone()),
                    matcher: Some(alb.health_check_matcher.clone()),
                },
                TargetGroupAttributes {
                    deregistration_delay: alb.deregistration_delay,
                    stickiness: Some(alb.stickiness),
                },
                alb.deletion_protection,
            ),
        );
        let forward = DesiredListener {
            protocol: "HTTP".into(),
            port: 80,
            action: DesiredAction::Forward(LbRole::Application),
            certificate_arn: None,
            ssl_policy: None,
        };
        match &alb.certificate_arn {
            None => {
                listeners.insert(ListenerRole::Http, forward);
            }
            Some(cert) => {
                listeners.insert(
                    ListenerRole::Http,
                    DesiredListener {
                        action: DesiredAction::RedirectToHttps,
                        ..forward
                    },
                );
                listeners.insert(
                    ListenerRole::Https,
                    DesiredListener {
                        protocol: "HTTPS".into(),
                        port: 443,
                        action: DesiredAction::Forward(LbRole::Application),
                        certificate_arn: Some(cert.clone()),
                        ssl_policy: Some(alb.ssl_policy.clone()),
                    },
                );
            }
        }
    }
    if let Some(nlb) = &spec.websocket_load_balancer {
        target_groups.insert(
            LbRole::Websocket,
            (
                TargetGroupSettings {
                    protocol: "TCP".into(),
                    port: nlb.target_port,
                    target_type: nlb.target_type.as_str().into(),
                    health_check_path: None,
                    matcher: None,
                },
                TargetGroupAttributes {
                    deregistration_delay: nlb.deregistration_delay,
                    stickiness: None,
                },
                nlb.deletion_protection,
            ),
        );
        listeners.insert(
            ListenerRole::Tcp,
            DesiredListener {
                protocol: "TCP".into(),
                port: nlb.listener_port,
                action: DesiredAction::Forward(LbRole::Websocket),
                certificate_arn: None,
                ssl_policy: None,
            },
        );
    }
    DesiredLoadBalancing {
        target_groups,
        listeners,
    }
}

/// The load balancers, their target groups and listeners.
pub(crate) fn plan_load_balancing(
    stack: &Stack,
    spec: Option<&NetworkSpec>,
    want: &Option<Desired>,
    obs: &NetworkObserved,
) -> Vec<Change<NetStep>> {
    let mut changes = Vec::new();
    plan_load_balancers_and_target_groups(stack, spec, want, obs, &mut changes);
    plan_listeners(want, obs, &mut changes);
    changes
}

/// Each load balancer with its target group; a target group's protocol, port and target type
/// are fixed.
fn plan_load_balancers_and_target_groups(
    stack: &Stack,
    spec: Option<&NetworkSpec>,
    want: &Option<Desired>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    let target_groups = want
        .as_ref()
        .map(|w| w.target_groups.clone())
        .unwrap_or_default();
    let public_subnets: Option<BTreeSet<String>> = spec.and_then(|s| {
        s.azs
            .iter()
            .map(|az| {
                obs.subnets
                    .get(&(Tier::Public, az.clone()))
                    .map(|t| t.id.clone())
            })
            .collect()
    });
    let lb_group = obs
        .security_groups
        .get(&SgRole::LoadBalancer)
        .map(|g| g.id.clone());
    for (role, (settings, attributes, protection)) in &target_groups {
        let lb_addr = address::load_balancer(*role);
        match obs.load_balancers.get(role) {
            None => {
                let name = stack.resource_name(role.key());
                let change = Change::new(
                    lb_addr,
                    Action::Create,
                    vec![
                        FieldDiff::added("name", &name),
                        FieldDiff::added("deletion_protection", protection),
                    ],
                    NetStep::CreateLoadBalancer {
                        role: *role,
                        deletion_protection: *protection,
                        azs: spec.map(|s| s.azs.clone()).unwrap_or_default(),
                    },
                );
                changes.push(if obs.foreign_load_balancers.contains(role) {
                    change.refuse(stack.foreign_refusal(COMPONENT, "load balancer", &name))
                } else {
                    change
                });
            }
            Some(have) => {
                let mut fields = Vec::new();
                let deletion_protection = (have.deletion_protection != *protection).then(|| {
                    fields.push(FieldDiff::changed(
                        "deletion_protection",
                        have.deletion_protection,
                        protection,
                    ));
                    *protection
                });
                let have_subnets: BTreeSet<String> = have.lb.subnet_ids.iter().cloned().collect();
                let resync_subnets = public_subnets.as_ref() != Some(&have_subnets);
                if resync_subnets {
                    fields.push(FieldDiff::changed(
                        "subnets",
                        have_subnets.len(),
                        spec.map_or(0, |s| s.azs.len()),
                    ));
                }
                let have_groups: Vec<String> = have.lb.security_group_ids.clone();
                let resync_security_groups =
                    lb_group.as_ref().is_none_or(|g| have_groups != [g.clone()]);
                if resync_security_groups {
                    fields.push(FieldDiff::changed(
                        "security_groups",
                        &have_groups,
                        ["sg:lb"],
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(lb_addr));
                } else {
                    changes.push(Change::new(
                        lb_addr,
                        Action::Update,
                        fields,
                        NetStep::UpdateLoadBalancer {
                            role: *role,
                            arn: have.lb.arn.clone(),
                            azs: spec.map(|s| s.azs.clone()).unwrap_or_default(),
                            deletion_protection,
                            resync_subnets,
                            resync_security_groups,
                        },
                    ));
                }
            }
        }
        let tg_addr = address::target_group(*role);
        match obs.target_groups.get(role) {
            None => {
                let change = Change::new(
                    tg_addr,
                    Action::Create,
                    vec![
                        FieldDiff::added("protocol", &settings.protocol),
                        FieldDiff::added("port", settings.port),
                        FieldDiff::added("target_type", &settings.target_type),
                    ],
                    NetStep::CreateTargetGroup {
                        role: *role,
                        settings: settings.clone(),
                        attributes: attributes.clone(),
                    },
                );
                changes.push(if obs.foreign_target_groups.contains(role) {
                    let name = stack.resource_name(role.target_group_key());
                    change.refuse(stack.foreign_refusal(COMPONENT, "target group", &name))
                } else {
                    change
                });
            }
            Some(have) => {
                let vpc_changed = obs.vpc.as_ref().is_some_and(|v| v.id != have.tg.vpc_id);
                let fixed_changed = have.tg.settings.protocol != settings.protocol
                    || have.tg.settings.port != settings.port
                    || have.tg.settings.target_type != settings.target_type;
                if fixed_changed || vpc_changed {
                    changes.push(
                        Change::new(
                            tg_addr,
                            Action::Replace,
                            vec![
                                FieldDiff::changed("port", have.tg.settings.port, settings.port),
                                FieldDiff::changed("target_type", &have.tg.settings.target_type, &settings.target_type),
                            ],
                            NetStep::DeleteTargetGroup { arn: have.tg.arn.clone() },
                        )
                        .refuse(
                            "a target group's protocol, port and target type are fixed: services register \
                             into it, so take the stack down first (`cargo xtask down`) to change them",
                        ),
                    );
                    continue;
                }
                let mut fields = Vec::new();
                let health_changed = have.tg.settings.health_check_path
                    != settings.health_check_path
                    || have.tg.settings.matcher != settings.matcher;
                if health_changed {
                    fields.push(FieldDiff::changed(
                        "health_check",
                        (
                            &have.tg.settings.health_check_path,
                            &have.tg.settings.matcher,
                        ),
                        (&settings.health_check_path, &settings.matcher),
                    ));
                }
                if have.attributes.deregistration_delay != attributes.deregistration_delay {
                    fields.push(FieldDiff::changed(
                        "deregistration_delay",
                        have.attributes.deregistration_delay,
                        attributes.deregistration_delay,
                    ));
                }
                // Stickiness is berth's on ALB target groups only; NLB ones report it anyway.
                let stickiness_changed = attributes.stickiness.is_some()
                    && have.attributes.stickiness != attributes.stickiness;
                if stickiness_changed {
                    fields.push(FieldDiff::changed(
                        "stickiness",
                        have.attributes.stickiness,
                        attributes.stickiness,
                    ));
                }
                let attributes_changed = have.attributes.deregistration_delay
                    != attributes.deregistration_delay
                    || stickiness_changed;
                if fields.is_empty() {
                    changes.push(Change::no_op(tg_addr));
                } else {
                    changes.push(Change::new(
                        tg_addr,
                        Action::Update,
                        fields,
                        NetStep::UpdateTargetGroup {
                            arn: have.tg.arn.clone(),
                            health_check: health_changed.then(|| settings.clone()),
                            attributes: attributes_changed.then(|| attributes.clone()),
                        },
                    ));
                }
            }
        }
    }
    for (role, have) in &obs.load_balancers {
        if !target_groups.contains_key(role) {
            let change = Change::new(
                address::load_balancer(*role),
                Action::Delete,
                vec![FieldDiff::removed("dns_name", &have.lb.dns_name)],
                NetStep::DeleteLoadBalancer {
                    arn: have.lb.arn.clone(),
                    name: have.lb.name.clone(),
                },
            );
            changes.push(if have.deletion_protection {
                change.refuse(format!(
                    "load balancer {} has deletion protection on; set deletion_protection = false for it \
                     in the stack's config and run `cargo xtask up` first",
                    have.lb.name
                ))
            } else {
                change
            });
        }
    }
    for (role, have) in &obs.target_groups {
        if !target_groups.contains_key(role) {
            changes.push(Change::new(
                address::target_group(*role),
                Action::Delete,
                vec![FieldDiff::removed("name", &have.tg.name)],
                NetStep::DeleteTargetGroup {
                    arn: have.tg.arn.clone(),
                },
            ));
        }
    }
}

/// The listeners, forwarding to target groups by role.
fn plan_listeners(
    want: &Option<Desired>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    let listeners = want
        .as_ref()
        .map(|w| w.listeners.clone())
        .unwrap_or_default();
    let tg_arn = |role: &LbRole| obs.target_groups.get(role).map(|t| t.tg.arn.clone());
    for (role, listener) in &listeners {
        let addr = address::listener(*role);
        let action_label = |a: &DesiredAction| match a {
            DesiredAction::Forward(r) => {
                format!("forward to target_group[{}]", r.target_group_key())
            }
            DesiredAction::RedirectToHttps => "redirect to https".to_owned(),
        };
        match obs.listeners.get(role) {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                vec![
                    FieldDiff::added("port", listener.port),
                    FieldDiff::added("action", action_label(&listener.action)),
                ],
                NetStep::SyncListener {
                    role: *role,
                    arn: None,
                    listener: listener.clone(),
                },
            )),
            Some(have) => {
                let action_matches = match (&listener.action, &have.settings.action) {
                    (DesiredAction::Forward(r), ListenerAction::Forward { target_group_arn }) => {
                        tg_arn(r).as_ref() == Some(target_group_arn)
                    }
                    (DesiredAction::RedirectToHttps, ListenerAction::RedirectToHttps) => true,
                    _ => false,
                };
                let mut fields = Vec::new();
                if !action_matches {
                    fields.push(FieldDiff::changed(
                        "action",
                        format!("{:?}", have.settings.action),
                        action_label(&listener.action),
                    ));
                }
                if have.settings.protocol != listener.protocol
                    || have.settings.port != listener.port
                {
                    fields.push(FieldDiff::changed(
                        "listener",
                        format!("{} {}", have.settings.protocol, have.settings.port),
                        format!("{} {}", listener.protocol, listener.port),
                    ));
                }
                if have.settings.certificate_arn != listener.certificate_arn {
                    fields.push(FieldDiff::changed(
                        "certificate_arn",
                        &have.settings.certificate_arn,
                        &listener.certificate_arn,
                    ));
                }
                // AWS reports the default policy when none was asked for: only compare ours.
                if listener.ssl_policy.is_some() && have.settings.ssl_policy != listener.ssl_policy
                {
                    fields.push(FieldDiff::changed(
                        "ssl_policy",
                        &have.settings.ssl_policy,
                        &listener.ssl_policy,
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(addr));
                } else {
                    changes.push(Change::new(
                        addr,
                        Action::Update,
                        fields,
                        NetStep::SyncListener {
                            role: *role,
                            arn: Some(have.arn.clone()),
                            listener: listener.clone(),
                        },
                    ));
                }
            }
        }
    }
    for (role, have) in &obs.listeners {
        if !listeners.contains_key(role) {
            changes.push(Change::new(
                address::listener(*role),
                Action::Delete,
                vec![FieldDiff::removed("port", have.settings.port)],
                NetStep::DeleteListener {
                    arn: have.arn.clone(),
                },
            ));
        }
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

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    /// Creates, updates or deletes a load balancer, a target group or a listener.
    pub(crate) async fn run_load_balancing_step(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        let addr = &change.address;
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        let vpc = || ids.vpc.clone().ok_or_else(|| missing(addr, "the VPC"));
        let mut created = Vec::new();
        match step {
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
            other => unreachable!("not a load balancing step: {other:?}"),
        }
        Ok(created)
    }
}
