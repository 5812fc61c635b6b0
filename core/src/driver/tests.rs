//! The driver against fake components: order of both passes, re-plans with real upstream
//! outputs, concurrency of independent components, failure isolation, refused re-plans.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::component::{Component, ComponentError, Grants, Known};
use crate::error::{AwsError, ErrorClass};
use crate::plan::{Address, Change, FieldDiff, Plan};
use crate::report::NullReporter;
use crate::stack::{Stack, StackName};

/// What exists, per component: a set of resource names.
type World = Arc<Mutex<BTreeMap<&'static str, BTreeSet<String>>>>;
type Log = Arc<Mutex<Vec<String>>>;

/// A component whose resources are names. Its wanted names come from the spec, and, when it is
/// wired to an upstream, one more: `on-<first upstream resource>`, which shows whether its
/// inputs were known.
#[derive(Clone)]
struct Fake {
    name: &'static str,
    world: World,
    log: Log,
    fail: bool,
    barrier: Option<Arc<tokio::sync::Barrier>>,
}

#[derive(Debug, Clone, Default)]
struct FakeOutputs(Vec<String>);

impl serde::Serialize for FakeOutputs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[async_trait]
impl Component for Fake {
    type Spec = BTreeSet<String>;
    type Inputs = Option<Known<String>>;
    type Observed = BTreeSet<String>;
    type Step = String;
    type Outputs = FakeOutputs;

    fn name(&self) -> &'static str {
        self.name
    }

    async fn observe(&self, _stack: &Stack) -> Result<BTreeSet<String>, ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:observe", self.name));
        Ok(self
            .world
            .lock()
            .unwrap()
            .get(self.name)
            .cloned()
            .unwrap_or_default())
    }

    fn plan(
        &self,
        _stack: &Stack,
        spec: &BTreeSet<String>,
        inputs: &Option<Known<String>>,
        observed: &BTreeSet<String>,
        _grants: &Grants,
    ) -> Plan<String> {
        let mut wanted = spec.clone();
        if let (Some(input), false) = (inputs, spec.is_empty()) {
            wanted.insert(format!("on-{input}"));
        }
        let mut changes = Vec::new();
        for name in wanted.difference(observed) {
            changes.push(Change::new(
                Address::new(self.name, "r", name),
                Action::Create,
                vec![FieldDiff::added("name", name)],
                format!("create:{name}"),
            ));
        }
        for name in observed.difference(&wanted) {
            changes.push(Change::new(
                Address::new(self.name, "r", name),
                Action::Delete,
                vec![],
                format!("delete:{name}"),
            ));
        }
        Plan::new(changes)
    }

    async fn apply(
        &self,
        _stack: &Stack,
        plan: &Plan<String>,
        _observed: &BTreeSet<String>,
        _reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        if self.fail {
            return Err(ComponentError::Apply {
                action: "creating",
                address: format!("{}.r", self.name),
                source: AwsError::new("Create", ErrorClass::Invalid, "boom"),
            });
        }
        for change in plan.actionable() {
            let step = change.step.clone().unwrap();
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:{step}", self.name));
            let mut world = self.world.lock().unwrap();
            let set = world.entry(self.name).or_default();
            match step.split_once(':').unwrap() {
                ("create", name) => set.insert(name.to_owned()),
                (_, name) => set.remove(name),
            };
        }
        Ok(())
    }

    fn outputs(&self, _stack: &Stack, observed: &BTreeSet<String>) -> FakeOutputs {
        FakeOutputs(observed.iter().cloned().collect())
    }
}

struct Harness {
    world: World,
    log: Log,
}

impl Harness {
    fn new() -> Self {
        Self {
            world: Arc::default(),
            log: Arc::default(),
        }
    }

    fn fake(&self, name: &'static str) -> Fake {
        Fake {
            name,
            world: self.world.clone(),
            log: self.log.clone(),
            fail: false,
            barrier: None,
        }
    }

    fn has(&self, name: &'static str, items: &[&str]) {
        self.world
            .lock()
            .unwrap()
            .insert(name, items.iter().map(|s| s.to_string()).collect());
    }

    /// The applies (not the observes), in order.
    fn applied(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.ends_with(":observe"))
            .cloned()
            .collect()
    }
}

fn spec(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

/// Wires the dependent to `a`'s resource that `a`'s spec wants (its first), as a real input
/// is wired to the upstream resource the upstream's spec describes: known once it exists.
fn wire_to_a(a_spec: &[&str]) -> impl Fn(&Outputs) -> Option<Known<String>> + Send + Sync {
    let wanted = a_spec.first().map(|s| s.to_string());
    move |outputs| {
        let a = outputs.get::<FakeOutputs>()?;
        let wanted = wanted.clone()?;
        Some(Known::from_option(a.0.contains(&wanted).then_some(wanted)))
    }
}

fn two_level(h: &Harness, a: &[&str], b: &[&str]) -> StackDriver {
    let mut driver = StackDriver::new(stack(), Grants::default());
    driver.add(Node::new(h.fake("a"), spec(a))).unwrap();
    driver
        .add(Node::wired(h.fake("b"), spec(b), &["a"], wire_to_a(a)))
        .unwrap();
    driver
}

async fn plan_and_apply(driver: &StackDriver) -> (StackPlan, ApplyReport) {
    let observation = driver.observe().await.unwrap();
    let plan = driver.plan(&observation);
    let report = driver.apply(observation, &plan, &NullReporter).await;
    (plan, report)
}

#[tokio::test]
async fn creates_go_forward_with_inputs_known_after_apply_then_real() {
    let h = Harness::new();
    let driver = two_level(&h, &["x1"], &["svc"]);
    let (plan, report) = plan_and_apply(&driver).await;
    // The dependent's input was not known when planned: the plan says so instead of guessing.
    let b = plan.component("b").unwrap();
    assert!(b
        .changes()
        .iter()
        .any(|c| c.address.as_str() == "b.r[on-(known after apply)]"));
    // Applied with the real value, after its upstream.
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        h.applied(),
        vec!["a:create:x1", "b:create:on-x1", "b:create:svc"]
    );
    assert_eq!(report.applied, vec!["a", "b"]);
}

