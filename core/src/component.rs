//! The component contract every domain crate follows: observe → pure plan → apply, with
//! typed outputs. Destroying is applying the plan for an empty spec, so pruning and teardown
//! share one code path.

use async_trait::async_trait;

use crate::plan::Plan;
use crate::report::Reporter;
use crate::stack::Stack;

/// One concern of a stack (logging, registry, network, …).
///
/// * `observe` reads what exists, by the stack's tags or name prefix, with one list call per
///   resource type.
/// * `plan` is pure: it cannot fail and does no IO, so it is tested without mocks.
/// * `apply` carries out a plan's steps through the component's facade and returns outputs
///   that other components take as inputs. It is idempotent: a step that finds its work
///   already done (a "not found" on delete, an "already exists" on create of the same
///   resource) counts as done.
#[async_trait]
pub trait Component: Send + Sync {
    /// The desired state, validated before it gets here.
    type Spec: Send + Sync;
    /// What exists in the cloud for this stack.
    type Observed: Send + Sync;
    /// The component's instruction for one change.
    type Step: Send + Sync;
    /// Ids and ARNs other components need.
    type Outputs: Send;
    type Error: std::error::Error + Send + Sync + 'static;

    /// The component's name: the first segment of its addresses and its `berth:component` tag.
    fn name(&self) -> &'static str;

    async fn observe(&self, stack: &Stack) -> Result<Self::Observed, Self::Error>;

    fn plan(&self, stack: &Stack, spec: &Self::Spec, observed: &Self::Observed)
        -> Plan<Self::Step>;

    /// `observed` is what `plan` was computed from: steps that build on resources existing
    /// before the run find their ids there.
    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<Self::Step>,
        observed: &Self::Observed,
        reporter: &dyn Reporter,
    ) -> Result<(), Self::Error>;

    /// The outputs of what exists, read back after apply (or for `status`).
    fn outputs(&self, stack: &Stack, observed: &Self::Observed) -> Self::Outputs;
}
