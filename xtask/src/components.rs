//! Composition: the stack's components, their specs, and observe/plan/apply across all of
//! them. Dependencies are data: a component that needs another's outputs takes them as spec
//! inputs, so it runs after it; independent components (logging, registry) run concurrently,
//! and teardown runs in the reverse order.

use anyhow::{Context, Result};
use berth_core::{Component, Plan, Reporter, Stack};
use berth_logging::aws::CloudWatchLogs;
use berth_logging::{LogStep, Logging, LoggingObserved, LoggingOutputs, LoggingSpec};
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
}

impl Components {
    pub fn new(clients: &Clients) -> Self {
        Self {
            logging: Logging::new(CloudWatchLogs::new(clients.logs.clone())),
            registry: Registry::new(Ecr::new(clients.ecr.clone())),
        }
    }
}

/// The desired state of every component.
#[derive(Debug, Clone, Default)]
pub struct Specs {
    pub logging: LoggingSpec,
    pub registry: RegistrySpec,
}

impl Specs {
    /// What the config describes.
    pub fn from_config(config: &StackConfig, delete_images: bool) -> Self {
        let mut registry = config.registry.clone();
        registry.delete_images = delete_images;
        Self {
            logging: config.logging.clone(),
            registry,
        }
    }

    /// Nothing: planning against it deletes everything the stack has (`down`).
    pub fn empty(delete_images: bool) -> Self {
        Self {
            logging: LoggingSpec::default(),
            registry: RegistrySpec {
                delete_images,
                ..RegistrySpec::default()
            },
        }
    }
}

/// What exists, per component.
#[derive(Debug, Clone)]
pub struct Observed {
    pub logging: LoggingObserved,
    pub registry: RegistryObserved,
}

/// The plan, per component.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub logging: Plan<LogStep>,
    pub registry: Plan<RepositoryStep>,
}

impl StackPlan {
    /// All components' changes in one sorted plan, for rendering.
    pub fn combined(&self) -> Plan {
        Plan::merge([self.logging.erase(), self.registry.erase()])
    }
}

/// Outputs of every component.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub logging: LoggingOutputs,
    pub registry: RegistryOutputs,
}

impl Components {
    pub async fn observe(&self, stack: &Stack) -> Result<Observed> {
        let (logging, registry) = tokio::try_join!(
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
        )?;
        Ok(Observed { logging, registry })
    }

    pub fn plan(&self, stack: &Stack, specs: &Specs, observed: &Observed) -> StackPlan {
        StackPlan {
            logging: self.logging.plan(stack, &specs.logging, &observed.logging),
            registry: self
                .registry
                .plan(stack, &specs.registry, &observed.registry),
        }
    }

    /// Applies every component's plan; logging and registry do not depend on each other, so
    /// they run at once. Teardown has the same shape until components depend on each other.
    pub async fn apply(
        &self,
        stack: &Stack,
        plan: &StackPlan,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        tokio::try_join!(
            async {
                self.logging
                    .apply(stack, &plan.logging, reporter)
                    .await
                    .context("applying logging changes")
            },
            async {
                self.registry
                    .apply(stack, &plan.registry, reporter)
                    .await
                    .context("applying registry changes")
            },
        )?;
        Ok(())
    }

    pub fn outputs(&self, stack: &Stack, observed: &Observed) -> Outputs {
        Outputs {
            logging: self.logging.outputs(stack, &observed.logging),
            registry: self.registry.outputs(stack, &observed.registry),
        }
    }
}
