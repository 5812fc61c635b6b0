//! Reaching AWS: the SDK config (standard credential chain, profile, region and
//! `AWS_ENDPOINT_URL`; or the local emulator) and the service clients built from it.

use anyhow::{bail, Result};
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_types::region::Region;
use aws_types::SdkConfig;

/// The service clients berth uses, all from one SDK config.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The region the clients talk to.
    pub region: String,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub iam: aws_sdk_iam::Client,
    pub appscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// Clients for `sdk`, each with `interceptors` (tests count requests and pick an account).
    pub fn new(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> Self {
        macro_rules! client {
            ($krate:ident) => {{
                let mut config = $krate::config::Builder::from(sdk);
                for interceptor in interceptors {
                    config.push_interceptor(interceptor.clone());
                }
                $krate::Client::from_conf(config.build())
            }};
        }
        Self {
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            logs: client!(aws_sdk_cloudwatchlogs),
            ecr: client!(aws_sdk_ecr),
            ssm: client!(aws_sdk_ssm),
            ec2: client!(aws_sdk_ec2),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            cloudmap: client!(aws_sdk_servicediscovery),
            rds: client!(aws_sdk_rds),
            secrets: client!(aws_sdk_secretsmanager),
            ecs: client!(aws_sdk_ecs),
            autoscaling: client!(aws_sdk_autoscaling),
            iam: client!(aws_sdk_iam),
            appscaling: client!(aws_sdk_applicationautoscaling),
            cloudwatch: client!(aws_sdk_cloudwatch),
            sns: client!(aws_sdk_sns),
        }
    }
}

/// Retries and timeouts, chosen for AWS's real behaviour rather than left at the SDK's
/// defaults (3 attempts, no operation timeout):
/// - adaptive retries, 10 attempts, backoff from 200 ms to 20 s: throttling on a big stack
///   (EC2 and ECS describe calls) clears within that, and the client slows itself down;
/// - a 10 s connect timeout and a 60 s limit per attempt, so a stalled connection is retried
///   instead of hanging a run whose waits all have deadlines; 5 minutes for a whole operation.
fn tuned(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use std::time::Duration;
    loader
        .retry_config(
            aws_config::retry::RetryConfig::adaptive()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        )
}

/// The SDK config for real AWS: the standard chain, with the stack's region when it names one.
pub async fn real(region: Option<&str>) -> Result<SdkConfig> {
    let mut loader = tuned(aws_config::defaults(BehaviorVersion::latest()));
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        bail!("no AWS region: set `stack.region` in the stack's config, or AWS_REGION, or a region in your AWS profile");
    }
    Ok(sdk)
}

/// The SDK config for the local emulator at `endpoint`: fixed test credentials, so no real
/// credential can leak to it and none is needed.
pub async fn local(endpoint: &str, region: Option<&str>) -> SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        "berth-local",
        "berth-local",
        None,
        None,
        "berth-local",
    );
    tuned(aws_config::defaults(BehaviorVersion::latest()))
        .endpoint_url(endpoint)
        .region(Region::new(region.unwrap_or("us-east-1").to_owned()))
        .credentials_provider(credentials)
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_and_timeouts_are_set_deliberately() {
        let sdk = local("http://127.0.0.1:1", None).await;
        let retry = sdk.retry_config().expect("a retry config");
        assert_eq!(retry.max_attempts(), 10);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        let timeouts = sdk.timeout_config().expect("a timeout config");
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(
            timeouts.connect_timeout(),
            Some(std::time::Duration::from_secs(10))
        );
    }
}
