//! The compute component: what was observed, the steps and their phases, and the
//! [`Component`] implementation tying the resource families together through `apply_phased`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{
    apply_phased, client_token, Address, Change, Component, ComponentError, Grants, Phased, Plan,
    Reporter, Stack, Tags, KNOWN_AFTER_APPLY,
};
use serde::Serialize;

use crate::api::{
    AppScalingApi, AutoScalingApi, CloudMapApi, CloudWatchApi, EcsApi, IamApi, LaunchTemplateApi,
    ObservedAlarm, ObservedCapacityProvider, ObservedCluster, ObservedDiscoveryService,
    ObservedGroup, ObservedInstanceProfile, ObservedLaunchTemplate, ObservedRole,
    ObservedScalableTarget, ObservedSecret, ObservedService, ObservedTaskDefinition, ObservedTopic,
    ScalingPolicy, SecretsApi, SnsApi, SsmApi,
};
use crate::names::Names;
use crate::{
    alarms, capacity, cluster, discovery, iam, scaling, secrets, service, task_definition,
    Architecture, ComputeInputs, ComputeOutputs, ComputeSpec, GeneratedSecret, ServiceSpec,
    COMPONENT,
};

/// The facades compute talks through: the SDK's in [`crate::aws::AwsFacades`], mocks in tests.
pub trait Facades: Send + Sync {
    type Ecs: EcsApi;
    type AutoScaling: AutoScalingApi;
    type LaunchTemplates: LaunchTemplateApi;
    type Iam: IamApi;
    type Ssm: SsmApi;
    type AppScaling: AppScalingApi;
    type CloudWatch: CloudWatchApi;
    type Sns: SnsApi;
    type Secrets: SecretsApi;
    type CloudMap: CloudMapApi;

    fn ecs(&self) -> &Self::Ecs;
    fn auto_scaling(&self) -> &Self::AutoScaling;
    fn launch_templates(&self) -> &Self::LaunchTemplates;
    fn iam(&self) -> &Self::Iam;
    fn ssm(&self) -> &Self::Ssm;
    fn app_scaling(&self) -> &Self::AppScaling;
    fn cloudwatch(&self) -> &Self::CloudWatch;
    fn sns(&self) -> &Self::Sns;
    fn secrets(&self) -> &Self::Secrets;
    fn cloud_map(&self) -> &Self::CloudMap;
}

/// How long teardown and rollout waits may take before they give up and say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A service scaled to zero until its tasks have stopped.
    pub service_drain: Duration,
    /// A deleted service until it is INACTIVE.
    pub service_delete: Duration,
    /// A deleted capacity provider until it is gone.
    pub capacity_provider_delete: Duration,
    /// A force-deleted group until its instances have terminated and it is gone.
    pub group_delete: Duration,
    /// A resource still in use by one being deleted (Cloud Map service, cluster).
    pub in_use: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            service_drain: Duration::from_secs(600),
            service_delete: Duration::from_secs(300),
            capacity_provider_delete: Duration::from_secs(300),
            group_delete: Duration::from_secs(900),
            in_use: Duration::from_secs(300),
        }
    }
}

/// The compute component over its facades.
#[derive(Debug, Clone)]
pub struct Compute<F> {
    apis: F,
    timeouts: Timeouts,
}

impl<F: Facades> Compute<F> {
    pub fn new(apis: F) -> Self {
        Self {
            apis,
            timeouts: Timeouts::default(),
        }
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn apis(&self) -> &F {
        &self.apis
    }
}

/// What exists of the stack's compute, each resource keyed by its pool, service or secret.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComputeObserved {
    /// Roles by name.
    pub roles: BTreeMap<String, ObservedRole>,
    pub instance_profile: Option<ObservedInstanceProfile>,
    pub secrets: BTreeMap<GeneratedSecret, ObservedSecret>,
    /// By pool.
    pub launch_templates: BTreeMap<String, ObservedLaunchTemplate>,
    pub groups: BTreeMap<String, ObservedGroup>,
    pub capacity_providers: BTreeMap<String, ObservedCapacityProvider>,
    pub cluster: Option<ObservedCluster>,
    /// By service.
    pub discovery: BTreeMap<String, ObservedDiscoveryService>,
    pub services: BTreeMap<String, ObservedService>,
    /// The revision each service runs.
    pub task_definitions: BTreeMap<String, ObservedTaskDefinition>,
    pub scalable_targets: BTreeMap<String, ObservedScalableTarget>,
    pub scaling_policies: BTreeMap<String, Vec<ScalingPolicy>>,
    pub alarms: BTreeMap<String, ObservedAlarm>,
    pub topic: Option<ObservedTopic>,
    /// The recommended ECS-optimized AMIs, by architecture, as the public parameters say now.
    pub amis: BTreeMap<Architecture, String>,
}

