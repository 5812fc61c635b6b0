//! Observe: one list call per resource type where the API has one, all at once; only what
//! carries the stack's `berth:stack` tag is kept (a list filter is a hint, never trusted).
//! Resources are keyed by the key of their `berth:address` tag (pool, service, secret).

use std::collections::BTreeMap;

use berth_core::stack::TAG_ADDRESS;
use berth_core::{ComponentError, Stack};
use futures::future::try_join_all;

use crate::api::{
    AppScalingApi, AutoScalingApi, CloudMapApi, CloudWatchApi, EcsApi, IamApi, LaunchTemplateApi,
    SecretsApi, SnsApi, SsmApi, TagMap,
};
use crate::component::{ComputeObserved, Facades};
use crate::names::Names;
use crate::{
    Architecture, ClusterOutput, ComputeOutputs, GeneratedSecret, PoolOutput, RolesOutput,
    ServiceOutput, COMPONENT,
};

/// The key of a compute resource's `berth:address` tag of `kind`: `compute.kind[key]` → `key`.
pub(crate) fn address_key(tags: &TagMap, kind: &str) -> Option<String> {
    let address = tags.get(TAG_ADDRESS)?;
    let rest = address.strip_prefix(&format!("{COMPONENT}.{kind}["))?;
    rest.strip_suffix(']').map(str::to_owned)
}

fn keyed<T>(
    stack: &Stack,
    items: Vec<T>,
    kind: &str,
    tags: impl Fn(&T) -> &TagMap,
) -> BTreeMap<String, T> {
    items
        .into_iter()
        .filter(|i| stack.owns(COMPONENT, tags(i)))
        .filter_map(|i| address_key(tags(&i), kind).map(|k| (k, i)))
        .collect()
}

pub(crate) async fn observe<F: Facades>(
    apis: &F,
    stack: &Stack,
) -> Result<ComputeObserved, ComponentError> {
    let names = Names::new(stack);
    let cluster_name = names.cluster();
    let observe = ComponentError::observe;
    let ami_names: Vec<String> = [Architecture::X86_64, Architecture::Arm64]
        .iter()
        .map(|a| a.ami_parameter().to_owned())
        .collect();

    let (roles, profiles, secrets, templates, groups, providers, cluster, services) = tokio::try_join!(
        async {
            apis.iam()
                .roles(&names.iam_path())
                .await
                .map_err(observe("IAM roles"))
        },
        async {
            apis.iam()
                .instance_profiles(&names.iam_path())
                .await
                .map_err(observe("instance profiles"))
        },
        async {
            apis.secrets()
                .secrets(&names.secret_prefix())
                .await
                .map_err(observe("secrets"))
        },
        async {
            apis.launch_templates()
                .launch_templates(stack.name().as_str())
                .await
                .map_err(observe("launch templates"))
        },
        async {
            apis.auto_scaling()
                .groups(stack.name().as_str())
                .await
                .map_err(observe("auto scaling groups"))
        },
        async {
            apis.ecs()
                .capacity_providers()
                .await
                .map_err(observe("capacity providers"))
        },
        async {
            apis.ecs()
                .cluster(&cluster_name)
                .await
                .map_err(observe("ECS cluster"))
        },
        async {
            apis.ecs()
                .services(&cluster_name)
                .await
                .map_err(observe("ECS services"))
        },
    )?;
    let (discovery, targets, policies, alarms, topic, amis) = tokio::try_join!(
        async {
            apis.cloud_map()
                .services(&names.discovery_description())
                .await
                .map_err(observe("Cloud Map services"))
        },
        async {
            apis.app_scaling()
                .scalable_targets(&names.scaling_resource_prefix())
                .await
                .map_err(observe("scalable targets"))
        },
        async {
            apis.app_scaling()
                .scaling_policies(&names.scaling_resource_prefix())
                .await
                .map_err(observe("scaling policies"))
        },
        async {
            apis.cloudwatch()
                .alarms(&names.alarm_prefix())
                .await
                .map_err(observe("alarms"))
        },
        async {
            apis.sns()
                .topic(&names.alarm_topic())
                .await
                .map_err(observe("alarm topic"))
        },
        async {
            apis.ssm()
                .parameters(&ami_names)
                .await
                .map_err(observe("ECS AMI parameters"))
        },
    )?;

    let services = keyed(stack, services, "service", |s| &s.tags);
    // There is no list of task definitions by tag: read the revision each service runs.
    let task_definitions = try_join_all(services.iter().map(|(key, s)| async move {
        apis.ecs()
            .task_definition(&s.task_definition_arn)
            .await
            .map(|td| (key.clone(), td))
    }))
    .await
    .map_err(observe("task definitions"))?
    .into_iter()
    .collect();

    let service_of = |resource_id: &str| {
        resource_id
            .strip_prefix(&names.scaling_resource_prefix())
            .map(str::to_owned)
    };
    let mut scaling_policies: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in policies {
        if let Some(service) = service_of(&p.resource_id) {
            scaling_policies.entry(service).or_default().push(p);
        }
    }
    for list in scaling_policies.values_mut() {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }

    Ok(ComputeObserved {
        roles: roles
            .into_iter()
            .filter(|r| stack.owns(COMPONENT, &r.tags))
            .map(|r| (r.name.clone(), r))
            .collect(),
        instance_profile: profiles
            .into_iter()
            .find(|p| stack.owns(COMPONENT, &p.tags) && p.name == names.instance_profile()),
        secrets: secrets
            .into_iter()
            .filter(|s| stack.owns(COMPONENT, &s.tags))
            .filter_map(|s| {
                let secret = GeneratedSecret::ALL
                    .into_iter()
                    .find(|g| s.name == names.secret(*g))?;
                Some((secret, s))
            })
            .collect(),
        launch_templates: keyed(stack, templates, "launch_template", |t| &t.tags),
        groups: keyed(stack, groups, "auto_scaling_group", |g| &g.tags),
        capacity_providers: keyed(
            stack,
            providers
                .into_iter()
                .filter(|p| p.status != "INACTIVE")
                .collect(),
            "capacity_provider",
            |p| &p.tags,
        ),
        cluster: cluster.filter(|c| stack.owns(COMPONENT, &c.tags) && c.status != "INACTIVE"),
        discovery: keyed(stack, discovery, "discovery_service", |d| &d.tags),
        services,
        task_definitions,
        scalable_targets: targets
            .into_iter()
            .filter_map(|t| service_of(&t.resource_id).map(|s| (s, t)))
            .collect(),
        scaling_policies,
        alarms: keyed(stack, alarms, "cpu_alarm", |a| &a.tags),
        topic: topic.filter(|t| stack.owns(COMPONENT, &t.tags)),
        amis: [Architecture::X86_64, Architecture::Arm64]
            .into_iter()
            .filter_map(|a| amis.get(a.ami_parameter()).map(|id| (a, id.clone())))
            .collect(),
    })
}

