//! The VPC family: the VPC and its DNS attributes, the internet gateway and the subnets —
//! what the spec wants of them, the changes to get there, and the steps that make them.

use std::collections::BTreeMap;

use berth_core::{Action, Change, ComponentError, FieldDiff, FieldValue, Reporter, Stack};

use crate::api::*;
use crate::component::{apply_err, missing, Created, Ids, Network};
use crate::observe::NetworkObserved;
use crate::plan::NetStep;
use crate::{address, NetworkSpec, Tier, COMPONENT};

/// The VPC, its internet gateway and its subnets.
pub(crate) fn plan_vpc(spec: Option<&NetworkSpec>, obs: &NetworkObserved) -> Vec<Change<NetStep>> {
    let mut changes = Vec::new();
    plan_the_vpc(spec, obs, &mut changes);
    plan_internet_gateway(spec, obs, &mut changes);
    plan_subnets(spec, obs, &mut changes);
    changes
}

/// Refuses a change that would need everything in the VPC rebuilt.
fn refuse_move(change: Change<NetStep>, what: &str) -> Change<NetStep> {
    change.refuse(format!(
        "{what} cannot change in place: every resource in it would have to be rebuilt; \
         take the stack down first (`cargo xtask down`) or keep the old value"
    ))
}

/// The VPC: its CIDR is fixed, its DNS attributes are kept on.
fn plan_the_vpc(
    spec: Option<&NetworkSpec>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    match (spec, &obs.vpc) {
        (Some(spec), None) => changes.push(Change::new(
            address::vpc(),
            Action::Create,
            vec![
                FieldDiff::added("cidr", spec.vpc_cidr.to_string()),
                FieldDiff::added("dns", true),
            ],
            NetStep::CreateVpc {
                cidr: spec.vpc_cidr.to_string(),
            },
        )),
        (Some(spec), Some(vpc)) => {
            if vpc.detail.cidr != spec.vpc_cidr.to_string() {
                changes.push(refuse_move(
                    Change::new(
                        address::vpc(),
                        Action::Replace,
                        vec![FieldDiff::changed(
                            "cidr",
                            &vpc.detail.cidr,
                            spec.vpc_cidr.to_string(),
                        )],
                        NetStep::SetVpcDns {
                            vpc_id: vpc.id.clone(),
                        },
                    ),
                    "the VPC CIDR",
                ));
            } else if obs.vpc_dns != (true, true) {
                changes.push(Change::new(
                    address::vpc(),
                    Action::Update,
                    vec![FieldDiff::changed(
                        "dns",
                        [obs.vpc_dns.0, obs.vpc_dns.1],
                        [true, true],
                    )],
                    NetStep::SetVpcDns {
                        vpc_id: vpc.id.clone(),
                    },
                ));
            } else {
                changes.push(Change::no_op(address::vpc()));
            }
        }
        (None, Some(vpc)) => changes.push(Change::new(
            address::vpc(),
            Action::Delete,
            vec![FieldDiff::removed("id", &vpc.id)],
            NetStep::DeleteVpc {
                vpc_id: vpc.id.clone(),
            },
        )),
        (None, None) => {}
    }
}

/// The internet gateway, attached to the VPC.
fn plan_internet_gateway(
    spec: Option<&NetworkSpec>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    match (spec, &obs.internet_gateway) {
        (Some(_), None) => changes.push(Change::new(
            address::internet_gateway(),
            Action::Create,
            vec![],
            NetStep::CreateInternetGateway,
        )),
        (Some(_), Some(igw)) => {
            let vpc_id = obs.vpc.as_ref().map(|v| v.id.clone());
            if igw.detail.attached_vpc.is_some() && igw.detail.attached_vpc == vpc_id {
                changes.push(Change::no_op(address::internet_gateway()));
            } else {
                changes.push(Change::new(
                    address::internet_gateway(),
                    Action::Update,
                    vec![FieldDiff::new(
                        "attached_to",
                        igw.detail.attached_vpc.as_ref().map(FieldValue::of),
                        Some(FieldValue::of("vpc")),
                    )],
                    NetStep::AttachInternetGateway {
                        igw_id: igw.id.clone(),
                    },
                ));
            }
        }
        (None, Some(igw)) => changes.push(Change::new(
            address::internet_gateway(),
            Action::Delete,
            vec![FieldDiff::removed("id", &igw.id)],
            NetStep::DeleteInternetGateway {
                igw_id: igw.id.clone(),
                attached_vpc: igw.detail.attached_vpc.clone(),
            },
        )),
        (None, None) => {}
    }
}

