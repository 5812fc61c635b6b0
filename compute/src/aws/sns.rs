//! [`SnsApi`] over `aws-sdk-sns`.

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use berth_core::{sdk_error, AwsError, Tags};

use super::adapter;
use crate::api::{ObservedTopic, SnsApi, Subscription};

adapter!(
    Sns,
    aws_sdk_sns::Client,
    "[`SnsApi`] for a real (or emulated) SNS endpoint."
);

#[async_trait]
impl SnsApi for Sns {
    async fn topic(&self, name: &str) -> Result<Option<ObservedTopic>, AwsError> {
        let suffix = format!(":{name}");
        let mut token = None;
        let arn = loop {
            let out = self
                .client
                .list_topics()
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListTopics"))?;
            if let Some(arn) = out
                .topics
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t.topic_arn)
                .find(|a| a.ends_with(&suffix))
            {
                break arn;
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(None);
            }
        };
        let tags = self
            .client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(sdk_error("ListTagsForResource"))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        let mut email_subscriptions = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_subscriptions_by_topic()
                .topic_arn(&arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk_error("ListSubscriptionsByTopic"))?;
            for s in out.subscriptions.unwrap_or_default() {
                if s.protocol.as_deref() == Some("email") {
                    email_subscriptions.push(Subscription {
                        arn: s.subscription_arn.unwrap_or_default(),
                        endpoint: s.endpoint.unwrap_or_default(),
                    });
                }
            }
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        Ok(Some(ObservedTopic {
            arn,
            email_subscriptions,
            tags,
        }))
    }

    async fn create_topic(&self, name: &str, tags: &Tags) -> Result<String, AwsError> {
        const OP: &str = "CreateTopic";
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(OP, e))?;
        let out = self
            .client
            .create_topic()
            .name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(sdk_error(OP))?;
        out.topic_arn
            .ok_or_else(|| AwsError::invalid(OP, "no topic ARN in the response"))
    }

    async fn subscribe_email(&self, topic_arn: &str, email: &str) -> Result<(), AwsError> {
        self.client
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("email")
            .endpoint(email)
            .send()
            .await
            .map_err(sdk_error("Subscribe"))?;
        Ok(())
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), AwsError> {
        self.client
            .unsubscribe()
            .subscription_arn(subscription_arn)
            .send()
            .await
            .map_err(sdk_error("Unsubscribe"))?;
        Ok(())
    }

    async fn delete_topic(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .delete_topic()
            .topic_arn(arn)
            .send()
            .await
            .map_err(sdk_error("DeleteTopic"))?;
        Ok(())
    }
}
