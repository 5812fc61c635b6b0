//! IAM, least privilege: the instance role and profile (EC2 pools), and per service a task
//! execution role (pull from its repository, write its log group, read exactly the secrets its
//! task definition references) and a task role (empty unless the config adds statements).
//! Policies are reconciled like everything else: a document edited by hand is drift.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{Action, AwsResultExt, Change, ComponentError, FieldDiff, Known};
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::{IamApi, ObservedInstanceProfile, ObservedRole};
use crate::component::{resolve_generated, ApplyCtx, ComputeStep, Facades, Made, PlanCtx, Record};
use crate::diff;
use crate::names::{address, RoleKind};
use crate::{Phase, ServiceSpec, COMPONENT};

/// The managed policies of the instance role: the ECS agent's, and Session Manager's (no SSH
/// keys: a shell is `aws ssm start-session`).
pub const INSTANCE_MANAGED_POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
];

/// The inline policy's name on execution and task roles.
pub const INLINE_POLICY: &str = "berth";

/// EC2 may assume the instance role.
pub fn instance_trust_policy() -> Value {
    trust("ec2.amazonaws.com")
}

/// ECS tasks may assume execution and task roles.
pub fn task_trust_policy() -> Value {
    trust("ecs-tasks.amazonaws.com")
}