/// A subnet per tier and AZ; their CIDRs are fixed.
fn plan_subnets(
    spec: Option<&NetworkSpec>,
    obs: &NetworkObserved,
    changes: &mut Vec<Change<NetStep>>,
) {
    let mut wanted_subnets: BTreeMap<(Tier, String), String> = BTreeMap::new();
    if let Some(spec) = spec {
        for (t, tier) in Tier::ALL.into_iter().enumerate() {
            for (az, cidr) in spec.azs.iter().zip(&spec.subnets[t]) {
                wanted_subnets.insert((tier, az.clone()), cidr.to_string());
            }
        }
    }
    for ((tier, az), cidr) in &wanted_subnets {
        let addr = address::subnet(*tier, az);
        match obs.subnets.get(&(*tier, az.clone())) {
            None => changes.push(Change::new(
                addr,
                Action::Create,
                vec![FieldDiff::added("cidr", cidr), FieldDiff::added("az", az)],
                NetStep::CreateSubnet {
                    tier: *tier,
                    az: az.clone(),
                    cidr: cidr.clone(),
                },
            )),
            Some(have) if &have.detail.cidr != cidr || &have.detail.az != az => {
                changes.push(refuse_move(
                    Change::new(
                        addr,
                        Action::Replace,
                        vec![FieldDiff::changed("cidr", &have.detail.cidr, cidr)],
                        NetStep::DeleteSubnet {
                            subnet_id: have.id.clone(),
                        },
                    ),
                    "a subnet's CIDR",
                ))
            }
            Some(_) => changes.push(Change::no_op(addr)),
        }
    }
    for ((tier, az), have) in &obs.subnets {
        if !wanted_subnets.contains_key(&(*tier, az.clone())) {
            changes.push(Change::new(
                address::subnet(*tier, az),
                Action::Delete,
                vec![FieldDiff::removed("cidr", &have.detail.cidr)],
                NetStep::DeleteSubnet {
                    subnet_id: have.id.clone(),
                },
            ));
        }
    }
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    /// Creates, configures or deletes the VPC, its internet gateway or a subnet.
    pub(crate) async fn run_vpc_step(
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
            NetStep::CreateVpc { cidr } => {
                let id = self
                    .ec2
                    .create_vpc(cidr, &tags(&stack.resource_name("vpc")))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.ec2
                    .set_vpc_dns(&id, true, true)
                    .await
                    .map_err(apply_err("configuring", addr))?;
                created.push(Created::Vpc(id));
            }
            NetStep::SetVpcDns { vpc_id } => {
                self.ec2
                    .set_vpc_dns(vpc_id, true, true)
                    .await
                    .map_err(apply_err("configuring", addr))?;
            }
            NetStep::CreateInternetGateway => {
                let vpc = vpc()?;
                let id = self
                    .ec2
                    .create_internet_gateway(&tags(&stack.resource_name("igw")))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.ec2
                    .attach_internet_gateway(&id, &vpc)
                    .await
                    .map_err(apply_err("attaching", addr))?;
                created.push(Created::Igw(id));
            }
            NetStep::AttachInternetGateway { igw_id } => {
                self.ec2
                    .attach_internet_gateway(igw_id, &vpc()?)
                    .await
                    .map_err(apply_err("attaching", addr))?;
            }
            NetStep::CreateSubnet { tier, az, cidr } => {
                let name = stack.resource_name(&format!("{}-{az}", tier.as_str()));
                let id = self
                    .ec2
                    .create_subnet(&vpc()?, cidr, az, &tags(&name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                created.push(Created::Subnet(*tier, az.clone(), id));
            }
            NetStep::DeleteInternetGateway {
                igw_id,
                attached_vpc,
            } => {
                if let Some(vpc) = attached_vpc {
                    self.delete_when_free(addr, reporter, || {
                        self.ec2.detach_internet_gateway(igw_id, vpc)
                    })
                    .await?;
                }
                self.delete_when_free(addr, reporter, || self.ec2.delete_internet_gateway(igw_id))
                    .await?;
            }
            NetStep::DeleteSubnet { subnet_id } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_subnet(subnet_id))
                    .await?;
            }
            NetStep::DeleteVpc { vpc_id } => {
                self.delete_when_free(addr, reporter, || self.ec2.delete_vpc(vpc_id))
                    .await?;
            }
            other => unreachable!("not a VPC step: {other:?}"),
        }
        Ok(created)
    }
}
