//! The security family: the load balancers', the app's and the database's security groups and
//! their ingress rules — what the spec wants of them, the changes to get there, and the steps
//! that make them.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{Action, AwsResultExt, Change, ComponentError, FieldDiff, Reporter, Stack};
use ipnet::Ipv4Net;

use crate::api::*;
use crate::component::{apply_err, missing, Created, Ids, NetPhase, Network};
use crate::observe::NetworkObserved;
use crate::plan::{Desired, NetStep};
use crate::{address, NetworkSpec, SgRole, COMPONENT, EPMD_PORT};

/// Where a desired rule admits traffic from, by role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceRef {
    Cidr(Ipv4Net),
    Group(SgRole),
}

/// A desired ingress rule (tcp).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DesiredRule {
    pub from_port: u16,
    pub to_port: u16,
    pub source: SourceRef,
    pub description: String,
}

/// A security group's name: `<stack>-lb`, `<stack>-app`, `<stack>-db`.
pub(crate) fn sg_name(stack: &Stack, role: SgRole) -> String {
    stack.resource_name(role.key())
}

/// The rules of every group: who reaches the load balancers, the app and the database.
pub(crate) fn desired_rules(spec: &NetworkSpec) -> BTreeMap<SgRole, BTreeSet<DesiredRule>> {
    let sec = &spec.security;
    let mut rules: BTreeMap<SgRole, BTreeSet<DesiredRule>> = SgRole::ALL
        .into_iter()
        .map(|r| (r, BTreeSet::new()))
        .collect();
    let rule = |from, to, source, description: &str| DesiredRule {
        from_port: from,
        to_port: to,
        source,
        description: description.to_owned(),
    };
    let lb = rules.get_mut(&SgRole::LoadBalancer).expect("all roles");
    for cidr in &sec.ingress_cidrs {
        if spec.load_balancer.is_some() {
            lb.insert(rule(
                80,
                80,
                SourceRef::Cidr(*cidr),
                "HTTP from the internet",
            ));
            lb.insert(rule(
                443,
                443,
                SourceRef::Cidr(*cidr),
                "HTTPS from the internet",
            ));
        }
        if let Some(nlb) = &spec.websocket_load_balancer {
            lb.insert(rule(
                nlb.listener_port,
                nlb.listener_port,
                SourceRef::Cidr(*cidr),
                "websockets from the internet",
            ));
        }
    }
    let app = rules.get_mut(&SgRole::App).expect("all roles");
    app.insert(rule(
        sec.container_port,
        sec.container_port,
        SourceRef::Group(SgRole::LoadBalancer),
        "app port from the load balancers",
    ));
    if let Some(nlb) = &spec.websocket_load_balancer {
        app.insert(rule(
            nlb.target_port,
            nlb.target_port,
            SourceRef::Group(SgRole::LoadBalancer),
            "websocket port from the load balancers",
        ));
    }
    app.insert(rule(
        EPMD_PORT,
        EPMD_PORT,
        SourceRef::Group(SgRole::App),
        "epmd between app tasks",
    ));
    app.insert(rule(
        sec.erlang_ports.from,
        sec.erlang_ports.to,
        SourceRef::Group(SgRole::App),
        "Erlang distribution between app tasks",
    ));
    rules
        .get_mut(&SgRole::Database)
        .expect("all roles")
        .insert(rule(
            sec.database_port,
            sec.database_port,
            SourceRef::Group(SgRole::App),
            "database from the app",
        ));
    // One rule per (ports, source): a second purpose for the same opening adds nothing.
    for set in rules.values_mut() {
        let mut seen = BTreeSet::new();
        set.retain(|r| seen.insert((r.from_port, r.to_port, r.source.clone())));
    }
    rules
}

fn rule_label(rule: &DesiredRule) -> String {
    let ports = if rule.from_port == rule.to_port {
        rule.from_port.to_string()
    } else {
        format!("{}-{}", rule.from_port, rule.to_port)
    };
    let source = match &rule.source {
        SourceRef::Cidr(c) => c.to_string(),
        SourceRef::Group(r) => format!("sg:{}", r.key()),
    };
    format!("tcp {ports} from {source}")
}

fn observed_rule_label(rule: &ObservedRule, groups: &BTreeMap<String, SgRole>) -> String {
    let ports = if rule.from_port == rule.to_port {
        rule.from_port.to_string()
    } else {
        format!("{}-{}", rule.from_port, rule.to_port)
    };
    let source = match &rule.source {
        Some(RuleSource::Cidr(c)) => c.to_string(),
        Some(RuleSource::Group(id)) => match groups.get(id) {
            Some(role) => format!("sg:{}", role.key()),
            None => id.clone(),
        },
        None => "(other)".into(),
    };
    let protocol = if rule.protocol == "-1" {
        "all"
    } else {
        rule.protocol.as_str()
    };
    format!("{protocol} {ports} from {source}")
}

