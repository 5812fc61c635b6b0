//! Composition: the stack's components, their specs, and observe/plan/apply across all of
//! them. Dependencies are data: a component that needs another's outputs takes them as spec
//! inputs, so it runs after it; independent components (network, logging, registry) run
//! concurrently, and teardown runs in the reverse order.

use anyhow::{Context, Result};
use berth_core::{Component, Plan, Reporter, Stack};
use berth_database::aws::{Rds, SecretsManager};
use berth_database::{
    Database, DatabaseObserved, DatabaseOutputs, DatabasePermissions, DatabaseSpec, DatabaseTarget,
    DbStep,
};
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
    pub database: Database<Rds, SecretsManager>,
}

impl Components {
    pub fn new(clients: &Clients) -> Self {
        Self {
            database: Database::new(
                Rds::new(clients.rds.clone()),
                SecretsManager::new(clients.secrets.clone()),
            ),
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
    /// Without its network inputs, which come from the network's outputs.
    pub database: Option<DatabaseSpec>,
    pub database_permissions: DatabasePermissions,
}

impl Specs {
    /// What the config describes, completed with what only AWS knows (the region's AZs).
    /// Reads only; fails before anything changes when the region cannot hold the network.
    pub async fn resolve(
        config: &StackConfig,
        components: &Components,
        region: &str,
        delete_images: bool,
        database_permissions: DatabasePermissions,
    ) -> Result<Self> {
        let mut registry = config.registry.clone();
        registry.delete_images = delete_images;
        let network = match &config.network {
            None => None,
            Some(network) => {
                let azs =
                    match berth_network::resolve_azs(components.network.ec2(), network.az_count)
                        .await
                    {
                        Ok(azs) => azs,
                        // The region cannot hold what the config asks: a config problem, named by key.
                        Err(err @ berth_network::NetworkError::NotEnoughAzs { .. }) => {
                            return Err(anyhow::Error::new(err)
                                .context(format!("{}: network.az_count", config.path.display())))
                        }
                        Err(err) => {
                            return Err(err).context("looking up the region's availability zones")
                        }
                    };
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
            database: config.database.clone(),
            database_permissions,
        })
    }

    /// Nothing: planning against it deletes everything the stack has (`down`).
    pub fn empty(delete_images: bool, database_permissions: DatabasePermissions) -> Self {
        Self {
            logging: LoggingSpec::default(),
            registry: RegistrySpec {
                delete_images,
                ..RegistrySpec::default()
            },
            network: None,
            database: None,
            database_permissions,
        }
    }

    /// The database target with its inputs taken from the network's outputs (the data
    /// subnets in AZ order, the database security group), when the network exists.
    pub fn database_target(&self, network: &NetworkOutputs) -> DatabaseTarget {
        let spec = self.database.clone().map(|mut spec| {
            let data = network.subnets.get("data");
            spec.subnet_ids = self.network.as_ref().and_then(|n| {
                n.azs
                    .iter()
                    .map(|az| data.and_then(|d| d.get(az)).cloned())
                    .collect::<Option<Vec<_>>>()
            });
            spec.security_group_id = network.security_groups.get("db").cloned();
            spec
        });
        DatabaseTarget {
            spec,
            permissions: self.database_permissions,
        }
    }
}

/// What exists, per component.
#[derive(Debug, Clone)]
pub struct Observed {
    pub logging: LoggingObserved,
    pub registry: RegistryObserved,
    pub network: NetworkObserved,
    pub database: DatabaseObserved,
}

/// The plan, per component.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub logging: Plan<LogStep>,
    pub registry: Plan<RepositoryStep>,
    pub network: Plan<NetStep>,
    pub database: Plan<DbStep>,
}

impl StackPlan {
    /// All components' changes in one sorted plan, for rendering.
    pub fn combined(&self) -> Plan {
        Plan::merge([
            self.logging.erase(),
            self.registry.erase(),
            self.network.erase(),
            self.database.erase(),
        ])
    }
}

/// Outputs of every component.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub logging: LoggingOutputs,
    pub registry: RegistryOutputs,
    pub network: NetworkOutputs,
    pub database: DatabaseOutputs,
}

impl Components {
    pub async fn observe(&self, stack: &Stack) -> Result<Observed> {
        let (logging, registry, network, database) = tokio::try_join!(
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
            async {
                self.database
                    .observe(stack)
                    .await
                    .context("observing database")
            },
        )?;
        Ok(Observed {
            logging,
            registry,
            network,
            database,
        })
    }

    pub fn plan(&self, stack: &Stack, specs: &Specs, observed: &Observed) -> StackPlan {
        let network_outputs = self.network.outputs(stack, &observed.network);
        StackPlan {
            logging: self.logging.plan(stack, &specs.logging, &observed.logging),
            registry: self
                .registry
                .plan(stack, &specs.registry, &observed.registry),
            network: self.network.plan(stack, &specs.network, &observed.network),
            database: self.database.plan(
                stack,
                &specs.database_target(&network_outputs),
                &observed.database,
            ),
        }
    }

    /// The database's part: planned again from fresh reads once the network it depends on
    /// is in place, so that its inputs (subnets, security group) are the real ids.
    async fn apply_database(
        &self,
        stack: &Stack,
        specs: &Specs,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let (network, database) = tokio::try_join!(
            async {
                self.network
                    .observe(stack)
                    .await
                    .context("observing network")
            },
            async {
                self.database
                    .observe(stack)
                    .await
                    .context("observing database")
            },
        )?;
        let target = specs.database_target(&self.network.outputs(stack, &network));
        let plan = self.database.plan(stack, &target, &database);
        self.database
            .apply(stack, &plan, &database, reporter)
            .await
            .context("applying database changes")
    }

    /// Applies every component's plan. Network, logging and registry do not depend on each
    /// other, so they run at once; teardown has the same shape until components depend on
    /// each other (compute on network, for one).
    pub async fn apply(
        &self,
        stack: &Stack,
        specs: &Specs,
        plan: &StackPlan,
        observed: &Observed,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        // The database lives in the network: after it going up, before it coming down.
        let network_going = specs.network.is_none();
        if network_going && plan.database.has_changes() {
            self.apply_database(stack, specs, reporter).await?;
        }
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
        if !network_going && plan.database.has_changes() {
            self.apply_database(stack, specs, reporter).await?;
        }
        Ok(())
    }

    pub fn outputs(&self, stack: &Stack, observed: &Observed) -> Outputs {
        Outputs {
            logging: self.logging.outputs(stack, &observed.logging),
            registry: self.registry.outputs(stack, &observed.registry),
            network: self.network.outputs(stack, &observed.network),
            database: self.database.outputs(stack, &observed.database),
        }
    }
}
