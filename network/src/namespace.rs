//! The namespace family: the Cloud Map private DNS namespace the app's nodes find each other
//! in — the change it needs and the steps that make it.

use berth_core::{
    client_token, wait_for, Action, Address, AwsError, Change, ComponentError, FieldDiff, Poll,
    Reporter, Stack, WaitFor,
};

use crate::api::*;
use crate::component::{apply_err, missing, Created, Ids, Network, SLOW_RESOURCE_TIMEOUT};
use crate::observe::NetworkObserved;
use crate::plan::NetStep;
use crate::{address, NetworkSpec, COMPONENT};

/// The private DNS namespace; its name cannot change in place.
pub(crate) fn plan_namespace(
    spec: Option<&NetworkSpec>,
    obs: &NetworkObserved,
) -> Vec<Change<NetStep>> {
    let mut changes = Vec::new();
    let wanted_namespace = spec.and_then(|s| s.namespace.clone());
    match (&wanted_namespace, &obs.namespace) {
        (Some(name), None) => changes.push(Change::new(
            address::namespace(),
            Action::Create,
            vec![FieldDiff::added("name", name)],
            NetStep::CreateNamespace { name: name.clone() },
        )),
        (Some(name), Some(have)) if &have.name != name => changes.push(
            Change::new(
                address::namespace(),
                Action::Replace,
                vec![FieldDiff::changed("name", &have.name, name)],
                NetStep::DeleteNamespace { id: have.id.clone() },
            )
            .refuse("the namespace's name cannot change while services may be registered in it; take the stack down first"),
        ),
        (Some(_), Some(_)) => changes.push(Change::no_op(address::namespace())),
        (None, Some(have)) => changes.push(Change::new(
            address::namespace(),
            Action::Delete,
            vec![FieldDiff::removed("name", &have.name)],
            NetStep::DeleteNamespace { id: have.id.clone() },
        )),
        (None, None) => {}
    }
    changes
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    async fn wait_operation(
        &self,
        address: &Address,
        operation_id: &str,
        reporter: &dyn Reporter,
    ) -> Result<(), ComponentError> {
        let wait = WaitFor::new(
            format!("Cloud Map operation {operation_id}"),
            SLOW_RESOURCE_TIMEOUT,
        );
        wait_for(&wait, reporter, || async {
            Ok::<_, AwsError>(match self.cloudmap.operation(operation_id).await? {
                OperationStatus::Succeeded(_) => Poll::Ready(()),
                OperationStatus::Pending(status) => Poll::Pending(status),
                OperationStatus::Failed(cause) => Poll::Failed(cause),
            })
        })
        .await
        .map_err(|e| ComponentError::Wait {
            address: address.to_string(),
            source: Box::new(e),
        })
    }
}

impl<E: Ec2Api, L: ElbApi, C: CloudMapApi> Network<E, L, C> {
    /// Creates or deletes the namespace, waiting for Cloud Map to finish.
    pub(crate) async fn run_namespace_step(
        &self,
        stack: &Stack,
        change: &Change<NetStep>,
        step: &NetStep,
        ids: &Ids,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Created>, ComponentError> {
        let addr = &change.address;
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        let vpc = || ids.vpc.clone().ok_or_else(|| missing(addr, "the VPC"));
        match step {
            NetStep::CreateNamespace { name } => {
                let vpc = vpc()?;
                let token = client_token(stack, addr, &(name, &vpc));
                let operation = self
                    .cloudmap
                    .create_private_dns_namespace(name, &vpc, &token, &tags(name))
                    .await
                    .map_err(apply_err("creating", addr))?;
                self.wait_operation(addr, &operation, reporter).await?;
            }
            NetStep::DeleteNamespace { id } => match self.cloudmap.delete_namespace(id).await {
                Ok(operation) => self.wait_operation(addr, &operation, reporter).await?,
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(apply_err("deleting", addr)(err)),
            },
            other => unreachable!("not a namespace step: {other:?}"),
        }
        Ok(Vec::new())
    }
}
