//! Composition: the stack's components as one dependency graph for the stack driver. Each
//! component is a node with its spec; a component that takes another's outputs names it as a
//! dependency and says how its inputs are made from those outputs. This file is the only place
//! that knows which components a stack has.
//!
//! Today's graph: network, logging and registry stand alone; the database depends on the
//! network (its data subnets and security group); compute depends on all four (subnets,
//! security group, target groups, namespace; repositories; log groups; the database's URL
//! secret).

use anyhow::{Context, Result};
use std::collections::BTreeMap;

use berth_compute::aws::{
    AppScaling, AutoScaling, AwsFacades, CloudMap as ComputeCloudMap, CloudWatch, Ecs, Iam,
    LaunchTemplates, SecretsManager as ComputeSecrets, Sns, Ssm,
};
use berth_compute::{
    Compute, ComputeInputs, ComputeOutputs, ComputeSpec, DatabaseUrlRef, LogGroupRef, NamespaceRef,
    RepositoryRef,
};
use berth_core::{Grants, Known, Node, Outputs, StackDriver};
use berth_database::aws::{Rds, SecretsManager};
use berth_database::{Database, DatabaseInputs, DatabaseOutputs, DatabaseSpec};
use berth_logging::aws::CloudWatchLogs;
use berth_logging::{Logging, LoggingOutputs, LoggingSpec};
use berth_network::aws::{CloudMap, Ec2, Elb};
use berth_network::{LbRole, Network, NetworkOutputs, NetworkSpec, SgRole, Tier};
use berth_registry::aws::Ecr;
use berth_registry::{Registry, RegistryOutputs, RegistrySpec};

use crate::aws::Clients;
use crate::config::StackConfig;

/// The desired state of every component. `Specs::default()` is the empty stack (`down`).
#[derive(Debug, Clone, Default)]
pub struct Specs {
    pub logging: LoggingSpec,
    pub registry: RegistrySpec,
    pub network: Option<NetworkSpec>,
    pub database: Option<DatabaseSpec>,
    pub compute: ComputeSpec,
}

impl Specs {
    /// What the config describes, completed with what only AWS knows (the region's AZs).
    /// Reads only; fails before anything changes when the region cannot hold the network.
    pub async fn resolve(config: &StackConfig, clients: &Clients) -> Result<Self> {
        let network = match &config.network {
            None => None,
            Some(network) => {
                let ec2 = Ec2::new(clients.ec2.clone());
                let azs = match berth_network::resolve_azs(&ec2, network.az_count).await {
                    Ok(azs) => azs,
                    // The region cannot hold what the config asks: a config problem, named by key.
                    Err(err @ berth_network::AzError::NotEnoughAzs { .. }) => {
                        return Err(anyhow::Error::new(err)
                            .context(format!("{}: network.az_count", config.path.display())))
                    }
                    Err(err) => {
                        return Err(err).context("looking up the region's availability zones")
                    }
                };
                Some(NetworkSpec {
                    azs,
                    region: clients.region.clone(),
                    ..network.spec.clone()
                })
            }
        };
        Ok(Self {
            logging: config.logging.clone(),
            registry: config.registry.clone(),
            network,
            database: config.database.clone(),
            compute: config.compute.clone().unwrap_or_default(),
        })
    }
}

/// The stack's components over the real SDK adapters, as a driver graph.
pub fn driver(
    clients: &Clients,
    config: &StackConfig,
    specs: Specs,
    grants: Grants,
) -> StackDriver {
    let azs: Vec<String> = specs
        .network
        .as_ref()
        .map(|n| n.azs.clone())
        .unwrap_or_default();
    let wiring = ComputeWiring {
        region: clients.region.clone(),
        azs: azs.clone(),
        repositories: specs.registry.repositories.keys().cloned().collect(),
        log_groups: specs.logging.groups.keys().cloned().collect(),
        database: specs.database.clone(),
    };
    let mut driver = StackDriver::new(config.stack.clone(), grants);
    let composed = (|| {
        driver
            .add(Node::new(
                Network::new(
                    Ec2::new(clients.ec2.clone()),
                    Elb::new(clients.elb.clone()),
                    CloudMap::new(clients.cloudmap.clone()),
                ),
                specs.network,
            ))?
            .add(Node::new(
                Logging::new(CloudWatchLogs::new(clients.logs.clone())),
                specs.logging,
            ))?
            .add(Node::new(
                Registry::new(Ecr::new(clients.ecr.clone())),
                specs.registry,
            ))?
            .add(Node::wired(
                Database::new(
                    Rds::new(clients.rds.clone()),
                    SecretsManager::new(clients.secrets.clone()),
                ),
                specs.database,
                &[berth_network::COMPONENT],
                move |outputs| database_inputs(outputs.get::<NetworkOutputs>(), &azs),
            ))?
            .add(Node::wired(
                Compute::new(compute_facades(clients)),
                specs.compute,
                &[
                    berth_network::COMPONENT,
                    berth_registry::COMPONENT,
                    berth_logging::COMPONENT,
                    berth_database::COMPONENT,
                ],
                move |outputs| wiring.inputs(outputs),
            ))?;
        Ok::<_, berth_core::CompositionError>(())
    })();
    composed.expect("the composition adds every dependency before its dependents");
    driver
}

