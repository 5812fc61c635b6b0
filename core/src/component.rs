//! The component contract every domain crate follows: observe → pure plan → apply, with typed
//! inputs (other components' outputs) and typed outputs; the run's permissions (`Grants`); the
//! one error shape of components; and `apply_phased`, the one apply loop they all share.
//!
//! Destroying is applying the plan for the default (empty) spec, so pruning and teardown
//! share one code path.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::try_join_all;
use serde::{Serialize, Serializer};

use crate::error::AwsError;
use crate::plan::{Change, Plan};
use crate::report::{Event, Reporter};
use crate::stack::Stack;

/// One concern of a stack (logging, registry, network, …).
///
/// * `observe` reads what exists, by the stack's tags, with one list call per resource type,
///   and keeps only what carries the stack's tags.
/// * `plan` is pure: it cannot fail and does no IO, so it is tested without mocks. It takes
///   the component's inputs (upstream outputs; an input not known yet is
///   [`Known::AfterApply`]) and the run's [`Grants`].
/// * `apply` carries out a plan's steps through the component's facade. It is idempotent: a
///   step that finds its work already done counts as done. The driver may hand it a part of a
///   plan (the creates and updates, or the deletes); it applies what it is given.
/// * `outputs` reads back what exists: the inputs of the components that depend on this one.
#[async_trait]
pub trait Component: Send + Sync {
    /// The desired state, validated before it gets here. `Default` is "nothing": planning
    /// against it deletes everything the component has (`down`).
    type Spec: Default + Send + Sync;
    /// What the component takes from other components' outputs.
    type Inputs: Send + Sync;
    /// What exists in the cloud for this stack.
    type Observed: Send + Sync;
    /// The component's instruction for one change.
    type Step: Send + Sync;
    /// Ids and ARNs other components need.
    type Outputs: Serialize + Send + Sync;

    /// The component's name: the first segment of its addresses and its `berth:component` tag.
    fn name(&self) -> &'static str;

    async fn observe(&self, stack: &Stack) -> Result<Self::Observed, ComponentError>;

    fn plan(
        &self,
        stack: &Stack,
        spec: &Self::Spec,
        inputs: &Self::Inputs,
        observed: &Self::Observed,
        grants: &Grants,
    ) -> Plan<Self::Step>;

    /// `observed` is what `plan` was computed from: steps that build on resources existing
    /// before the run find their ids there.
    async fn apply(
        &self,
        stack: &Stack,
        plan: &Plan<Self::Step>,
        observed: &Self::Observed,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError>;

    /// The outputs of what exists, read back after apply (or for `status`).
    fn outputs(&self, stack: &Stack, observed: &Self::Observed) -> Self::Outputs;
}

/// An input taken from another component: known (the upstream resource exists), or known only
/// once this run has created it. Plans show the latter as "(known after apply)" and never guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Known<T> {
    Now(T),
    #[default]
    AfterApply,
}

impl<T> Known<T> {
    /// `Some` upstream value is known now; `None` will exist after apply.
    pub fn from_option(value: Option<T>) -> Self {
        match value {
            Some(v) => Known::Now(v),
            None => Known::AfterApply,
        }
    }

    pub fn now(&self) -> Option<&T> {
        match self {
            Known::Now(v) => Some(v),
            Known::AfterApply => None,
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Known::Now(_))
    }

    pub fn as_ref(&self) -> Known<&T> {
        match self {
            Known::Now(v) => Known::Now(v),
            Known::AfterApply => Known::AfterApply,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Known<U> {
        match self {
            Known::Now(v) => Known::Now(f(v)),
            Known::AfterApply => Known::AfterApply,
        }
    }
}

impl<T: fmt::Display> fmt::Display for Known<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Known::Now(v) => v.fmt(f),
            Known::AfterApply => f.write_str(KNOWN_AFTER_APPLY),
        }
    }
}

impl<T: Serialize> Serialize for Known<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Known::Now(v) => v.serialize(s),
            Known::AfterApply => s.serialize_str(KNOWN_AFTER_APPLY),
        }
    }
}

/// How a plan shows a value that exists only once the run has created it.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// The run's permissions, given on the command line, for changes that lose data or cannot be
/// undone. One type for every component; a plan refuses what they do not allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Grants {
    /// Delete repositories that hold images (with their images).
    pub delete_images: bool,
    /// Delete the database (on `down`, or when the config no longer has one), lifting its
    /// deletion protection.
    pub delete_database: bool,
    /// Skip the database's final snapshot when deleting it.
    pub skip_final_snapshot: bool,
    /// Replace the database when a change cannot be made in place (a new engine).
    pub replace_database: bool,
}

/// What went wrong in a component, with the AWS cause in `source`.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("observing the stack's {what}")]
    Observe {
        what: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("{action} {address}")]
    Apply {
        action: &'static str,
        address: String,
        #[source]
        source: AwsError,
    },
    #[error("waiting for {address}")]
    Wait {
        address: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("{address} needs {needs}, which does not exist")]
    Missing { address: String, needs: String },
    #[error("refusing to change {address}: {reason}")]
    Refused { address: String, reason: String },
}

impl ComponentError {
    /// `map_err` adapter for an observe call.
    pub fn observe(what: &'static str) -> impl Fn(AwsError) -> ComponentError {
        move |source| ComponentError::Observe { what, source }
    }

