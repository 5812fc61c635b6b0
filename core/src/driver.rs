//! The stack driver: composes components as a dependency graph. It observes them all at once,
//! plans them in dependency order (each fed its inputs from its upstream components' outputs),
//! and applies in two passes: creates and updates forward, level by level, independent
//! components concurrently, each planned again from fresh reads just before it is applied;
//! then deletes in reverse order, once the components that depend on what is deleted have
//! moved off it. A failure stops the components that depend on the failed one; the others
//! finish; every error is returned.
//!
//! Generic over any [`Component`]: a program that composes only some of berth's crates builds a
//! driver of just those.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use futures::future::join_all;

use crate::component::{Component, ComponentError, Grants};
use crate::plan::{Action, Address, Plan};
use crate::report::Reporter;
use crate::stack::Stack;

pub(crate) type AnyBox = Box<dyn Any + Send + Sync>;

/// The outputs of the components planned or applied so far, each under its component's name.
/// Wiring functions read them by type: `outputs.get::<NetworkOutputs>()`.
#[derive(Clone, Default)]
pub struct Outputs {
    typed: BTreeMap<&'static str, Arc<dyn Any + Send + Sync>>,
    json: BTreeMap<&'static str, serde_json::Value>,
}

impl Outputs {
    /// The outputs of the component whose outputs type is `T`, if that component is in the
    /// stack and has been observed.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.typed.values().find_map(|v| v.downcast_ref::<T>())
    }

    /// Every component's outputs as JSON, keyed by component name.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.json).unwrap_or_default()
    }

    fn insert(&mut self, name: &'static str, (typed, json): OutputPair) {
        self.typed.insert(name, typed);
        self.json.insert(name, json);
    }
}

impl fmt::Debug for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.json.iter()).finish()
    }
}

pub(crate) type OutputPair = (Arc<dyn Any + Send + Sync>, serde_json::Value);

/// A driver was composed wrongly (a programming error of the composing program).
#[derive(Debug, thiserror::Error)]
pub enum CompositionError {
    #[error("component {component} depends on {dependency}, which was not added before it")]
    UnknownDependency {
        component: &'static str,
        dependency: &'static str,
    },
    #[error("component {0} was added twice")]
    Duplicate(&'static str),
}

/// A component's failure, or the reason it did not run.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{component}")]
    Failed {
        component: &'static str,
        #[source]
        source: ComponentError,
    },
    #[error("{component} was not applied: it depends on {upstream}, which did not finish")]
    Skipped {
        component: &'static str,
        upstream: &'static str,
    },
    #[error("{component}'s deletes were not applied: {dependent}, which uses it, did not finish")]
    DeletesHeld {
        component: &'static str,
        dependent: &'static str,
    },
}

/// What every component had when observed, in the driver's node order.
pub struct Observation {
    observed: Vec<AnyBox>,
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Observation({} components)", self.observed.len())
    }
}

/// Every component's plan, in the driver's node order, with the outputs they were planned from.
pub struct StackPlan {
    plans: Vec<(&'static str, AnyBox, Plan)>,
    outputs: Outputs,
}

impl fmt::Debug for StackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.plans.iter().map(|(name, _, plan)| (name, plan)))
            .finish()
    }
}

impl StackPlan {
    /// All components' changes in one sorted plan, for rendering.
    pub fn combined(&self) -> Plan {
        Plan::merge(self.plans.iter().map(|(_, _, plan)| plan.clone()))
    }

    /// One component's plan, by name.
    pub fn component(&self, name: &str) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, p)| p)
    }

    /// The outputs of what exists now (the upstream values plans were made from).
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    /// The deletes and replaces the person confirmed, per component.
    fn destructive(&self, index: usize) -> BTreeSet<(Address, Action)> {
        self.plans[index]
            .2
            .changes()
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .map(|c| (c.address.clone(), c.action))
            .collect()
    }

    fn has(&self, index: usize, pass: Pass) -> bool {
        self.plans[index]
            .2
            .changes()
            .iter()
            .any(|c| pass.takes(c.action))
    }
}