/// The database's inputs: the network's data subnets in the spec's AZ order, and its database
/// security group; each known once it exists.
fn database_inputs(network: Option<&NetworkOutputs>, azs: &[String]) -> DatabaseInputs {
    DatabaseInputs {
        data_subnet_ids: Known::from_option(network.and_then(|n| n.subnet_ids(Tier::Data, azs))),
        security_group_id: Known::from_option(
            network.and_then(|n| n.security_groups.get(&SgRole::Database).cloned()),
        ),
    }
}

/// Compute's facades over the run's clients (which carry the run's interceptors).
fn compute_facades(clients: &Clients) -> AwsFacades {
    AwsFacades {
        ecs: Ecs::new(clients.ecs.clone()),
        auto_scaling: AutoScaling::new(clients.autoscaling.clone()),
        launch_templates: LaunchTemplates::new(clients.ec2.clone()),
        iam: Iam::new(clients.iam.clone()),
        ssm: Ssm::new(clients.ssm.clone()),
        app_scaling: AppScaling::new(clients.appscaling.clone()),
        cloudwatch: CloudWatch::new(clients.cloudwatch.clone()),
        sns: Sns::new(clients.sns.clone()),
        secrets: ComputeSecrets::new(clients.secrets.clone()),
        cloud_map: ComputeCloudMap::new(clients.cloudmap.clone()),
    }
}

/// What compute's inputs are made from: the upstream specs' names, and their outputs.
struct ComputeWiring {
    region: String,
    azs: Vec<String>,
    repositories: Vec<String>,
    log_groups: Vec<String>,
    database: Option<DatabaseSpec>,
}

impl ComputeWiring {
    fn inputs(&self, outputs: &Outputs) -> ComputeInputs {
        let network = outputs.get::<NetworkOutputs>();
        let registry = outputs.get::<RegistryOutputs>();
        let logging = outputs.get::<LoggingOutputs>();
        let database = outputs.get::<DatabaseOutputs>();
        ComputeInputs {
            region: self.region.clone(),
            private_subnet_ids: Known::from_option(
                network.and_then(|n| n.subnet_ids(Tier::Private, &self.azs)),
            ),
            app_security_group_id: Known::from_option(
                network.and_then(|n| n.security_groups.get(&SgRole::App).cloned()),
            ),
            target_groups: [LbRole::Application, LbRole::Websocket]
                .into_iter()
                .map(|role| {
                    let arn = network.and_then(|n| n.target_groups.get(&role).cloned());
                    (role.target_group_key().to_owned(), Known::from_option(arn))
                })
                .collect(),
            alb_arn: Known::from_option(network.and_then(|n| n.load_balancer_arn.clone())),
            namespace: Known::from_option(network.and_then(|n| {
                Some(NamespaceRef {
                    id: n.namespace_id.clone()?,
                    name: n.namespace_name.clone()?,
                })
            })),
            repositories: self
                .repositories
                .iter()
                .map(|short| {
                    let repo =
                        registry
                            .and_then(|r| r.repositories.get(short))
                            .map(|r| RepositoryRef {
                                uri: r.uri.clone(),
                                arn: r.arn.clone(),
                            });
                    (short.clone(), Known::from_option(repo))
                })
                .collect(),
            log_groups: self
                .log_groups
                .iter()
                .map(|service| {
                    let group = logging
                        .and_then(|l| l.groups.get(service))
                        .map(|g| LogGroupRef {
                            name: g.name.clone(),
                            arn: g.arn.clone(),
                        });
                    (service.clone(), Known::from_option(group))
                })
                .collect::<BTreeMap<_, _>>(),
            database_url: self.database.as_ref().map(|spec| DatabaseUrlRef {
                variable: spec.engine.url_variable().to_owned(),
                secret_arn: Known::from_option(database.and_then(|d| d.url_secret_arn.clone())),
            }),
            kms_key_arns: self
                .database
                .iter()
                .filter_map(|d| d.kms_key_arn.clone())
                .collect(),
        }
    }
}

/// Every component's outputs, typed, for rendering.
pub struct StackOutputs<'a> {
    pub logging: Option<&'a LoggingOutputs>,
    pub registry: Option<&'a RegistryOutputs>,
    pub network: Option<&'a NetworkOutputs>,
    pub database: Option<&'a DatabaseOutputs>,
    pub compute: Option<&'a ComputeOutputs>,
}

impl<'a> StackOutputs<'a> {
    pub fn of(outputs: &'a Outputs) -> Self {
        Self {
            logging: outputs.get(),
            registry: outputs.get(),
            network: outputs.get(),
            database: outputs.get(),
            compute: outputs.get(),
        }
    }
}
