//! [`SsmApi`] over `aws-sdk-ssm`: the public ECS AMI parameters.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::{sdk_error, AwsError};

use super::adapter;
use crate::api::SsmApi;

adapter!(
    Ssm,
    aws_sdk_ssm::Client,
    "[`SsmApi`] for a real (or emulated) SSM endpoint."
);

#[async_trait]
impl SsmApi for Ssm {
    async fn parameters(&self, names: &[String]) -> Result<BTreeMap<String, String>, AwsError> {
        // Names that do not exist come back in `invalid_parameters`, not as an error.
        let out = self
            .client
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(sdk_error("GetParameters"))?;
        Ok(out
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.name?, p.value?)))
            .collect())
    }
}
