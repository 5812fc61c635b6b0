//! Stack identity: the validated stack name, resource naming and the tags every resource carries.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::Address;

/// Tag key naming the stack a resource belongs to. Observe filters on it.
pub const TAG_STACK: &str = "berth:stack";
/// Tag key naming the component (`logging`, `registry`, …) that owns a resource.
pub const TAG_COMPONENT: &str = "berth:component";
/// Tag key holding the resource's logical address, e.g. `logging.log_group[web]`.
pub const TAG_ADDRESS: &str = "berth:address";
/// The console's display name.
pub const TAG_NAME: &str = "Name";

/// A stack name: 1–32 characters, lowercase ASCII letters, digits and `-`, starting with a
/// letter and not ending with `-`. Short and plain because it prefixes every resource name
/// (ECR, log groups, load balancers of at most 32 characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StackName(String);

/// Why a string is not a usable stack name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stack name {name:?}: {reason}")]
pub struct InvalidStackName {
    pub name: String,
    pub reason: &'static str,
}

impl StackName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidStackName> {
        let name = name.into();
        let invalid = |reason| InvalidStackName {
            name: name.clone(),
            reason,
        };
        if name.is_empty() || name.len() > 32 {
            return Err(invalid("it must be 1 to 32 characters long"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("it must start with a lowercase letter"));
        }
        if name.ends_with('-') {
            return Err(invalid("it must not end with '-'"));
        }
        // RDS identifiers (and so `<stack>-db`) reject consecutive hyphens.
        if name.contains("--") {
            return Err(invalid("it must not contain '--'"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                "only lowercase letters, digits and '-' are allowed",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stack a run works on. Cheap to clone; every component takes it by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    name: StackName,
}

impl Stack {
    pub fn new(name: StackName) -> Self {
        Self { name }
    }

    pub fn name(&self) -> &StackName {
        &self.name
    }

    /// The AWS name of a name-keyed resource: `<stack>-<name>`.
    pub fn resource_name(&self, name: &str) -> String {
        format!("{}-{}", self.name, name)
    }

    /// The tags a resource is created with, in the same call that creates it.
    pub fn tags(&self, component: &str, address: &Address, display_name: &str) -> Tags {
        let mut tags = BTreeMap::new();
        tags.insert(TAG_STACK.to_owned(), self.name.to_string());
        tags.insert(TAG_COMPONENT.to_owned(), component.to_owned());
        tags.insert(TAG_ADDRESS.to_owned(), address.to_string());
        tags.insert(TAG_NAME.to_owned(), display_name.to_owned());
        Tags(tags)
    }

    /// Whether a resource's tags say it is this stack's and `component`'s: the only test of
    /// ownership. Names and filtered lists only find candidates (a name can be anyone's, and
    /// some endpoints ignore tag filters); what berth changes or deletes must pass this.
    pub fn owns(&self, component: &str, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_STACK).map(String::as_str) == Some(self.name.as_str())
            && tags.get(TAG_COMPONENT).map(String::as_str) == Some(component)
    }

    /// Why a change is refused when a resource with the name the stack would use exists but
    /// is not the stack's: berth neither adopts, changes nor deletes it.
    pub fn foreign_refusal(&self, component: &str, kind: &str, name: &str) -> String {
        format!(
            "a {kind} named {name} exists but is not stack {stack}'s (it lacks the tags \
             {TAG_STACK}={stack} and {TAG_COMPONENT}={component}); berth will not adopt, change \
             or delete it: remove or rename it, give it those tags to hand it to the stack, or \
             use another stack name",
            stack = self.name
        )
    }
}

/// Resource tags, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// An idempotency token for APIs that take one: the same stack, address and spec always give
/// the same token, so a create retried after a crash is recognised by AWS instead of duplicated.
/// 64 hex characters, the longest length every AWS client-token field accepts.
pub fn client_token(stack: &Stack, address: &Address, spec: &impl Serialize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(stack.name().as_str().as_bytes());
    hasher.update([0]);
    hasher.update(address.to_string().as_bytes());
    hasher.update([0]);
    // Serialising plain data to JSON cannot fail; an error here would be a bug in a Spec type.
    hasher.update(serde_json::to_vec(spec).expect("spec serialises to JSON"));
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_are_validated() {
        assert!(StackName::new("prod").is_ok());
        assert!(StackName::new("prod-2").is_ok());
        for bad in [
            "",
            "Prod",
            "2prod",
            "prod-",
            "pr_od",
            "pr--od",
            &"a".repeat(33),
        ] {
            assert!(StackName::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn tags_name_stack_component_and_address() {
        let stack = Stack::new(StackName::new("prod").unwrap());
        let address = Address::new("logging", "log_group", "web");
        let tags = stack.tags("logging", &address, "/berth/prod/web");
        assert_eq!(tags.get(TAG_STACK), Some("prod"));
        assert_eq!(tags.get(TAG_COMPONENT), Some("logging"));
        assert_eq!(tags.get(TAG_ADDRESS), Some("logging.log_group[web]"));
        assert_eq!(tags.get(TAG_NAME), Some("/berth/prod/web"));
        assert!(stack.owns("logging", &tags.0));
    }

    #[test]
    fn ownership_needs_the_stack_and_the_component() {
        let stack = Stack::new(StackName::new("prod").unwrap());
        let address = Address::new("logging", "log_group", "web");
        let tags = stack.tags("logging", &address, "/berth/prod/web").0;
        assert!(!stack.owns("registry", &tags));
        let other = Stack::new(StackName::new("prod-db-eu").unwrap());
        assert!(!other.owns("logging", &tags));
        let mut untagged = tags.clone();
        untagged.remove(TAG_STACK);
        assert!(!stack.owns("logging", &untagged));
        let refusal = stack.foreign_refusal("database", "subnet group", "prod-db");
        assert!(refusal.contains("subnet group named prod-db"), "{refusal}");
        assert!(
            refusal.contains("berth:stack=prod and berth:component=database"),
            "{refusal}"
        );
    }

    #[test]
    fn client_tokens_are_stable_and_spec_sensitive() {
        let stack = Stack::new(StackName::new("prod").unwrap());
        let address = Address::new("registry", "repository", "web");
        let a = client_token(&stack, &address, &("x", 1));
        assert_eq!(a, client_token(&stack, &address, &("x", 1)));
        assert_ne!(a, client_token(&stack, &address, &("x", 2)));
        assert_eq!(a.len(), 64);
    }
}