/// The security groups, their rules reconciled one by one.
pub(crate) fn plan_security(want: &Option<Desired>, obs: &NetworkObserved) -> Vec<Change<NetStep>> {
    let mut changes = Vec::new();
    let groups_by_id: BTreeMap<String, SgRole> = obs
        .security_groups
        .iter()
        .map(|(role, g)| (g.id.clone(), *role))
        .collect();

    let wanted_rules = want.as_ref().map(|w| w.rules.clone()).unwrap_or_default();
    for (role, rules) in &wanted_rules {
        let addr = address::security_group(*role);
        let have = obs.security_groups.get(role);
        let existing = obs.ingress.get(role).cloned().unwrap_or_default();
        let matches = |want: &DesiredRule, have: &ObservedRule| {
            have.protocol == "tcp"
                && have.from_port == i32::from(want.from_port)
                && have.to_port == i32::from(want.to_port)
                && match (&want.source, &have.source) {
                    (SourceRef::Cidr(a), Some(RuleSource::Cidr(b))) => a == b,
                    (SourceRef::Group(role), Some(RuleSource::Group(id))) => {
                        groups_by_id.get(id) == Some(role)
                    }
                    _ => false,
                }
        };
        let authorize: Vec<DesiredRule> = rules
            .iter()
            .filter(|w| !existing.iter().any(|h| matches(w, h)))
            .cloned()
            .collect();
        let extra: Vec<&ObservedRule> = existing
            .iter()
            .filter(|h| !rules.iter().any(|w| matches(w, h)))
            .collect();
        let mut fields: Vec<FieldDiff> = authorize
            .iter()
            .map(|r| FieldDiff::added("ingress", rule_label(r)))
            .collect();
        fields.extend(
            extra
                .iter()
                .map(|r| FieldDiff::removed("ingress", observed_rule_label(r, &groups_by_id))),
        );
        let revoke = extra.iter().map(|r| r.id.clone()).collect();
        match have {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                fields,
                NetStep::SyncSecurityGroup {
                    role: *role,
                    group_id: None,
                    authorize,
                    revoke,
                },
            )),
            Some(_) if fields.is_empty() => changes.push(Change::no_op(addr)),
            Some(g) => changes.push(Change::new(
                addr,
                Action::Update,
                fields,
                NetStep::SyncSecurityGroup {
                    role: *role,
                    group_id: Some(g.id.clone()),
                    authorize,
                    revoke,
                },
            )),
        }
    }
    for (role, have) in &obs.security_groups {
        if !wanted_rules.contains_key(role) {
            changes.push(Change::new(
                address::security_group(*role),
                Action::Delete,
                vec![FieldDiff::removed("id", &have.id)],
                NetStep::DeleteSecurityGroup {
                    role: *role,
                    group_id: have.id.clone(),
                },
            ));
        }
    }
    changes
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    /// Creates a security group (in the first of its phases) and syncs its rules (in the second), or deletes it.
    pub(crate) async fn run_security_step(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        phase: NetPhase,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        let addr = &change.address;
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        let vpc = || ids.vpc.clone().ok_or_else(|| missing(addr, "the VPC"));
        let mut created = Vec::new();
        match step {
            NetStep::SyncSecurityGroup {
                role,
                group_id,
                authorize,
                revoke,
            } => {
                if phase == NetPhase::InVpc {
                    if group_id.is_none() {
                        let name = sg_name(stack, *role);
                        let description = match role {
                            SgRole::LoadBalancer => "berth: the load balancers",
                            SgRole::App => "berth: the app's tasks",
                            SgRole::Database => "berth: the database",
                        };
                        let id = self
                            .ec2
                            .create_security_group(&vpc()?, &name, description, &tags(&name))
                            .await
                            .map_err(apply_err("creating", addr))?;
                        created.push(Created::SecurityGroup(*role, id));
                    }
                    return Ok(created);
                }
                let group = ids
                    .security_groups
                    .get(role)
                    .cloned()
                    .ok_or_else(|| missing(addr, "the group itself"))?;
                if !revoke.is_empty() {
                    self.ec2
                        .revoke_ingress(&group, revoke.clone())
                        .await
                        .ok_if_not_found()
                        .map_err(apply_err("revoking rules of", addr))?;
                }
                if !authorize.is_empty() {
                    let rules = authorize
                        .iter()
                        .map(|rule| {
                            let source = match &rule.source {
                                SourceRef::Cidr(cidr) => RuleSource::Cidr(*cidr),
                                SourceRef::Group(other) => RuleSource::Group(
                                    ids.security_groups.get(other).cloned().ok_or_else(|| {
                                        missing(addr, &format!("security group {}", other.key()))
                                    })?,
                                ),
                            };
                            Ok(IngressRule {
                                from_port: rule.from_port,
                                to_port: rule.to_port,
                                source,
                                description: rule.description.clone(),
                            })
                        })
                        .collect::<Result<Vec<_>, ComponentError>>()?;
                    match self.ec2.authorize_ingress(&group, rules).await {
                        Err(err) if err.code.as_deref() == Some("InvalidPermission.Duplicate") => {
                            Ok(())
                        }
                        other => other,
                    }
                    .map_err(apply_err("authorizing rules of", addr))?;
                }
            }
            NetStep::DeleteSecurityGroup { group_id, .. } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_security_group(group_id))
                    .await?;
            }
            other => unreachable!("not a security group step: {other:?}"),
        }
        Ok(created)
    }
}
