//! Plans: the sorted list of changes a component would make, with before/after field values,
//! secrets redacted by construction. Plans serialise to JSON; the component-specific step that
//! carries a change out rides along, unserialised.

use std::fmt;

use serde::{Serialize, Serializer};

/// A stable logical path naming one resource, e.g. `network.subnet.private[us-east-2a]`.
/// Addresses sort the plan and are written into the `berth:address` tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

impl Address {
    /// `component.kind[key]`.
    pub fn new(component: &str, kind: &str, key: &str) -> Self {
        Self(format!("{component}.{kind}[{key}]"))
    }

    /// `component.kind`, for a resource a component has only one of.
    pub fn singleton(component: &str, kind: &str) -> Self {
        Self(format!("{component}.{kind}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What a change does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    /// The terraform-style marker: `+` create, `~` update, `-` delete, `-/+` replace.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// A field value in a plan. A secret is never stored, so it can never be printed.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Value(serde_json::Value),
    Sensitive,
}

impl FieldValue {
    pub fn of(value: impl Serialize) -> Self {
        // Plain data always serialises to JSON; anything else is a bug in the caller's type.
        FieldValue::Value(serde_json::to_value(value).expect("field value serialises to JSON"))
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Value(v) => write!(f, "{v}"),
            FieldValue::Sensitive => f.write_str("(sensitive)"),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Value(v) => v.serialize(s),
            FieldValue::Sensitive => s.serialize_str("(sensitive)"),
        }
    }
}

/// One field's before and after. `None` means absent (on create, before is `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    pub name: String,
    pub before: Option<FieldValue>,
    pub after: Option<FieldValue>,
}

impl FieldDiff {
    pub fn new(name: &str, before: Option<FieldValue>, after: Option<FieldValue>) -> Self {
        Self {
            name: name.to_owned(),
            before,
            after,
        }
    }

    /// A field that is being set where there was nothing.
    pub fn added(name: &str, after: impl Serialize) -> Self {
        Self::new(name, None, Some(FieldValue::of(after)))
    }

    /// A field whose value goes away.
    pub fn removed(name: &str, before: impl Serialize) -> Self {
        Self::new(name, Some(FieldValue::of(before)), None)
    }

    /// A field changing from one value to another.
    pub fn changed(name: &str, before: impl Serialize, after: impl Serialize) -> Self {
        Self::new(
            name,
            Some(FieldValue::of(before)),
            Some(FieldValue::of(after)),
        )
    }

    /// A secret field: the plan records that it changes, never what it holds.
    pub fn sensitive(name: &str, had_before: bool, has_after: bool) -> Self {
        Self::new(
            name,
            had_before.then_some(FieldValue::Sensitive),
            has_after.then_some(FieldValue::Sensitive),
        )
    }
}

/// One resource's planned change. `step` is the component's own instruction for carrying it
/// out; it is not part of the plan's JSON. `refused` is set when the change needs an explicit
/// permission the run does not have (deleting a repository that holds images, say): the
/// reason, naming what lifts it. A plan with a refused change must not be applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change<S = ()> {
    pub address: Address,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    #[serde(skip)]
    pub step: Option<S>,
}

impl<S> Change<S> {
    pub fn no_op(address: Address) -> Self {
        Self {
            address,
            action: Action::NoOp,
            fields: Vec::new(),
            refused: None,
            step: None,
        }
    }

    pub fn new(address: Address, action: Action, fields: Vec<FieldDiff>, step: S) -> Self {
        Self {
            address,
            action,
            fields,
            refused: None,
            step: Some(step),
        }
    }

    pub fn refuse(mut self, reason: impl Into<String>) -> Self {
        self.refused = Some(reason.into());
        self
    }

    /// The change without its step, for rendering and merging plans of several components.
    pub fn erase(&self) -> Change {
        Change {
            address: self.address.clone(),
            action: self.action,
            fields: self.fields.clone(),
            refused: self.refused.clone(),
            step: None,
        }
    }
}

/// A component's plan: changes sorted by address, one per resource the spec or the cloud knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Plan<S = ()> {
    changes: Vec<Change<S>>,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Self {
            changes: Vec::new(),
        }
    }
}

impl<S> Plan<S> {
    pub fn new(mut changes: Vec<Change<S>>) -> Self {
        changes.sort_by(|a, b| a.address.cmp(&b.address));
        Self { changes }
    }

    pub fn changes(&self) -> &[Change<S>] {
        &self.changes
    }

    /// Changes that do something (everything but no-ops).
    pub fn actionable(&self) -> impl Iterator<Item = &Change<S>> {
        self.changes.iter().filter(|c| c.action != Action::NoOp)
    }

    pub fn has_changes(&self) -> bool {
        self.actionable().next().is_some()
    }

    pub fn refused(&self) -> impl Iterator<Item = &Change<S>> {
        self.changes.iter().filter(|c| c.refused.is_some())
    }

    /// The first refused change as (address, reason): what `apply` must refuse to start on.
    pub fn first_refusal(&self) -> Option<(String, String)> {
        self.refused()
            .next()
            .map(|c| (c.address.to_string(), c.refused.clone().unwrap_or_default()))
    }

    /// The changes `keep` selects, as a plan of their own (the driver applies creates and
    /// deletes in separate passes).
    pub fn retain(self, keep: impl Fn(&Change<S>) -> bool) -> Plan<S> {
        Plan {
            changes: self.changes.into_iter().filter(|c| keep(c)).collect(),
        }
    }

    pub fn erase(&self) -> Plan {
        Plan {
            changes: self.changes.iter().map(Change::erase).collect(),
        }
    }

    /// Merges plans of several components into one sorted plan.
    pub fn merge(plans: impl IntoIterator<Item = Plan<S>>) -> Plan<S> {
        Plan::new(plans.into_iter().flat_map(|p| p.changes).collect())
    }

    /// Counts of creates, updates (including replaces) and deletes, for summaries.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::NoOp => summary.unchanged += 1,
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        summary
    }
}

/// How many changes of each kind a plan has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} to replace, {} to delete, {} unchanged",
            self.create, self.update, self.replace, self.delete, self.unchanged
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_sort_by_address_and_serialise_without_steps() {
        let plan = Plan::new(vec![
            Change::new(
                Address::new("registry", "repository", "web"),
                Action::Create,
                vec![FieldDiff::added("scan_on_push", true)],
                42u8,
            ),
            Change::no_op(Address::new("logging", "log_group", "web")),
        ]);
        assert_eq!(plan.changes()[0].address.as_str(), "logging.log_group[web]");
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"address": "logging.log_group[web]", "action": "no_op"},
                {"address": "registry.repository[web]", "action": "create",
                 "fields": [{"name": "scan_on_push", "before": null, "after": true}]}
            ])
        );
        assert!(plan.has_changes());
        assert_eq!(plan.summary().create, 1);
    }

    #[test]
    fn sensitive_fields_never_hold_the_value() {
        let diff = FieldDiff::sensitive("password", false, true);
        let json = serde_json::to_string(&diff).unwrap();
        assert_eq!(
            json,
            r#"{"name":"password","before":null,"after":"(sensitive)"}"#
        );
    }

    #[test]
    fn a_plan_of_no_ops_has_no_changes() {
        let plan: Plan = Plan::new(vec![Change::no_op(Address::singleton("x", "y"))]);
        assert!(!plan.has_changes());
    }
}