    /// `map_err` adapter for an apply call on `address` (`action`: "creating", "deleting", …).
    pub fn apply(
        action: &'static str,
        address: impl fmt::Display,
    ) -> impl FnOnce(AwsError) -> ComponentError {
        move |source| ComponentError::Apply {
            action,
            address: address.to_string(),
            source,
        }
    }

    pub fn missing(address: impl fmt::Display, needs: impl Into<String>) -> ComponentError {
        ComponentError::Missing {
            address: address.to_string(),
            needs: needs.into(),
        }
    }

    pub fn wait(
        address: impl fmt::Display,
        source: impl StdError + Send + Sync + 'static,
    ) -> ComponentError {
        ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(source),
        }
    }
}

/// Which phases a step takes part in, in order. A component's phases are an enum whose order
/// is the order AWS lets its resources be created (and, for deletes, removed).
pub trait Phased {
    type Phase: Copy + Ord + Send + Sync;

    /// The phases this step runs in; most steps have one. A step with several (a security
    /// group, then its rules) is reported started in its first and finished in its last.
    fn phases(&self) -> Vec<Self::Phase>;
}

/// The one apply loop: refuses a plan with a refused change (nothing applied), then runs the
/// actionable changes phase by phase, the steps of one phase concurrently, reporting each
/// change's start and finish. `state` is what later phases need from earlier ones (ids
/// created so far): every step of a phase gets it as it was when the phase began, and what
/// the steps return is recorded into it before the next phase.
pub async fn apply_phased<'a, S, St, R, F, Fut>(
    plan: &'a Plan<S>,
    mut state: St,
    reporter: &'a dyn Reporter,
    run: F,
    record: impl Fn(&mut St, R),
) -> Result<St, ComponentError>
where
    S: Phased + 'a,
    St: Clone,
    F: Fn(&'a Change<S>, &'a S, S::Phase, Arc<St>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<R>, ComponentError>> + 'a,
{
    if let Some((address, reason)) = plan.first_refusal() {
        return Err(ComponentError::Refused { address, reason });
    }
    type StepWithPhases<'p, S> = (&'p Change<S>, &'p S, Vec<<S as Phased>::Phase>);
    let steps: Vec<StepWithPhases<'a, S>> = plan
        .actionable()
        .filter_map(|c| c.step.as_ref().map(|s| (c, s, s.phases())))
        .collect();
    let mut all: Vec<S::Phase> = steps.iter().flat_map(|(_, _, p)| p.clone()).collect();
    all.sort_unstable();
    all.dedup();
    for phase in all {
        let in_phase = steps.iter().filter(|(_, _, p)| p.contains(&phase));
        let snapshot = Arc::new(state.clone());
        let run = &run;
        let results = try_join_all(in_phase.map(|&(change, step, ref phases)| {
            let made = run(change, step, phase, snapshot.clone());
            async move {
                if phases.first() == Some(&phase) {
                    reporter.report(Event::Started {
                        address: change.address.clone(),
                        action: change.action,
                    });
                }
                let made = made.await?;
                if phases.last() == Some(&phase) {
                    reporter.report(Event::Finished {
                        address: change.address.clone(),
                        action: change.action,
                    });
                }
                Ok::<_, ComponentError>(made)
            }
        }))
        .await?;
        for made in results.into_iter().flatten() {
            record(&mut state, made);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Address};
    use crate::report::RecordingReporter;
    use std::sync::Mutex;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Phase {
        First,
        Second,
    }

    #[derive(Debug)]
    struct Step(Vec<Phase>, &'static str);

    impl Phased for Step {
        type Phase = Phase;
        fn phases(&self) -> Vec<Phase> {
            self.0.clone()
        }
    }

    fn change(key: &str, step: Step) -> Change<Step> {
        Change::new(Address::new("t", "r", key), Action::Create, vec![], step)
    }

    #[tokio::test]
    async fn phases_run_in_order_and_later_phases_see_what_earlier_ones_made() {
        let plan = Plan::new(vec![
            change("b", Step(vec![Phase::Second], "b")),
            change("a", Step(vec![Phase::First, Phase::Second], "a")),
        ]);
        let seen = Mutex::new(Vec::new());
        let reporter = RecordingReporter::default();
        let state = apply_phased(
            &plan,
            Vec::<String>::new(),
            &reporter,
            |_, step, phase, made: Arc<Vec<String>>| {
                seen.lock()
                    .unwrap()
                    .push(format!("{}@{phase:?} saw {made:?}", step.1));
                let out = vec![format!("{}{phase:?}", step.1)];
                async move { Ok(out) }
            },
            |state, made| state.push(made),
        )
        .await
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                "a@First saw []".to_owned(),
                "a@Second saw [\"aFirst\"]".to_owned(),
                "b@Second saw [\"aFirst\"]".to_owned(),
            ]
        );
        assert_eq!(state.len(), 3);
        // `a` is reported started once (first phase) and finished once (last phase).
        let started = reporter
            .events()
            .iter()
            .filter(|e| matches!(e, Event::Started { address, .. } if address.as_str() == "t.r[a]"))
            .count();
        assert_eq!(started, 1);
    }

    #[tokio::test]
    async fn a_refused_change_applies_nothing() {
        let plan = Plan::new(vec![
            change("a", Step(vec![Phase::First], "a")),
            change("b", Step(vec![Phase::First], "b")).refuse("needs --delete-images"),
        ]);
        let err = apply_phased(
            &plan,
            (),
            &crate::report::NullReporter,
            |_, _, _, _| async { panic!("nothing may run") },
            |_, _: ()| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ComponentError::Refused { address, .. } if address == "t.r[b]"));
    }
}
