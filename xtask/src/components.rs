//! Composition: the stack's components, their specs, and observe/plan/apply across all of
//! them. Dependencies are data: a component that needs another's outputs takes them as spec
//! inputs, so it runs after it; independent components (network, logging, registry) run
//! concurrently, and teardown runs in the reverse order.

use anyhow::{Context, Result};
use berth_core::{Component, Plan, Reporter, Stack};
use berth_logging::aws::CloudWatchLogs;
use berth_logging::{LogStep, Logging, LoggingObserved, LoggingOutputs, LoggingSpec};
use berth_network::aws::{CloudMap, Ec2, Elb};
use berth_network::{NetStep, Network, NetworkObserved, NetworkOutputs, NetworkSpec};
use berth_registry::aws::Ecr;
use berth_registry::{Registry, RegistryObserved, RegistryOutputs, RegistrySpec, RepositoryStep};
use serde::Serialize;

use crate::aws::Clients;
use crate::config::StackConfig;

/// Every component of a stack, over the real SDK adapters.
#[derive(Debug, Clone)]
pub struct Components {
    pub logging: Logging<CloudWatchLogs>,
    pub registry: Registry<Ecr>,
    pub network: Network<Ec2, Elb, CloudMap>,
}

impl Components {
    pub fn new(clients: &Clients) -> Self {
        Self {
            logging: Logging::new(CloudWatchLogs::new(clients.logs.clone())),
            registry: Registry::new(Ecr::new(clients.ecr.clone())),
            network: Network::new(
                Ec2::new(clients.ec2.clone()),
                Elb::new(clients.elb.clone()),
                CloudMap::new(clients.cloudmap.clone()),
            ),
        }
    }
}

/// The desired state of every component.
#[derive(Debug, Clone, Default)]
pub struct Specs {
    pub logging: LoggingSpec,
    pub registry: RegistrySpec,
    pub network: Option<NetworkSpec>,
}

impl Specs {
    /// What the config describes, completed with what only AWS knows (the region's AZs).
    /// Reads only; fails before anything changes when the region cannot hold the network.
    pub async fn resolve(
        config: &StackConfig,
        components: &Components,
        region: &str,
        delete_images: bool,
    ) -> Result<Self> {
        let mut registry = config.registry.clone();
        registry.delete_images = delete_images;
        let network = match &config.network {
            None => None,
            Some(network) => {
                let azs = berth_network::resolve_azs(components.network.ec2(), network.az_count)
                    .await
                    .with_context(|| format!("{}: network.az_count", config.path.display()))?;
                Some(NetworkSpec {
                    azs,
                    region: region.to_owned(),
                    ..network.spec.clone()
                })
            }
        };
        Ok(Self {
            logging: config.logging.clone(),
            registry,
            network,
        })
    }

    /// Nothing: planning against it deletes everything the stack has (`down`).
    pub fn empty(delete_images: bool) -> Self {
        Self {
            logging: LoggingSpec::default(),
            registry: RegistrySpec {
                delete_images,
                ..RegistrySpec::default()
            },
            network: None,
        }
    }
}

/// What exists, per component.
#[derive(Debug, Clone)]
pub struct Observed {
    pub logging: LoggingObserved,
    pub registry: RegistryObserved,
    pub network: NetworkObserved,
}

/// The plan, per component.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub logging: Plan<LogStep>,
    pub registry: Plan<RepositoryStep>,
    pub network: Plan<NetStep>,
}

impl StackPlan {
    /// All components' changes in one sorted plan, for rendering.
    pub fn combined(&self) -> Plan {
        Plan::merge([
            self.logging.erase(),
            self.registry.erase(),
            self.network.erase(),
        ])
    }
}

/// Outputs of every component.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub logging: LoggingOutputs,
    pub registry: RegistryOutputs,
    pub network: NetworkOutputs,
}

impl Components {
    pub async fn observe(&self, stack: &Stack) -> Result<Observed> {
        let (logging, registry, network) = tokio::try_join!(
            async {
                self.logging
                    .observe(stack)
                    .await
                    .context("observing logging")
            },
            async {
                self.registry
                    .observe(stack)
                    .await
                    .context("observing registry")
            },
            async {
                self.network
                    .observe(stack)
                    .await
                    .context("observing network")
            },
        )?;
        Ok(Observed {
            logging,
            registry,
            network,
        })
    }

    pub fn plan(&self, stack: &Stack, specs: &Specs, observed: &Observed) -> StackPlan {
        StackPlan {
            logging: self.logging.plan(stack, &specs.logging, &observed.logging),
            registry: self
                .registry
                .plan(stack, &specs.registry, &observed.registry),
            network: self.network.plan(stack, &specs.network, &observed.network),
        }
    }

    /// Applies every component's plan. Network, logging and registry do not depend on each
    /// other, so they run at once; teardown has the same shape until components depend on
    /// each other (compute on network, for one).
    pub async fn apply(
        &self,
        stack: &Stack,
        plan: &StackPlan,
        observed: &Observed,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        tokio::try_join!(
            async {
                self.logging
                    .apply(stack, &plan.logging, &observed.logging, reporter)
                    .await
                    .context("applying logging changes")
            },
            async {
                self.registry
                    .apply(stack, &plan.registry, &observed.registry, reporter)
                    .await
                    .context("applying registry changes")
            },
            async {
                self.network
                    .apply(stack, &plan.network, &observed.network, reporter)
                    .await
                    .context("applying network changes")
            },
        )?;
        Ok(())
    }

    pub fn outputs(&self, stack: &Stack, observed: &Observed) -> Outputs {
        Outputs {
            logging: self.logging.outputs(stack, &observed.logging),
            registry: self.registry.outputs(stack, &observed.registry),
            network: self.network.outputs(stack, &observed.network),
        }
    }
}