/// Which phase a step runs in: creation order first, then teardown in the order that never
/// hangs (services drained and gone before their capacity, protection lifted before groups go,
/// instances gone before the cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    Secrets,
    Roles,
    InstanceProfile,
    LaunchTemplates,
    Groups,
    Cluster,
    CapacityProviders,
    ClusterCapacityProviders,
    Discovery,
    TaskDefinitions,
    Services,
    Scaling,
    AlarmTopic,
    Alarms,
    // Teardown.
    DeleteAlarms,
    DeleteScaling,
    DrainServices,
    DeleteServices,
    DeleteDiscovery,
    DeregisterTaskDefinitions,
    DetachCapacityProviders,
    DeleteCapacityProviders,
    LiftScaleInProtection,
    DeleteGroups,
    DeregisterContainerInstances,
    DeleteCluster,
    DeleteLaunchTemplates,
    DeleteInstanceProfile,
    DeleteRoles,
    DeleteSecrets,
    DeleteAlarmTopic,
}

/// One change's instruction, by resource family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ComputeStep {
    Role(iam::RoleStep),
    InstanceProfile(iam::ProfileStep),
    Secret(secrets::SecretStep),
    LaunchTemplate(capacity::TemplateStep),
    Group(capacity::GroupStep),
    CapacityProvider(capacity::ProviderStep),
    Cluster(cluster::ClusterStep),
    ClusterCapacityProviders(cluster::AttachStep),
    Discovery(discovery::DiscoveryStep),
    TaskDefinition(task_definition::TaskDefinitionStep),
    Service(service::ServiceStep),
    Scaling(scaling::ScalingStep),
    AlarmTopic(alarms::TopicStep),
    Alarm(alarms::AlarmStep),
}

impl Phased for ComputeStep {
    type Phase = Phase;

    fn phases(&self) -> Vec<Phase> {
        match self {
            ComputeStep::Role(s) => s.phases(),
            ComputeStep::InstanceProfile(s) => s.phases(),
            ComputeStep::Secret(s) => s.phases(),
            ComputeStep::LaunchTemplate(s) => s.phases(),
            ComputeStep::Group(s) => s.phases(),
            ComputeStep::CapacityProvider(s) => s.phases(),
            ComputeStep::Cluster(s) => s.phases(),
            ComputeStep::ClusterCapacityProviders(s) => s.phases(),
            ComputeStep::Discovery(s) => s.phases(),
            ComputeStep::TaskDefinition(s) => s.phases(),
            ComputeStep::Service(s) => s.phases(),
            ComputeStep::Scaling(s) => s.phases(),
            ComputeStep::AlarmTopic(s) => s.phases(),
            ComputeStep::Alarm(s) => s.phases(),
        }
    }
}

/// What later phases need from earlier ones: ids and ARNs of what exists, seeded from what was
/// observed and completed with what the run creates.
#[derive(Debug, Clone, Default)]
pub(crate) struct Made {
    pub roles: BTreeMap<String, String>,
    pub secrets: BTreeMap<GeneratedSecret, String>,
    pub templates: BTreeMap<String, String>,
    pub groups: BTreeMap<String, String>,
    pub discovery: BTreeMap<String, String>,
    pub task_definitions: BTreeMap<String, String>,
    pub topic: Option<String>,
}

impl Made {
    fn from_observed(observed: &ComputeObserved) -> Self {
        Self {
            roles: observed
                .roles
                .values()
                .map(|r| (r.name.clone(), r.arn.clone()))
                .collect(),
            secrets: observed
                .secrets
                .iter()
                .map(|(k, s)| (*k, s.arn.clone()))
                .collect(),
            templates: observed
                .launch_templates
                .iter()
                .map(|(k, t)| (k.clone(), t.id.clone()))
                .collect(),
            groups: observed
                .groups
                .iter()
                .map(|(k, g)| (k.clone(), g.arn.clone()))
                .collect(),
            discovery: observed
                .discovery
                .iter()
                .map(|(k, d)| (k.clone(), d.arn.clone()))
                .collect(),
            task_definitions: observed
                .task_definitions
                .iter()
                .map(|(k, t)| (k.clone(), t.arn.clone()))
                .collect(),
            topic: observed.topic.as_ref().map(|t| t.arn.clone()),
        }
    }

