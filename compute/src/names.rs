//! The AWS names of the stack's compute resources and their addresses.

use berth_core::{Address, Stack};

use serde::Serialize;

use crate::{GeneratedSecret, ScalingMetric, COMPONENT};

/// The roles compute makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RoleKind {
    /// The EC2 instances' role (ECS agent, Session Manager).
    Instance,
    /// A service's task execution role (image pull, logs, secrets).
    Execution(String),
    /// A service's task role (what the app may call).
    Task(String),
}

impl RoleKind {
    /// Its key in the role's address: `instance`, `web-execution`, `web-task`.
    pub fn key(&self) -> String {
        match self {
            RoleKind::Instance => "instance".to_owned(),
            RoleKind::Execution(s) => format!("{s}-execution"),
            RoleKind::Task(s) => format!("{s}-task"),
        }
    }
}

/// Names of a stack's compute resources. Name-keyed resources are `<stack>-<name>`; IAM
/// resources also live under the path `/berth/<stack>/`, so one list call finds them.
#[derive(Debug, Clone)]
pub struct Names<'a> {
    stack: &'a Stack,
}

impl<'a> Names<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Self { stack }
    }

    pub fn cluster(&self) -> String {
        self.stack.resource_name("cluster")
    }

    pub fn iam_path(&self) -> String {
        format!("/berth/{}/", self.stack.name())
    }

    pub fn instance_role(&self) -> String {
        self.stack.resource_name("ecs-instance")
    }

    pub fn instance_profile(&self) -> String {
        self.stack.resource_name("ecs-instance")
    }

    /// One execution role per service: it reads exactly that service's secrets and writes
    /// that service's log group.
    pub fn execution_role(&self, service: &str) -> String {
        self.stack.resource_name(&format!("{service}-execution"))
    }

    pub fn task_role(&self, service: &str) -> String {
        self.stack.resource_name(&format!("{service}-task"))
    }

    pub fn role(&self, role: &RoleKind) -> String {
        match role {
            RoleKind::Instance => self.instance_role(),
            RoleKind::Execution(s) => self.execution_role(s),
            RoleKind::Task(s) => self.task_role(s),
        }
    }

    pub fn launch_template(&self, pool: &str) -> String {
        self.stack.resource_name(pool)
    }

    pub fn group(&self, pool: &str) -> String {
        self.stack.resource_name(pool)
    }

    /// `<stack>-<pool>`, or `cp-<stack>-<pool>` when the stack's name starts with a prefix
    /// ECS reserves for capacity providers (`aws`, `ecs`, `fargate`).
    pub fn capacity_provider(&self, pool: &str) -> String {
        let name = self.stack.resource_name(pool);
        if ["aws", "ecs", "fargate"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            format!("cp-{name}")
        } else {
            name
        }
    }

    pub fn task_family(&self, service: &str) -> String {
        self.stack.resource_name(service)
    }

    /// ECS services live in the stack's own cluster: the service's name is enough.
    pub fn service(&self, service: &str) -> String {
        service.to_owned()
    }

    /// Cloud Map service names are DNS labels in the stack's namespace.
    pub fn discovery_service(&self, service: &str) -> String {
        service.to_owned()
    }

    /// The description that marks the stack's Cloud Map services.
    pub fn discovery_description(&self) -> String {
        format!("berth stack {}", self.stack.name())
    }

    /// Application Auto Scaling's id of a service.
    pub fn scaling_resource_id(&self, service: &str) -> String {
        format!("service/{}/{}", self.cluster(), service)
    }

    pub fn scaling_resource_prefix(&self) -> String {
        format!("service/{}/", self.cluster())
    }

    pub fn scaling_policy(&self, service: &str, metric: ScalingMetric) -> String {
        self.stack
            .resource_name(&format!("{service}-{}", metric.key()))
    }

    pub fn alarm_prefix(&self) -> String {
        self.stack.resource_name("")
    }

    pub fn cpu_alarm(&self, service: &str) -> String {
        self.stack.resource_name(&format!("{service}-cpu-high"))
    }

    pub fn alarm_topic(&self) -> String {
        self.stack.resource_name("alarms")
    }

    pub fn secret_prefix(&self) -> String {
        format!("berth/{}/compute/", self.stack.name())
    }

    pub fn secret(&self, secret: GeneratedSecret) -> String {
        format!("{}{}", self.secret_prefix(), secret.key())
    }
}

/// Addresses of compute's resources.
pub mod address {
    use super::*;

    pub fn role(role: &RoleKind) -> Address {
        Address::new(COMPONENT, "role", &role.key())
    }
    pub fn instance_profile() -> Address {
        Address::singleton(COMPONENT, "instance_profile")
    }
    pub fn secret(secret: GeneratedSecret) -> Address {
        Address::new(COMPONENT, "secret", secret.key())
    }
    pub fn launch_template(pool: &str) -> Address {
        Address::new(COMPONENT, "launch_template", pool)
    }
    pub fn group(pool: &str) -> Address {
        Address::new(COMPONENT, "auto_scaling_group", pool)
    }
    pub fn capacity_provider(pool: &str) -> Address {
        Address::new(COMPONENT, "capacity_provider", pool)
    }
    pub fn cluster() -> Address {
        Address::singleton(COMPONENT, "cluster")
    }
    pub fn cluster_capacity_providers() -> Address {
        Address::singleton(COMPONENT, "cluster_capacity_providers")
    }
    pub fn discovery(service: &str) -> Address {
        Address::new(COMPONENT, "discovery_service", service)
    }
    pub fn task_definition(service: &str) -> Address {
        Address::new(COMPONENT, "task_definition", service)
    }
    pub fn service(service: &str) -> Address {
        Address::new(COMPONENT, "service", service)
    }
    pub fn scaling(service: &str) -> Address {
        Address::new(COMPONENT, "scaling", service)
    }
    pub fn alarm_topic() -> Address {
        Address::singleton(COMPONENT, "alarm_topic")
    }
    pub fn cpu_alarm(service: &str) -> Address {
        Address::new(COMPONENT, "cpu_alarm", service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::StackName;

    #[test]
    fn capacity_providers_avoid_reserved_prefixes() {
        let prod = Stack::new(StackName::new("prod").unwrap());
        assert_eq!(
            Names::new(&prod).capacity_provider("default"),
            "prod-default"
        );
        for reserved in ["ecsapp", "aws-demo", "fargatey"] {
            let stack = Stack::new(StackName::new(reserved).unwrap());
            assert_eq!(
                Names::new(&stack).capacity_provider("default"),
                format!("cp-{reserved}-default")
            );
        }
    }
}