fn trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The execution role's policy for one service, from the ARNs of what its task definition
/// references. Secrets Manager references may carry a JSON key suffix
/// (`…:secret:name-AbCdEf:url::`); the policy names the secret itself.
pub fn execution_policy(
    repository_arn: &str,
    log_group_arn: &str,
    secret_arns: &BTreeSet<String>,
    kms_key_arns: &[String],
) -> Value {
    let mut statements = vec![
        // GetAuthorizationToken has no resource-level permissions: AWS only accepts "*".
        // It is a read of a registry login token; the pulls themselves are scoped below.
        json!({
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*"
        }),
        json!({
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": repository_arn
        }),
        json!({
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("{}:log-stream:*", log_group_arn.trim_end_matches(":*"))
        }),
    ];
    let (mut secrets, mut parameters) = (BTreeSet::new(), BTreeSet::new());
    for arn in secret_arns {
        match arn.split(':').nth(2) {
            Some("ssm") => {
                parameters.insert(arn.clone());
            }
            _ => {
                secrets.insert(secret_resource(arn));
            }
        }
    }
    if !secrets.is_empty() {
        statements.push(json!({
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secrets.into_iter().collect::<Vec<_>>()
        }));
    }
    if !parameters.is_empty() {
        statements.push(json!({
            "Sid": "ReadParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameters",
            "Resource": parameters.into_iter().collect::<Vec<_>>()
        }));
    }
    if !kms_key_arns.is_empty() {
        statements.push(json!({
            "Sid": "DecryptSecrets",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arns
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A Secrets Manager ARN without a `:json-key:version-stage:version-id` suffix.
fn secret_resource(arn: &str) -> String {
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

/// The task role's policy: the config's statements, or none.
fn task_policy(statements: &[Value]) -> Option<Value> {
    (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
}

/// A role as berth wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredRole {
    pub name: String,
    pub trust_policy: Value,
    pub inline_policy: Option<Value>,
    pub managed_policy_arns: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RoleStep {
    /// Creates the role if absent and makes its policies match.
    Ensure { role: DesiredRole, exists: bool },
    /// Removes its policies, then the role.
    Delete { observed: ObservedRoleSummary },
}

/// What a role delete needs of what was observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedRoleSummary {
    pub name: String,
    pub inline_policies: Vec<String>,
    pub managed_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ProfileStep {
    Ensure {
        name: String,
        role: String,
        exists: bool,
    },
    Delete {
        name: String,
        roles: Vec<String>,
    },
}

/// The roles the spec wants, by kind.
pub(crate) fn desired_roles(ctx: &PlanCtx) -> BTreeMap<RoleKind, DesiredRole> {
    let mut roles = BTreeMap::new();
    if !ctx.spec.pools.is_empty() {
        roles.insert(
            RoleKind::Instance,
            DesiredRole {
                name: ctx.names.instance_role(),
                trust_policy: instance_trust_policy(),
                inline_policy: None,
                managed_policy_arns: INSTANCE_MANAGED_POLICIES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
        );
    }
    for (service, spec) in &ctx.spec.services {
        roles.insert(
            RoleKind::Execution(service.clone()),
            DesiredRole {
                name: ctx.names.execution_role(service),
                trust_policy: task_trust_policy(),
                inline_policy: Some(service_execution_policy(ctx, service, spec)),
                managed_policy_arns: BTreeSet::new(),
            },
        );
        roles.insert(
            RoleKind::Task(service.clone()),
            DesiredRole {
                name: ctx.names.task_role(service),
                trust_policy: task_trust_policy(),
                inline_policy: task_policy(&spec.task_role_statements),
                managed_policy_arns: BTreeSet::new(),
            },
        );
    }
    roles
}

fn service_execution_policy(ctx: &PlanCtx, service: &str, spec: &ServiceSpec) -> Value {
    let repository = known(ctx.inputs.repositories.get(&spec.repository), |r| {
        r.arn.clone()
    });
    let log_group = known(ctx.inputs.log_groups.get(&spec.log_group), |g| {
        g.arn.clone()
    });
    let secrets: BTreeSet<String> = ctx.secret_arns(service, spec).into_values().collect();
    execution_policy(&repository, &log_group, &secrets, &ctx.inputs.kms_key_arns)
}

/// An upstream value, or the plan's "(known after apply)".
pub(crate) fn known<T>(value: Option<&Known<T>>, f: impl FnOnce(&T) -> String) -> String {
    match value {
        Some(Known::Now(v)) => f(v),
        _ => berth_core::KNOWN_AFTER_APPLY.to_owned(),
    }
}

fn observed_view(role: &ObservedRole) -> DesiredRole {
    DesiredRole {
        name: role.name.clone(),
        trust_policy: role.trust_policy.clone(),
        inline_policy: role.inline_policies.get(INLINE_POLICY).cloned(),
        managed_policy_arns: role.managed_policy_arns.clone(),
    }
}

pub(crate) fn plan(ctx: &PlanCtx, changes: &mut Vec<Change<ComputeStep>>) {
    let desired = desired_roles(ctx);
    let mut wanted_names = BTreeSet::new();
    for (kind, role) in &desired {
        wanted_names.insert(role.name.clone());
        let address = address::role(kind);
        match ctx.observed.roles.get(&role.name) {
            None => changes.push(Change::new(
                address,
                Action::Create,
                diff::added("", role),
                ComputeStep::Role(RoleStep::Ensure {
                    role: role.clone(),
                    exists: false,
                }),
            )),
            Some(have) => {
                let mut fields = diff::diff("", &observed_view(have), role);
                // Inline policies berth does not write are drift too: they go.
                for extra in have.inline_policies.keys().filter(|k| *k != INLINE_POLICY) {
                    fields.push(FieldDiff::removed(
                        &format!("inline_policies.{extra}"),
                        extra,
                    ));
                }
                if fields.is_empty() {
                    changes.push(Change::no_op(address));
                } else {
                    changes.push(Change::new(
                        address,
                        Action::Update,
                        fields,
                        ComputeStep::Role(RoleStep::Ensure {
                            role: role.clone(),
                            exists: true,
                        }),
                    ));
                }
            }
        }
    }
    for (name, have) in &ctx.observed.roles {
        if wanted_names.contains(name) {
            continue;
        }
        let key = crate::observe::address_key(&have.tags, "role").unwrap_or_else(|| name.clone());
        changes.push(Change::new(
            berth_core::Address::new(COMPONENT, "role", &key),
            Action::Delete,
            vec![FieldDiff::removed("name", name)],
            ComputeStep::Role(RoleStep::Delete {
                observed: ObservedRoleSummary {
                    name: name.clone(),
                    inline_policies: have.inline_policies.keys().cloned().collect(),
                    managed_policy_arns: have.managed_policy_arns.iter().cloned().collect(),
                },
            }),
        ));
    }

    // The instance profile, with the instance role in it.
    let address = address::instance_profile();
    let name = ctx.names.instance_profile();
    let role = ctx.names.instance_role();
    match (&ctx.observed.instance_profile, ctx.spec.pools.is_empty()) {
        (None, false) => changes.push(Change::new(
            address,
            Action::Create,
            vec![
                FieldDiff::added("name", &name),
                FieldDiff::added("role", &role),
            ],
            ComputeStep::InstanceProfile(ProfileStep::Ensure {
                name,
                role,
                exists: false,
            }),
        )),
        (Some(have), false) => {
            if have.roles == [role.clone()] {
                changes.push(Change::no_op(address));
            } else {
                changes.push(Change::new(
                    address,
                    Action::Update,
                    vec![FieldDiff::changed("roles", &have.roles, [&role])],
                    ComputeStep::InstanceProfile(ProfileStep::Ensure {
                        name,
                        role,
                        exists: true,
                    }),
                ));
            }
        }
        (Some(have), true) => changes.push(delete_profile(have)),
        (None, true) => {}
    }
}

fn delete_profile(have: &ObservedInstanceProfile) -> Change<ComputeStep> {
    Change::new(
        address::instance_profile(),
        Action::Delete,
        vec![FieldDiff::removed("name", &have.name)],
        ComputeStep::InstanceProfile(ProfileStep::Delete {
            name: have.name.clone(),
            roles: have.roles.clone(),
        }),
    )
}

impl RoleStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            RoleStep::Ensure { .. } => vec![Phase::Roles],
            RoleStep::Delete { .. } => vec![Phase::DeleteRoles],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let iam = ctx.apis.iam();
        match self {
            RoleStep::Ensure { role, .. } => {
                let fail = |action| ComponentError::apply(action, ctx.address.clone());
                let observed = ctx.observed.roles.get(&role.name);
                let arn = match observed {
                    Some(have) => have.arn.clone(),
                    // Roles are created with the stack's tags and path, so one that exists
                    // unobserved is someone else's: the create fails and says so.
                    None => iam
                        .create_role(
                            &role.name,
                            &ctx.names.iam_path(),
                            &role.trust_policy,
                            &ctx.tags(&role.name),
                        )
                        .await
                        .map_err(fail("creating"))?,
                };
                let have = observed.map(observed_view);
                if have
                    .as_ref()
                    .is_some_and(|h| h.trust_policy != role.trust_policy)
                {
                    iam.update_trust_policy(&role.name, &role.trust_policy)
                        .await
                        .map_err(fail("updating"))?;
                }
                let have_inline = have.as_ref().and_then(|h| h.inline_policy.clone());
                let inline = match &role.inline_policy {
                    Some(doc) => {
                        let mut doc = doc.clone();
                        resolve_generated(&mut doc, made, ctx.address)?;
                        Some(doc)
                    }
                    None => None,
                };
                match &inline {
                    Some(doc) if have_inline.as_ref() != Some(doc) => iam
                        .put_role_policy(&role.name, INLINE_POLICY, doc)
                        .await
                        .map_err(fail("updating"))?,
                    None if have_inline.is_some() => iam
                        .delete_role_policy(&role.name, INLINE_POLICY)
                        .await
                        .ok_if_not_found()
                        .map_err(fail("updating"))?,
                    _ => {}
                }
                if let Some(have) = observed {
                    for extra in have.inline_policies.keys().filter(|k| *k != INLINE_POLICY) {
                        iam.delete_role_policy(&role.name, extra)
                            .await
                            .ok_if_not_found()
                            .map_err(fail("updating"))?;
                    }
                }
                let attached = have.map(|h| h.managed_policy_arns).unwrap_or_default();
                for arn in role.managed_policy_arns.difference(&attached) {
                    iam.attach_role_policy(&role.name, arn)
                        .await
                        .map_err(fail("updating"))?;
                }
                for arn in attached.difference(&role.managed_policy_arns) {
                    iam.detach_role_policy(&role.name, arn)
                        .await
                        .ok_if_not_found()
                        .map_err(fail("updating"))?;
                }
                Ok(vec![Record::Role(role.name.clone(), arn)])
            }
            RoleStep::Delete { observed } => {
                let fail = ComponentError::apply("deleting", ctx.address.clone());
                let result = async {
                    for policy in &observed.inline_policies {
                        iam.delete_role_policy(&observed.name, policy)
                            .await
                            .ok_if_not_found()?;
                    }
                    for arn in &observed.managed_policy_arns {
                        iam.detach_role_policy(&observed.name, arn)
                            .await
                            .ok_if_not_found()?;
                    }
                    iam.delete_role(&observed.name).await.ok_if_not_found()
                }
                .await;
                result.map_err(fail)?;
                Ok(vec![])
            }
        }
    }
}

impl ProfileStep {
    pub(crate) fn phases(&self) -> Vec<Phase> {
        match self {
            ProfileStep::Ensure { .. } => vec![Phase::InstanceProfile],
            ProfileStep::Delete { .. } => vec![Phase::DeleteInstanceProfile],
        }
    }

    pub(crate) async fn apply<F: Facades>(
        &self,
        ctx: &ApplyCtx<'_, F>,
        _made: &Made,
    ) -> Result<Vec<Record>, ComponentError> {
        let iam = ctx.apis.iam();
        match self {
            ProfileStep::Ensure { name, role, exists } => {
                let fail = |action| ComponentError::apply(action, ctx.address.clone());
                let current = ctx
                    .observed
                    .instance_profile
                    .as_ref()
                    .map(|p| p.roles.clone())
                    .unwrap_or_default();
                if !exists {
                    iam.create_instance_profile(name, &ctx.names.iam_path(), &ctx.tags(name))
                        .await
                        .map_err(fail("creating"))?;
                }
                for other in current.iter().filter(|r| *r != role) {
                    iam.remove_role_from_instance_profile(name, other)
                        .await
                        .ok_if_not_found()
                        .map_err(fail("updating"))?;
                }
                if !current.contains(role) {
                    // A profile holds one role; after an interrupted run it may hold it already.
                    iam.add_role_to_instance_profile(name, role)
                        .await
                        .or_else(|e| {
                            if e.code.as_deref() == Some("LimitExceeded") {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .map_err(fail("updating"))?;
                }
                Ok(vec![])
            }
            ProfileStep::Delete { name, roles } => {
                let fail = ComponentError::apply("deleting", ctx.address.clone());
                for role in roles {
                    iam.remove_role_from_instance_profile(name, role)
                        .await
                        .ok_if_not_found()
                        .map_err(|e| fail_clone(ctx.address, e))?;
                }
                iam.delete_instance_profile(name)
                    .await
                    .ok_if_not_found()
                    .map_err(fail)?;
                Ok(vec![])
            }
        }
    }
}

fn fail_clone(address: &berth_core::Address, e: berth_core::AwsError) -> ComponentError {
    ComponentError::apply("deleting", address.clone())(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_policy_names_each_resource() {
        let secrets: BTreeSet<String> = [
            "arn:aws:secretsmanager:us-east-2:1:secret:berth/prod/database/url-AbCdEf:url::"
                .to_owned(),
            "arn:aws:ssm:us-east-2:1:parameter/prod/cookie".to_owned(),
        ]
        .into();
        let policy = execution_policy(
            "arn:aws:ecr:us-east-2:1:repository/prod-web",
            "arn:aws:logs:us-east-2:1:log-group:/berth/prod/web:*",
            &secrets,
            &["arn:aws:kms:us-east-2:1:key/k".to_owned()],
        );
        let statements = policy["Statement"].as_array().unwrap();
        let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap().clone();
        assert_eq!(by_sid("EcrLogin")["Resource"], "*");
        assert_eq!(by_sid("EcrLogin")["Action"], "ecr:GetAuthorizationToken");
        assert_eq!(
            by_sid("PullImage")["Resource"],
            "arn:aws:ecr:us-east-2:1:repository/prod-web"
        );
        assert_eq!(
            by_sid("WriteLogs")["Resource"],
            "arn:aws:logs:us-east-2:1:log-group:/berth/prod/web:log-stream:*"
        );
        assert_eq!(
            by_sid("ReadSecrets")["Resource"],
            json!(["arn:aws:secretsmanager:us-east-2:1:secret:berth/prod/database/url-AbCdEf"])
        );
        assert_eq!(
            by_sid("ReadParameters")["Resource"],
            json!(["arn:aws:ssm:us-east-2:1:parameter/prod/cookie"])
        );
        assert_eq!(
            by_sid("DecryptSecrets")["Resource"],
            json!(["arn:aws:kms:us-east-2:1:key/k"])
        );
        // Only the registry login token is on "*", and it is not a write.
        for s in statements {
            if s["Resource"] == "*" {
                assert_eq!(s["Sid"], "EcrLogin");
            }
        }
    }

    #[test]
    fn without_secrets_there_is_no_secret_statement() {
        let policy = execution_policy("r", "g", &BTreeSet::new(), &[]);
        let sids: Vec<_> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].clone())
            .collect();
        assert_eq!(
            sids,
            [json!("EcrLogin"), json!("PullImage"), json!("WriteLogs")]
        );
    }

    #[test]
    fn trust_policies_name_their_service() {
        assert_eq!(
            instance_trust_policy()["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
        assert_eq!(
            task_trust_policy()["Statement"][0]["Principal"]["Service"],
            "ecs-tasks.amazonaws.com"
        );
    }
}
