//! [`IamApi`] over `aws-sdk-iam`. IAM returns policy documents URL-encoded; they are decoded
//! and parsed so that plans compare them by meaning, not by text.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use berth_core::{sdk_error, AwsError, Tags};
use serde_json::Value;

use super::adapter;
use crate::api::{IamApi, ObservedInstanceProfile, ObservedRole};

adapter!(
    Iam,
    aws_sdk_iam::Client,
    "[`IamApi`] for a real (or emulated) IAM endpoint."
);

fn sdk_tags(tags: &Tags, op: &'static str) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::invalid(op, e))
}

/// `%7B%22Version…` → `{"Version…`; `+` is a space in form encoding.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as IAM returns it (URL-encoded, or plain from some emulators).
fn document(op: &'static str, text: &str) -> Result<Value, AwsError> {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&percent_decode(text)))
        .map_err(|e| AwsError::invalid(op, format!("unreadable policy document: {e}")))
}

impl Iam {
    async fn role_details(&self, name: &str) -> Result<ObservedRole, AwsError> {
        let role = self
            .client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(sdk_error("GetRole"))?
            .role
            .ok_or_else(|| AwsError::invalid("GetRole", "no role in the response"))?;
        let trust_policy = match role.assume_role_policy_document.as_deref() {
            Some(text) => document("GetRole", text)?,
            None => Value::Null,
        };
        let mut inline_policies = BTreeMap::new();
        let names = self
            .client
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(sdk_error("ListRolePolicies"))?
            .policy_names;
        for policy in names {
            let out = self
                .client
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(sdk_error("GetRolePolicy"))?;
            inline_policies.insert(policy, document("GetRolePolicy", &out.policy_document)?);
        }
        let managed_policy_arns: BTreeSet<String> = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(sdk_error("ListAttachedRolePolicies"))?
            .attached_policies
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.policy_arn)
            .collect();
        Ok(ObservedRole {
            name: role.role_name,
            arn: role.arn,
            trust_policy,
            inline_policies,
            managed_policy_arns,
            tags: role
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
        })
    }
}

#[async_trait]
impl IamApi for Iam {
    async fn roles(&self, path_prefix: &str) -> Result<Vec<ObservedRole>, AwsError> {
        let mut names = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .list_roles()
                .path_prefix(path_prefix)
                .set_marker(marker)
                .send()
                .await
                .map_err(sdk_error("ListRoles"))?;
            names.extend(out.roles.into_iter().map(|r| r.role_name));
            marker = out.marker.filter(|_| out.is_truncated);
            if marker.is_none() {
                break;
            }
        }
        let mut roles = Vec::new();
        for name in names {
            roles.push(self.role_details(&name).await?);
        }
        Ok(roles)
    }

    async fn instance_profiles(
        &self,
        path_prefix: &str,
    ) -> Result<Vec<ObservedInstanceProfile>, AwsError> {
        let mut profiles = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .list_instance_profiles()
                .path_prefix(path_prefix)
                .set_marker(marker)
                .send()
                .await
                .map_err(sdk_error("ListInstanceProfiles"))?;
            for p in out.instance_profiles {
                // ListInstanceProfiles leaves tags out; GetInstanceProfile has them.
                let tags = self
                    .client
                    .get_instance_profile()
                    .instance_profile_name(&p.instance_profile_name)
                    .send()
                    .await
                    .map_err(sdk_error("GetInstanceProfile"))?
                    .instance_profile
                    .map(|p| p.tags.unwrap_or_default())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value))
                    .collect();
                profiles.push(ObservedInstanceProfile {
                    name: p.instance_profile_name,
                    arn: p.arn,
                    roles: p.roles.into_iter().map(|r| r.role_name).collect(),
                    tags,
                });
            }
            marker = out.marker.filter(|_| out.is_truncated);
            if marker.is_none() {
                return Ok(profiles);
            }
        }
    }

    async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust_policy: &Value,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateRole";
        let out = self
            .client
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust_policy.to_string())
            .set_tags(Some(sdk_tags(tags, OP)?))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        out.role
            .map(|r| r.arn)
            .ok_or_else(|| AwsError::invalid(OP, "no role in the response"))
    }

    async fn update_trust_policy(&self, name: &str, trust_policy: &Value) -> Result<(), AwsError> {
        self.client
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust_policy.to_string())
            .send()
            .await
            .map_err(sdk_error("UpdateAssumeRolePolicy"))?;
        Ok(())
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &Value,
    ) -> Result<(), AwsError> {
        self.client
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(sdk_error("PutRolePolicy"))?;
        Ok(())
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), AwsError> {
        self.client
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(sdk_error("DeleteRolePolicy"))?;
        Ok(())
    }

    async fn attach_role_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.client
            .attach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(sdk_error("AttachRolePolicy"))?;
        Ok(())
    }

    async fn detach_role_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.client
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(sdk_error("DetachRolePolicy"))?;
        Ok(())
    }

    async fn delete_role(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteRole"))?;
        Ok(())
    }

    async fn create_instance_profile(
        &self,
        name: &str,
        path: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateInstanceProfile";
        let out = self
            .client
            .create_instance_profile()
            .instance_profile_name(name)
            .path(path)
            .set_tags(Some(sdk_tags(tags, OP)?))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        out.instance_profile
            .map(|p| p.arn)
            .ok_or_else(|| AwsError::invalid(OP, "no instance profile in the response"))
    }

    async fn add_role_to_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> Result<(), AwsError> {
        self.client
            .add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error("AddRoleToInstanceProfile"))?;
        Ok(())
    }

    async fn remove_role_from_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> Result<(), AwsError> {
        self.client
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error("RemoveRoleFromInstanceProfile"))?;
        Ok(())
    }

    async fn delete_instance_profile(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map_err(sdk_error("DeleteInstanceProfile"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_documents_are_read() {
        let doc = document("GetRole", "%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(doc, serde_json::json!({"Version": "2012-10-17"}));
        assert_eq!(
            document("GetRole", r#"{"a":1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
    }
}
