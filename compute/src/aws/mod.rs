//! The SDK implementations of compute's facades, one file per AWS service, and
//! [`AwsFacades`], the set of them built from one SDK config.

mod appscaling;
mod autoscaling;
mod cloudmap;
mod cloudwatch;
mod ecs;
mod iam;
mod launch_templates;
mod secrets;
mod sns;
mod ssm;

pub use appscaling::AppScaling;
pub use autoscaling::AutoScaling;
pub use cloudmap::CloudMap;
pub use cloudwatch::CloudWatch;
pub use ecs::Ecs;
pub use iam::Iam;
pub use launch_templates::LaunchTemplates;
pub use secrets::SecretsManager;
pub use sns::Sns;
pub use ssm::Ssm;

use crate::component::{Compute, Facades};

/// Every facade over the SDK.
#[derive(Debug, Clone)]
pub struct AwsFacades {
    pub ecs: Ecs,
    pub auto_scaling: AutoScaling,
    pub launch_templates: LaunchTemplates,
    pub iam: Iam,
    pub ssm: Ssm,
    pub app_scaling: AppScaling,
    pub cloudwatch: CloudWatch,
    pub sns: Sns,
    pub secrets: SecretsManager,
    pub cloud_map: CloudMap,
}

impl AwsFacades {
    /// Clients for every service from one SDK config (credentials, region, endpoint).
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Self {
            ecs: Ecs::new(aws_sdk_ecs::Client::new(config)),
            auto_scaling: AutoScaling::new(aws_sdk_autoscaling::Client::new(config)),
            launch_templates: LaunchTemplates::new(aws_sdk_ec2::Client::new(config)),
            iam: Iam::new(aws_sdk_iam::Client::new(config)),
            ssm: Ssm::new(aws_sdk_ssm::Client::new(config)),
            app_scaling: AppScaling::new(aws_sdk_applicationautoscaling::Client::new(config)),
            cloudwatch: CloudWatch::new(aws_sdk_cloudwatch::Client::new(config)),
            sns: Sns::new(aws_sdk_sns::Client::new(config)),
            secrets: SecretsManager::new(aws_sdk_secretsmanager::Client::new(config)),
            cloud_map: CloudMap::new(aws_sdk_servicediscovery::Client::new(config)),
        }
    }
}

impl Compute<AwsFacades> {
    /// The component over the SDK.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Compute::new(AwsFacades::from_config(config))
    }
}

impl Facades for AwsFacades {
    type Ecs = Ecs;
    type AutoScaling = AutoScaling;
    type LaunchTemplates = LaunchTemplates;
    type Iam = Iam;
    type Ssm = Ssm;
    type AppScaling = AppScaling;
    type CloudWatch = CloudWatch;
    type Sns = Sns;
    type Secrets = SecretsManager;
    type CloudMap = CloudMap;
    fn ecs(&self) -> &Ecs {
        &self.ecs
    }
    fn auto_scaling(&self) -> &AutoScaling {
        &self.auto_scaling
    }
    fn launch_templates(&self) -> &LaunchTemplates {
        &self.launch_templates
    }
    fn iam(&self) -> &Iam {
        &self.iam
    }
    fn ssm(&self) -> &Ssm {
        &self.ssm
    }
    fn app_scaling(&self) -> &AppScaling {
        &self.app_scaling
    }
    fn cloudwatch(&self) -> &CloudWatch {
        &self.cloudwatch
    }
    fn sns(&self) -> &Sns {
        &self.sns
    }
    fn secrets(&self) -> &SecretsManager {
        &self.secrets
    }
    fn cloud_map(&self) -> &CloudMap {
        &self.cloud_map
    }
}

/// A client wrapper: `Name::new(client)`.
macro_rules! adapter {
    ($name:ident, $client:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            client: $client,
        }

        impl $name {
            pub fn new(client: $client) -> Self {
                Self { client }
            }
        }
    };
}
pub(crate) use adapter;