#[tokio::test]
async fn deletes_go_in_reverse_dependents_first() {
    let h = Harness::new();
    h.has("a", &["x1"]);
    h.has("b", &["on-x1", "svc"]);
    let driver = two_level(&h, &[], &[]);
    let (_, report) = plan_and_apply(&driver).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        h.applied(),
        vec!["b:delete:on-x1", "b:delete:svc", "a:delete:x1"]
    );
}

#[tokio::test]
async fn a_dependent_moves_off_before_what_it_used_is_deleted() {
    let h = Harness::new();
    h.has("a", &["x1"]);
    h.has("b", &["on-x1", "svc"]);
    // a replaces x1 by x2: b must move to x2 (forward) before x1 goes (reverse).
    let driver = two_level(&h, &["x2"], &["svc"]);
    let (_, report) = plan_and_apply(&driver).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        h.applied(),
        vec![
            "a:create:x2",
            "b:create:on-x2",
            "b:delete:on-x1",
            "a:delete:x1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn independent_components_apply_concurrently() {
    let h = Harness::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut driver = StackDriver::new(stack(), Grants::default());
    for name in ["a", "c"] {
        let mut fake = h.fake(name);
        fake.barrier = Some(barrier.clone());
        driver.add(Node::new(fake, spec(&["x"]))).unwrap();
    }
    // Each apply waits for the other at the barrier: run one after the other, they never meet.
    let (_, report) = tokio::time::timeout(Duration::from_secs(60), plan_and_apply(&driver))
        .await
        .expect("both components were applied at once");
    assert!(report.is_ok());
}

#[tokio::test]
async fn a_failure_stops_its_dependents_only() {
    let h = Harness::new();
    let mut driver = StackDriver::new(stack(), Grants::default());
    let mut a = h.fake("a");
    a.fail = true;
    driver.add(Node::new(a, spec(&["x1"]))).unwrap();
    driver
        .add(Node::wired(
            h.fake("b"),
            spec(&["svc"]),
            &["a"],
            wire_to_a(&["x1"]),
        ))
        .unwrap();
    driver.add(Node::new(h.fake("c"), spec(&["y"]))).unwrap();
    let (_, report) = plan_and_apply(&driver).await;
    assert_eq!(h.applied(), vec!["c:create:y"]);
    let errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        vec![
            "a".to_owned(),
            "b was not applied: it depends on a, which did not finish".to_owned()
        ]
    );
    assert!(matches!(
        &report.errors[0],
        StackError::Failed {
            source: ComponentError::Apply { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn deletes_of_what_a_failed_dependent_uses_are_held() {
    let h = Harness::new();
    h.has("a", &["x1"]);
    h.has("b", &["on-x1"]);
    let mut driver = StackDriver::new(stack(), Grants::default());
    driver.add(Node::new(h.fake("a"), spec(&[]))).unwrap();
    let mut b = h.fake("b");
    b.fail = true;
    driver
        .add(Node::wired(b, spec(&[]), &["a"], wire_to_a(&[])))
        .unwrap();
    let (_, report) = plan_and_apply(&driver).await;
    assert!(h.applied().is_empty(), "{:?}", h.applied());
    assert_eq!(report.errors.len(), 2);
    assert!(matches!(
        report.errors[1],
        StackError::DeletesHeld {
            component: "a",
            dependent: "b"
        }
    ));
}

#[tokio::test]
async fn a_replan_with_a_delete_not_confirmed_is_refused() {
    let h = Harness::new();
    h.has("b", &["svc"]);
    let driver = two_level(&h, &["x1"], &["svc"]);
    let observation = driver.observe().await.unwrap();
    let plan = driver.plan(&observation);
    // Something appears under b between the plan and the apply (another run, a hand change).
    h.world
        .lock()
        .unwrap()
        .get_mut("b")
        .unwrap()
        .insert("stray".into());
    let report = driver.apply(observation, &plan, &NullReporter).await;
    // a is applied; b, planned again after a changed, would now delete `stray`: refused whole.
    assert_eq!(h.applied(), vec!["a:create:x1"]);
    assert_eq!(report.errors.len(), 1);
    let StackError::Failed {
        component: "b",
        source: ComponentError::Refused { address, reason },
    } = &report.errors[0]
    else {
        panic!("{:?}", report.errors);
    };
    assert_eq!(address, "b.r[stray]");
    assert!(
        reason.contains("the plan you confirmed did not"),
        "{reason}"
    );
}

#[tokio::test]
async fn nothing_to_change_observes_once_and_applies_nothing() {
    let h = Harness::new();
    h.has("a", &["x1"]);
    h.has("b", &["on-x1", "svc"]);
    let driver = two_level(&h, &["x1"], &["svc"]);
    let (plan, report) = plan_and_apply(&driver).await;
    assert!(!plan.combined().has_changes());
    assert!(report.applied.is_empty());
    assert_eq!(h.log.lock().unwrap().len(), 2, "one observe per component");
}

#[test]
fn a_dependency_must_be_added_first() {
    let h = Harness::new();
    let mut driver = StackDriver::new(stack(), Grants::default());
    let err = driver
        .add(Node::wired(h.fake("b"), spec(&[]), &["a"], wire_to_a(&[])))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "component b depends on a, which was not added before it"
    );
}