    fn record(&mut self, record: Record) {
        match record {
            Record::Role(name, arn) => {
                self.roles.insert(name, arn);
            }
            Record::Secret(key, arn) => {
                self.secrets.insert(key, arn);
            }
            Record::Template(pool, id) => {
                self.templates.insert(pool, id);
            }
            Record::Group(pool, arn) => {
                self.groups.insert(pool, arn);
            }
            Record::Discovery(service, arn) => {
                self.discovery.insert(service, arn);
            }
            Record::TaskDefinition(service, arn) => {
                self.task_definitions.insert(service, arn);
            }
            Record::Topic(arn) => self.topic = Some(arn),
        }
    }
}

/// A value an earlier phase (or what was observed) must have made.
pub(crate) fn need<'m>(
    value: Option<&'m String>,
    address: &Address,
    what: impl Into<String>,
) -> Result<&'m String, ComponentError> {
    value.ok_or_else(|| ComponentError::missing(address, what))
}

/// What a step made, for the steps of later phases.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Role(String, String),
    Secret(GeneratedSecret, String),
    Template(String, String),
    Group(String, String),
    Discovery(String, String),
    TaskDefinition(String, String),
    Topic(String),
}

/// What a family's plan reads.
pub(crate) struct PlanCtx<'a> {
    pub names: Names<'a>,
    pub spec: &'a ComputeSpec,
    pub inputs: &'a ComputeInputs,
    pub observed: &'a ComputeObserved,
    #[allow(dead_code)]
    pub grants: &'a Grants,
}

impl PlanCtx<'_> {
    /// The secrets a service's task definition references: variable → ARN (or "known after
    /// apply" for what this run creates).
    pub fn secret_arns(&self, _service: &str, spec: &ServiceSpec) -> BTreeMap<String, String> {
        let mut secrets = spec.secrets.clone();
        if spec.database_url {
            if let Some(db) = &self.inputs.database_url {
                secrets.insert(
                    db.variable.clone(),
                    iam::known(Some(&db.secret_arn), Clone::clone),
                );
            }
        }
        for generated in &spec.generated_secrets {
            secrets.insert(
                generated.variable().to_owned(),
                self.observed
                    .secrets
                    .get(generated)
                    .map_or_else(|| generated_marker(*generated), |s| s.arn.clone()),
            );
        }
        secrets
    }
}

/// Where a plan holds the ARN of a secret this run generates; apply puts the ARN there.
pub(crate) fn generated_marker(secret: GeneratedSecret) -> String {
    format!("(ARN of the generated {}, after apply)", secret.key())
}

