//! [`SecretsApi`] over `aws-sdk-secretsmanager`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{ObservedSecret, SecretsApi};

adapter!(
    SecretsManager,
    aws_sdk_secretsmanager::Client,
    "[`SecretsApi`] for a real (or emulated) Secrets Manager endpoint."
);

#[async_trait]
impl SecretsApi for SecretsManager {
    async fn secrets(&self, prefix: &str) -> Result<Vec<ObservedSecret>, AwsError> {
        let mut secrets = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_secrets()
                .filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(prefix)
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListSecrets"))?;
            for s in out.secret_list.unwrap_or_default() {
                let (Some(name), Some(arn)) = (s.name, s.arn) else {
                    continue;
                };
                // The name filter matches prefixes of words; keep exact prefixes only.
                if !name.starts_with(prefix) || s.deleted_date.is_some() {
                    continue;
                }
                secrets.push(ObservedSecret {
                    name,
                    arn,
                    tags: s
                        .tags
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|t| Some((t.key?, t.value?)))
                        .collect(),
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(secrets);
            }
        }
    }

    async fn create_generated_secret(
        &self,
        name: &str,
        length: u8,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        let value = self
            .client
            .get_random_password()
            .password_length(i64::from(length))
            .exclude_punctuation(true)
            .send()
            .await
            .map_err(sdk_error("GetRandomPassword"))?
            .random_password
            .ok_or_else(|| AwsError::invalid("GetRandomPassword", "no password in the response"))?;
        let out = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .client_request_token(client_token)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(sdk_error("CreateSecret"))?;
        out.arn
            .ok_or_else(|| AwsError::invalid("CreateSecret", "no ARN in the response"))
    }

    async fn delete_secret(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(sdk_error("DeleteSecret"))?;
        Ok(())
    }
}