pub(crate) fn outputs(stack: &Stack, observed: &ComputeObserved) -> ComputeOutputs {
    let names = Names::new(stack);
    let role_arn = |name: String| observed.roles.get(&name).map(|r| r.arn.clone());
    ComputeOutputs {
        cluster: observed.cluster.as_ref().map(|c| ClusterOutput {
            name: c.name.clone(),
            arn: c.arn.clone(),
        }),
        services: observed
            .services
            .iter()
            .map(|(key, s)| {
                let td = observed.task_definitions.get(key);
                let image = td
                    .map(|t| t.definition.container.image.clone())
                    .filter(|image| {
                        // The bare repository URI is "not released yet".
                        image.contains('@')
                            || image
                                .rsplit('/')
                                .next()
                                .is_some_and(|last| last.contains(':'))
                    });
                (
                    key.clone(),
                    ServiceOutput {
                        name: s.name.clone(),
                        arn: s.arn.clone(),
                        desired_count: s.desired_count,
                        running_count: s.running_count,
                        task_definition_arn: s.task_definition_arn.clone(),
                        task_definition_revision: td.map(|t| t.revision),
                        image,
                    },
                )
            })
            .collect(),
        pools: observed
            .groups
            .iter()
            .map(|(pool, g)| {
                (
                    pool.clone(),
                    PoolOutput {
                        group_name: g.name.clone(),
                        capacity_provider: observed
                            .capacity_providers
                            .get(pool)
                            .map(|p| p.name.clone()),
                        instances_in_service: g
                            .instances
                            .iter()
                            .filter(|i| i.lifecycle_state == "InService")
                            .count() as u32,
                    },
                )
            })
            .collect(),
        roles: RolesOutput {
            instance: role_arn(names.instance_role()),
            executions: observed
                .services
                .keys()
                .filter_map(|s| role_arn(names.execution_role(s)).map(|arn| (s.clone(), arn)))
                .collect(),
            tasks: observed
                .services
                .keys()
                .filter_map(|s| role_arn(names.task_role(s)).map(|arn| (s.clone(), arn)))
                .collect(),
        },
        alarm_topic_arn: observed.topic.as_ref().map(|t| t.arn.clone()),
        secrets: observed
            .secrets
            .iter()
            .map(|(k, s)| (*k, s.arn.clone()))
            .collect(),
    }
}
