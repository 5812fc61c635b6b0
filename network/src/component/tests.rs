//! Apply against mocked facades: ordering, waits, retries and failure causes, which the
//! emulator cannot show (its NAT gateways are available at once and nothing is ever in use).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_core::{Action, ErrorClass, RecordingReporter, StackName};
use mockall::Sequence;

use super::*;
use crate::address;
use crate::api::{MockCloudMapApi, MockEc2Api, MockElbApi};
use berth_core::Event;

fn stack() -> Stack {
    Stack::new(StackName::new("prod").unwrap())
}

fn one_step(address: Address, action: Action, step: NetStep) -> Plan<NetStep> {
    Plan::new(vec![Change::new(address, action, vec![], step)])
}

fn nat(state: &str, failure: Option<&str>) -> NatDetail {
    NatDetail {
        subnet_id: "subnet-1".into(),
        allocation_id: Some("eipalloc-1".into()),
        state: state.into(),
        failure: failure.map(str::to_owned),
    }
}

#[tokio::test(start_paused = true)]
async fn a_nat_is_deleted_and_waited_for_before_its_ip_is_released() {
    let mut ec2 = MockEc2Api::new();
    let mut seq = Sequence::new();
    ec2.expect_delete_nat_gateway()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    ec2.expect_nat_gateway()
        .times(3)
        .in_sequence(&mut seq)
        .returning(move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Ok(Some(nat(if n < 2 { "deleting" } else { "deleted" }, None)))
        });
    ec2.expect_release_address()
        .withf(|id| id == "eipalloc-1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let network = Network::new(ec2, MockElbApi::new(), MockCloudMapApi::new());
    let plan = one_step(
        address::nat_gateway("us-east-2a"),
        Action::Delete,
        NetStep::DeleteNatGateway {
            nat_id: Some("nat-1".into()),
            allocation_id: Some("eipalloc-1".into()),
        },
    );
    let reporter = RecordingReporter::default();
    network
        .apply(&stack(), &plan, &NetworkObserved::default(), &reporter)
        .await
        .unwrap();
    let waiting: Vec<_> = reporter
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Waiting { what, status, .. } => Some((what, status)),
            _ => None,
        })
        .collect();
    assert_eq!(waiting.len(), 2);
    assert_eq!(
        waiting[0],
        (
            "NAT gateway nat-1 to be deleted".to_owned(),
            "deleting".to_owned()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_blocked_by_lingering_interfaces_is_retried_until_free() {
    let mut ec2 = MockEc2Api::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    ec2.expect_delete_subnet().returning(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 3 {
            Err(AwsError::new(
                "DeleteSubnet",
                ErrorClass::Conflict,
                "DependencyViolation: has dependencies",
            ))
        } else {
            Ok(())
        }
    });
    let network = Network::new(ec2, MockElbApi::new(), MockCloudMapApi::new());
    let plan = one_step(
        address::subnet(Tier::Public, "us-east-2a"),
        Action::Delete,
        NetStep::DeleteSubnet {
            subnet_id: "subnet-1".into(),
        },
    );
    let reporter = RecordingReporter::default();
    network
        .apply(&stack(), &plan, &NetworkObserved::default(), &reporter)
        .await
        .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert!(reporter.events().iter().any(|e| matches!(e,
        Event::Waiting { status, .. } if status.contains("still in use"))));
}

#[tokio::test(start_paused = true)]
async fn a_delete_still_blocked_at_the_deadline_says_why() {
    let mut ec2 = MockEc2Api::new();
    ec2.expect_delete_security_group().returning(|_| {
        Err(AwsError::new(
            "DeleteSecurityGroup",
            ErrorClass::Conflict,
            "DependencyViolation: in use by eni-1",
        ))
    });
    let network = Network::new(ec2, MockElbApi::new(), MockCloudMapApi::new());
    let plan = one_step(
        address::security_group(SgRole::App),
        Action::Delete,
        NetStep::DeleteSecurityGroup {
            role: SgRole::App,
            group_id: "sg-1".into(),
        },
    );
    let err = network
        .apply(
            &stack(),
            &plan,
            &NetworkObserved::default(),
            &berth_core::NullReporter,
        )
        .await
        .unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.starts_with("waiting for network.security_group[app]: gave up waiting"),
        "{chain}"
    );
    assert!(chain.contains("in use by eni-1"), "{chain}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_nat_names_aws_reason() {
    let mut ec2 = MockEc2Api::new();
    ec2.expect_allocate_address()
        .returning(|_| Ok("eipalloc-9".into()));
    ec2.expect_create_nat_gateway()
        .withf(|subnet, allocation, token, tags| {
            subnet == "subnet-pub-a"
                && allocation == "eipalloc-9"
                && token.len() == 64
                && tags.get("berth:address") == Some("network.nat_gateway[us-east-2a]")
        })
        .returning(|_, _, _, _| Ok("nat-9".into()));
    ec2.expect_nat_gateway().returning(|_| {
        Ok(Some(nat(
            "failed",
            Some("Elastic IP address eipalloc-9 is already associated"),
        )))
    });
    let network = Network::new(ec2, MockElbApi::new(), MockCloudMapApi::new());
    let plan = one_step(
        address::nat_gateway("us-east-2a"),
        Action::Create,
        NetStep::CreateNatGateway {
            az: "us-east-2a".into(),
            allocation_id: None,
        },
    );
    let mut observed = NetworkObserved::default();
    observed.subnets.insert(
        (Tier::Public, "us-east-2a".into()),
        Tagged::new(
            "subnet-pub-a",
            stack()
                .tags(
                    COMPONENT,
                    &address::subnet(Tier::Public, "us-east-2a"),
                    "prod-public-a",
                )
                .0,
            SubnetDetail {
                vpc_id: "vpc-1".into(),
                cidr: "10.0.96.0/24".into(),
                az: "us-east-2a".into(),
            },
        ),
    );
    let err = network
        .apply(&stack(), &plan, &observed, &berth_core::NullReporter)
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("Elastic IP address eipalloc-9 is already associated"),
        "{cause}"
    );
}

#[tokio::test]
async fn a_refused_plan_is_not_applied() {
    // No expectations: any call would fail the test.
    let network = Network::new(MockEc2Api::new(), MockElbApi::new(), MockCloudMapApi::new());
    let plan = Plan::new(vec![Change::new(
        address::vpc(),
        Action::Replace,
        vec![],
        NetStep::SetVpcDns {
            vpc_id: "vpc-1".into(),
        },
    )
    .refuse("no")]);
    let err = network
        .apply(
            &stack(),
            &plan,
            &NetworkObserved::default(),
            &berth_core::NullReporter,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "refusing to change network.vpc: no");
}