/// Replaces every generated-secret marker in `value` with the secret's ARN.
pub(crate) fn resolve_generated(
    value: &mut serde_json::Value,
    made: &Made,
    address: &Address,
) -> Result<(), ComponentError> {
    match value {
        serde_json::Value::String(text) => {
            if let Some(secret) = GeneratedSecret::ALL
                .into_iter()
                .find(|s| *text == generated_marker(*s))
            {
                *text = need(
                    made.secrets.get(&secret),
                    address,
                    format!("secret {}", secret.key()),
                )?
                .clone();
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                resolve_generated(item, made, address)?;
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                resolve_generated(item, made, address)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What a step's apply uses.
pub(crate) struct ApplyCtx<'a, F> {
    pub apis: &'a F,
    pub stack: &'a Stack,
    pub names: Names<'a>,
    pub observed: &'a ComputeObserved,
    pub address: &'a Address,
    pub reporter: &'a dyn Reporter,
    pub timeouts: Timeouts,
}

impl<F> ApplyCtx<'_, F> {
    /// The tags a resource of this change is created with.
    pub fn tags(&self, display_name: &str) -> Tags {
        self.stack.tags(COMPONENT, self.address, display_name)
    }

    pub fn client_token(&self, spec: &impl Serialize) -> String {
        client_token(self.stack, self.address, spec)
    }
}

/// The plan of the whole component: every family's changes.
pub fn plan(
    stack: &Stack,
    spec: &ComputeSpec,
    inputs: &ComputeInputs,
    observed: &ComputeObserved,
    grants: &Grants,
) -> Plan<ComputeStep> {
    let ctx = PlanCtx {
        names: Names::new(stack),
        spec,
        inputs,
        observed,
        grants,
    };
    let mut changes = Vec::new();
    iam::plan(&ctx, &mut changes);
    secrets::plan(&ctx, &mut changes);
    capacity::plan(&ctx, &mut changes);
    cluster::plan(&ctx, &mut changes);
    discovery::plan(&ctx, &mut changes);
    task_definition::plan(&ctx, &mut changes);
    service::plan(&ctx, &mut changes);
    scaling::plan(&ctx, &mut changes);
    alarms::plan(&ctx, &mut changes);
    Plan::new(changes)
}

/// Values a plan could not know yet; a step holding one is not applied.
const UNRESOLVED: [&str; 2] = [KNOWN_AFTER_APPLY, crate::capacity::AMI_NOT_FOUND];

fn unresolved(change: &Change<ComputeStep>, step: &ComputeStep) -> Option<ComponentError> {
    let text = serde_json::to_string(step).unwrap_or_default();
    UNRESOLVED.iter().find(|m| text.contains(*m)).map(|marker| {
        ComponentError::missing(
            &change.address,
            format!(
                "a value the plan had as {marker} (an input from another component, or the AMI)"
            ),
        )
    })
}

#[async_trait]
impl<F: Facades> Component for Compute<F> {
    type Spec = ComputeSpec;
    type Inputs = ComputeInputs;
    type Observed = ComputeObserved;
    type Step = ComputeStep;
    type Outputs = ComputeOutputs;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn observe(&self, stack: &Stack) -> Result<ComputeObserved, ComponentError> {
        crate::observe::observe(&self.apis, stack).await
    }

    fn plan(
        &self,
        stack: &Stack,
        spec: &ComputeSpec,
        inputs: &ComputeInputs,
        observed: &ComputeObserved,
        grants: &Grants,
    ) -> Plan<ComputeStep> {
        plan(stack, spec, inputs, observed, grants)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<ComputeStep>,
        observed: &ComputeObserved,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let apis = &self.apis;
        let timeouts = self.timeouts;
        apply_phased(
            plan,
            Made::from_observed(observed),
            reporter,
            |change, step, phase, made| {
                // The loop's futures may not borrow its arguments: each step gets its own copy.
                let (address, step, made) = (change.address.clone(), step.clone(), made.clone());
                let problem = unresolved(change, &step);
                async move {
                    if let Some(err) = problem {
                        return Err(err);
                    }
                    let step = &step;
                    let made = &made;
                    let ctx = ApplyCtx {
                        apis,
                        stack,
                        names: Names::new(stack),
                        observed,
                        address: &address,
                        reporter,
                        timeouts,
                    };
                    match step {
                        ComputeStep::Role(s) => s.apply(&ctx, made).await,
                        ComputeStep::InstanceProfile(s) => s.apply(&ctx, made).await,
                        ComputeStep::Secret(s) => s.apply(&ctx, made).await,
                        ComputeStep::LaunchTemplate(s) => s.apply(&ctx, made).await,
                        ComputeStep::Group(s) => s.apply(&ctx, phase, made).await,
                        ComputeStep::CapacityProvider(s) => s.apply(&ctx, made).await,
                        ComputeStep::Cluster(s) => s.apply(&ctx, phase, made).await,
                        ComputeStep::ClusterCapacityProviders(s) => s.apply(&ctx, made).await,
                        ComputeStep::Discovery(s) => s.apply(&ctx, made).await,
                        ComputeStep::TaskDefinition(s) => s.apply(&ctx, made).await,
                        ComputeStep::Service(s) => s.apply(&ctx, phase, made).await,
                        ComputeStep::Scaling(s) => s.apply(&ctx, made).await,
                        ComputeStep::AlarmTopic(s) => s.apply(&ctx, made).await,
                        ComputeStep::Alarm(s) => s.apply(&ctx, made).await,
                    }
                }
            },
            Made::record,
        )
        .await
        .map(|_| ())
    }

    fn outputs(&self, stack: &Stack, observed: &ComputeObserved) -> ComputeOutputs {
        crate::observe::outputs(stack, observed)
    }
}

#[cfg(test)]
mod tests;
