//! A component in the driver's graph: `Node` (the component, its spec, its dependencies and
//! the wiring of its inputs) and its type-erased face, so one driver holds components of any
//! type.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AnyBox, OutputPair, Outputs};
use crate::component::{Component, ComponentError, Grants};
use crate::plan::{Action, Plan};
use crate::report::Reporter;
use crate::stack::Stack;

/// One component in a stack: its desired state, what it depends on, and how its inputs are
/// made from its upstream components' outputs.
pub struct Node<C: Component> {
    pub(super) component: C,
    spec: C::Spec,
    pub(super) depends_on: Vec<&'static str>,
    #[allow(clippy::type_complexity)]
    wire: Box<dyn Fn(&Outputs) -> C::Inputs + Send + Sync>,
}

impl<C: Component> Node<C> {
    /// A component with no upstream: its inputs are made from nothing.
    pub fn new(component: C, spec: C::Spec) -> Self
    where
        C::Inputs: Default,
    {
        Self::wired(component, spec, &[], |_| C::Inputs::default())
    }

    /// A component that depends on `depends_on` (component names, added to the driver before
    /// it), its inputs made by `wire` from their outputs.
    pub fn wired(
        component: C,
        spec: C::Spec,
        depends_on: &[&'static str],
        wire: impl Fn(&Outputs) -> C::Inputs + Send + Sync + 'static,
    ) -> Self {
        Self {
            component,
            spec,
            depends_on: depends_on.to_vec(),
            wire: Box::new(wire),
        }
    }
}

/// Which part of a plan an apply pass carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// Creates, updates and replaces.
    Forward,
    /// Deletes.
    Reverse,
}

impl Pass {
    pub(super) fn takes(self, action: Action) -> bool {
        match self {
            Pass::Forward => !matches!(action, Action::Delete | Action::NoOp),
            Pass::Reverse => action == Action::Delete,
        }
    }
}

/// The type-erased face of a [`Node`], so one driver holds components of any type.
#[async_trait]
pub(super) trait ErasedNode: Send + Sync {
    fn name(&self) -> &'static str;
    fn depends_on(&self) -> &[&'static str];
    async fn observe(&self, stack: &Stack) -> Result<AnyBox, ComponentError>;
    fn outputs(&self, stack: &Stack, observed: &AnyBox) -> OutputPair;
    /// The typed plan (boxed) and its erased form.
    fn plan(
        &self,
        stack: &Stack,
        observed: &AnyBox,
        upstream: &Outputs,
        grants: &Grants,
    ) -> (AnyBox, Plan);
    /// Applies the part of `plan` that `pass` takes; whether it had anything to do.
    async fn apply(
        &self,
        stack: &Stack,
        plan: AnyBox,
        pass: Pass,
        observed: &AnyBox,
        reporter: &dyn Reporter,
    ) -> Result<bool, ComponentError>;
}

fn typed<T: 'static>(value: &AnyBox) -> &T {
    value
        .downcast_ref::<T>()
        .expect("the driver pairs each node with its own observations and plans")
}

#[async_trait]
impl<C> ErasedNode for Node<C>
where
    C: Component,
    C::Observed: 'static,
    C::Step: 'static,
    C::Outputs: 'static,
{
    fn name(&self) -> &'static str {
        self.component.name()
    }

    fn depends_on(&self) -> &[&'static str] {
        &self.depends_on
    }

    async fn observe(&self, stack: &Stack) -> Result<AnyBox, ComponentError> {
        Ok(Box::new(self.component.observe(stack).await?))
    }

    fn outputs(&self, stack: &Stack, observed: &AnyBox) -> OutputPair {
        let outputs = self.component.outputs(stack, typed(observed));
        let json = serde_json::to_value(&outputs).unwrap_or_default();
        (Arc::new(outputs), json)
    }

    fn plan(
        &self,
        stack: &Stack,
        observed: &AnyBox,
        upstream: &Outputs,
        grants: &Grants,
    ) -> (AnyBox, Plan) {
        let inputs = (self.wire)(upstream);
        let plan = self
            .component
            .plan(stack, &self.spec, &inputs, typed(observed), grants);
        let erased = plan.erase();
        (Box::new(plan), erased)
    }

    async fn apply(
        &self,
        stack: &Stack,
        plan: AnyBox,
        pass: Pass,
        observed: &AnyBox,
        reporter: &dyn Reporter,
    ) -> Result<bool, ComponentError> {
        let plan = *plan
            .downcast::<Plan<C::Step>>()
            .expect("the driver pairs each node with its own plans");
        let part = plan.retain(|c| pass.takes(c.action));
        if !part.has_changes() {
            return Ok(false);
        }
        self.component
            .apply(stack, &part, typed(observed), reporter)
            .await?;
        Ok(true)
    }
}