/// How an apply went: the components that changed something, and every error.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Components that applied at least one change.
    pub applied: Vec<&'static str>,
    pub errors: Vec<StackError>,
}

impl ApplyReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Where a node stands during an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok {
        changed: bool,
    },
    /// Failed, or skipped because something upstream failed.
    Stopped,
}

/// The stack's components as a dependency graph.
pub struct StackDriver {
    stack: Stack,
    grants: Grants,
    nodes: Vec<Box<dyn ErasedNode>>,
}

impl fmt::Debug for StackDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackDriver")
            .field("stack", &self.stack)
            .field("grants", &self.grants)
            .field("components", &self.names())
            .finish()
    }
}

impl StackDriver {
    pub fn new(stack: Stack, grants: Grants) -> Self {
        Self {
            stack,
            grants,
            nodes: Vec::new(),
        }
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Adds a component. Its dependencies must have been added before it, so the graph has no
    /// cycles by construction and the order of addition is a dependency order.
    pub fn add<C>(&mut self, node: Node<C>) -> Result<&mut Self, CompositionError>
    where
        C: Component + 'static,
        C::Spec: 'static,
        C::Inputs: 'static,
        C::Observed: 'static,
        C::Step: 'static,
        C::Outputs: 'static,
    {
        let name = node.component.name();
        if self.index(name).is_some() {
            return Err(CompositionError::Duplicate(name));
        }
        if let Some(dependency) = node
            .depends_on
            .iter()
            .find(|d| self.index(d).is_none())
            .copied()
        {
            return Err(CompositionError::UnknownDependency {
                component: name,
                dependency,
            });
        }
        self.nodes.push(Box::new(node));
        Ok(self)
    }

    /// The components' names, in dependency order.
    pub fn names(&self) -> Vec<&'static str> {
        self.nodes.iter().map(|n| n.name()).collect()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name() == name)
    }

    fn dependencies(&self, index: usize) -> Vec<usize> {
        self.nodes[index]
            .depends_on()
            .iter()
            .filter_map(|d| self.index(d))
            .collect()
    }

    fn dependents(&self, index: usize) -> Vec<usize> {
        let name = self.nodes[index].name();
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].depends_on().contains(&name))
            .collect()
    }

    /// Nodes grouped by level: a node's level is one more than its deepest dependency's.
    fn levels(&self) -> Vec<Vec<usize>> {
        let mut level = vec![0usize; self.nodes.len()];
        for i in 0..self.nodes.len() {
            level[i] = self
                .dependencies(i)
                .into_iter()
                .map(|d| level[d] + 1)
                .max()
                .unwrap_or(0);
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        (0..depth)
            .map(|l| (0..self.nodes.len()).filter(|&i| level[i] == l).collect())
            .collect()
    }

    /// Reads what every component has, all at once. Every component's error is returned.
    pub async fn observe(&self) -> Result<Observation, Vec<StackError>> {
        let results = join_all(self.nodes.iter().map(|n| n.observe(&self.stack))).await;
        let mut observed = Vec::with_capacity(results.len());
        let mut errors = Vec::new();
        for (node, result) in self.nodes.iter().zip(results) {
            match result {
                Ok(o) => observed.push(o),
                Err(source) => errors.push(StackError::Failed {
                    component: node.name(),
                    source,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Observation { observed })
        } else {
            Err(errors)
        }
    }

    /// Plans every component in dependency order, each with inputs from what its upstream
    /// components have now (what they will create shows as known after apply).
    pub fn plan(&self, observation: &Observation) -> StackPlan {
        let mut outputs = Outputs::default();
        let mut plans = Vec::with_capacity(self.nodes.len());
        for (node, observed) in self.nodes.iter().zip(&observation.observed) {
            let (typed, erased) = node.plan(&self.stack, observed, &outputs, &self.grants);
            plans.push((node.name(), typed, erased));
            outputs.insert(node.name(), node.outputs(&self.stack, observed));
        }
        StackPlan { plans, outputs }
    }

    /// The outputs of what was observed.
    pub fn outputs(&self, observation: &Observation) -> Outputs {
        let mut outputs = Outputs::default();
        for (node, observed) in self.nodes.iter().zip(&observation.observed) {
            outputs.insert(node.name(), node.outputs(&self.stack, observed));
        }
        outputs
    }

    /// Carries out `confirmed` (planned from `observation`): creates and updates forward, then
    /// deletes in reverse. A component is planned again from fresh reads before it is applied
    /// whenever anything it depends on changed in this run; a re-plan holding a delete or
    /// replace that `confirmed` did not is refused for that component.
    pub async fn apply(
        &self,
        observation: Observation,
        confirmed: &StackPlan,
        reporter: &dyn Reporter,
    ) -> ApplyReport {
        let mut latest: Vec<Option<AnyBox>> = observation.observed.into_iter().map(Some).collect();
        let mut state = vec![State::Ok { changed: false }; self.nodes.len()];
        let mut report = ApplyReport::default();
        let levels = self.levels();

        // Forward: creates, updates, replaces.
        let mut outputs = Outputs::default();
        for level in &levels {
            let runs = level.iter().map(|&i| {
                let deps = self.dependencies(i);
                let stopped = deps.iter().find(|&&d| state[d] == State::Stopped).copied();
                let stale = deps
                    .iter()
                    .any(|&d| state[d] == (State::Ok { changed: true }));
                let current = latest[i].take();
                let outputs = &outputs;
                async move {
                    if let Some(upstream) = stopped {
                        return (i, current, Err(Skip::Upstream(upstream)));
                    }
                    let mode = Mode {
                        pass: Pass::Forward,
                        stale,
                        wanted: confirmed.has(i, Pass::Forward) || stale,
                        read_after: !self.dependents(i).is_empty(),
                    };
                    self.run_node(i, mode, current, confirmed, outputs, reporter)
                        .await
                }
            });
            let results = join_all(runs).await;
            self.settle_all(results, &mut latest, &mut state, &mut report, &mut outputs);
        }

        // Reverse: deletes, dependents first.
        for level in levels.iter().rev() {
            let runs = level.iter().map(|&i| {
                let held_by = self
                    .dependents(i)
                    .into_iter()
                    .find(|&d| state[d] == State::Stopped);
                let anything_changed = state.contains(&State::Ok { changed: true });
                let current = latest[i].take();
                let own = state[i];
                let outputs = &outputs;
                async move {
                    if own == State::Stopped || !confirmed.has(i, Pass::Reverse) {
                        return (i, current, Ok(false));
                    }
                    if let Some(dependent) = held_by {
                        return (i, current, Err(Skip::Dependent(dependent)));
                    }
                    let mode = Mode {
                        pass: Pass::Reverse,
                        stale: anything_changed,
                        wanted: true,
                        read_after: false,
                    };
                    self.run_node(i, mode, current, confirmed, outputs, reporter)
                        .await
                }
            });
            let results = join_all(runs).await;
            self.settle_all(results, &mut latest, &mut state, &mut report, &mut outputs);
        }
        report
    }

    /// Records a level's results: latest observations, states, outputs, errors.
    fn settle_all(
        &self,
        results: Vec<NodeResult>,
        latest: &mut [Option<AnyBox>],
        state: &mut [State],
        report: &mut ApplyReport,
        outputs: &mut Outputs,
    ) {
        for (i, observed, result) in results {
            self.settle(i, observed, result, latest, state, report, outputs);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        i: usize,
        observed: Option<AnyBox>,
        result: Result<bool, Skip>,
        latest: &mut [Option<AnyBox>],
        state: &mut [State],
        report: &mut ApplyReport,
        outputs: &mut Outputs,
    ) {
        let name = self.nodes[i].name();
        if let Some(observed) = &observed {
            outputs.insert(name, self.nodes[i].outputs(&self.stack, observed));
        }
        latest[i] = observed;
        match result {
            Ok(changed) => {
                if changed && !report.applied.contains(&name) {
                    report.applied.push(name);
                }
                if let State::Ok { changed: before } = state[i] {
                    state[i] = State::Ok {
                        changed: before || changed,
                    };
                }
            }
            Err(skip) => {
                state[i] = State::Stopped;
                report.errors.push(match skip {
                    Skip::Failed(source) => StackError::Failed {
                        component: name,
                        source,
                    },
                    Skip::Upstream(u) => StackError::Skipped {
                        component: name,
                        upstream: self.nodes[u].name(),
                    },
                    Skip::Dependent(d) => StackError::DeletesHeld {
                        component: name,
                        dependent: self.nodes[d].name(),
                    },
                });
            }
        }
    }

    /// One component's part of a pass: observe again if what it was planned from is stale,
    /// plan with the current upstream outputs, refuse unconfirmed deletes and replaces, apply,
    /// and observe again after a change when someone will read the outputs. Returns the latest
    /// observation and whether anything was applied.
    /// [`Self::run`], its result as a level records it.
    async fn run_node(
        &self,
        i: usize,
        mode: Mode,
        current: Option<AnyBox>,
        confirmed: &StackPlan,
        outputs: &Outputs,
        reporter: &dyn Reporter,
    ) -> NodeResult {
        match self
            .run(i, mode, current, confirmed, outputs, reporter)
            .await
        {
            Ok((observed, changed)) => (i, Some(observed), Ok(changed)),
            Err(source) => (i, None, Err(Skip::Failed(source))),
        }
    }

    async fn run(
        &self,
        i: usize,
        Mode {
            pass,
            stale,
            wanted,
            read_after,
        }: Mode,
        current: Option<AnyBox>,
        confirmed: &StackPlan,
        outputs: &Outputs,
        reporter: &dyn Reporter,
    ) -> Result<(AnyBox, bool), ComponentError> {
        let node = &self.nodes[i];
        let observed = match current {
            Some(observed) if !stale => observed,
            _ => node.observe(&self.stack).await?,
        };
        if !wanted {
            return Ok((observed, false));
        }
        let (plan, erased) = node.plan(&self.stack, &observed, outputs, &self.grants);
        let allowed = confirmed.destructive(i);
        if let Some(change) = erased.changes().iter().find(|c| {
            matches!(c.action, Action::Delete | Action::Replace)
                && !allowed.contains(&(c.address.clone(), c.action))
        }) {
            return Err(ComponentError::Refused {
                address: change.address.to_string(),
                reason: format!(
                    "planned again just before applying, it now {}s it, which the plan you \
                     confirmed did not: something changed underneath (another run, or a change \
                     by hand); nothing of {} was applied; run plan again",
                    match change.action {
                        Action::Replace => "replace",
                        _ => "delete",
                    },
                    node.name()
                ),
            });
        }
        if let Some(change) = erased.refused().next() {
            return Err(ComponentError::Refused {
                address: change.address.to_string(),
                reason: change.refused.clone().unwrap_or_default(),
            });
        }
        let changed = node
            .apply(&self.stack, plan, pass, &observed, reporter)
            .await?;
        if changed && read_after {
            return Ok((node.observe(&self.stack).await?, true));
        }
        Ok((observed, changed))
    }
}

/// How a node takes part in a pass.
#[derive(Debug, Clone, Copy)]
struct Mode {
    pass: Pass,
    /// Something it was planned from changed in this run: observe it again first.
    stale: bool,
    /// It has something to do in this pass (or must be planned again to know).
    wanted: bool,
    /// Observe it again after a change, for the outputs its dependents read.
    read_after: bool,
}

/// A node's index, its latest observation, and whether it changed something (or why not).
type NodeResult = (usize, Option<AnyBox>, Result<bool, Skip>);

/// Why a node did not complete.
enum Skip {
    Failed(ComponentError),
    Upstream(usize),
    Dependent(usize),
}

mod node;

pub use node::Node;
use node::{ErasedNode, Pass};

#[cfg(test)]
mod tests;
