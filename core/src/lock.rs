//! The stack lock: one `up`, `down` or `deploy` at a time per stack. The lock is an SSM
//! parameter created with overwrite disabled, so creating it is an atomic test-and-set; it
//! holds the owner and an expiry, so a crashed run's lock can be taken over once it lapses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::AwsError;
use crate::stack::{Stack, Tags};

/// Where locks live. Implemented for SSM Parameter Store in [`aws`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Creates `name` holding `value` unless it exists. `Ok(false)` when it exists already.
    async fn create(&self, name: &str, value: &str, tags: &Tags) -> Result<bool, AwsError>;
    /// The value of `name`, `None` when it does not exist.
    async fn read(&self, name: &str) -> Result<Option<String>, AwsError>;
    /// Deletes `name`; deleting what does not exist is not an error.
    async fn delete(&self, name: &str) -> Result<(), AwsError>;
}

/// What the lock parameter holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Who holds it, e.g. `alice@laptop (pid 4242)`.
    pub owner: String,
    /// The command holding it (`up`, `down`, `deploy`).
    pub operation: String,
    /// Seconds since the Unix epoch.
    pub acquired_at: u64,
    pub expires_at: u64,
}

/// Why the lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "stack {stack} is locked by {owner} running `{operation}` since {held_for_secs}s ago \
         (the lock lapses in {expires_in_secs}s)"
    )]
    Held {
        stack: String,
        owner: String,
        operation: String,
        held_for_secs: u64,
        expires_in_secs: u64,
    },
    #[error("stack {stack} is locked, but the lock parameter {parameter} does not hold a berth lock record")]
    Unreadable { stack: String, parameter: String },
    #[error("accessing the lock parameter {parameter}")]
    Store {
        parameter: String,
        #[source]
        source: AwsError,
    },
}

/// The SSM parameter name of a stack's lock.
pub fn lock_parameter(stack: &Stack) -> String {
    format!("/berth/{}/lock", stack.name())
}

fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A held lock. Release it with [`StackLock::release`]; if the process dies instead, the lock
/// lapses at its expiry and the next run takes it over.
#[derive(Debug)]
pub struct StackLock {
    parameter: String,
    record: LockRecord,
}

impl StackLock {
    /// Takes the stack's lock for `ttl`, or says who holds it. A lapsed lock is taken over.
    pub async fn acquire(
        store: &dyn LockStore,
        stack: &Stack,
        owner: &str,
        operation: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<StackLock, LockError> {
        let parameter = lock_parameter(stack);
        let store_err = |source| LockError::Store {
            parameter: parameter.clone(),
            source,
        };
        let now_secs = epoch_secs(now);
        let record = LockRecord {
            owner: owner.to_owned(),
            operation: operation.to_owned(),
            acquired_at: now_secs,
            expires_at: now_secs + ttl.as_secs(),
        };
        let value = serde_json::to_string(&record).expect("lock record serialises");
        let address = crate::plan::Address::singleton("core", "lock");
        let tags = stack.tags("core", &address, &parameter);
        // Two attempts: the second only after removing a lapsed lock.
        for _ in 0..2 {
            if store
                .create(&parameter, &value, &tags)
                .await
                .map_err(store_err)?
            {
                return Ok(StackLock { parameter, record });
            }
            let Some(existing) = store.read(&parameter).await.map_err(store_err)? else {
                // Released between our create and read: try again.
                continue;
            };
            let Ok(held) = serde_json::from_str::<LockRecord>(&existing) else {
                return Err(LockError::Unreadable {
                    stack: stack.name().to_string(),
                    parameter,
                });
            };
            if held.expires_at > now_secs {
                return Err(LockError::Held {
                    stack: stack.name().to_string(),
                    owner: held.owner,
                    operation: held.operation,
                    held_for_secs: now_secs.saturating_sub(held.acquired_at),
                    expires_in_secs: held.expires_at - now_secs,
                });
            }
            tracing::warn!(owner = %held.owner, "taking over a lapsed stack lock");
            store.delete(&parameter).await.map_err(store_err)?;
        }
        Err(LockError::Held {
            stack: stack.name().to_string(),
            owner: "another run that took the lapsed lock first".to_owned(),
            operation: operation.to_owned(),
            held_for_secs: 0,
            expires_in_secs: ttl.as_secs(),
        })
    }

    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    /// Releases the lock if it is still this run's (a lapsed lock may have been taken over).
    pub async fn release(self, store: &dyn LockStore) -> Result<(), LockError> {
        let store_err = |source| LockError::Store {
            parameter: self.parameter.clone(),
            source,
        };
        let current = store.read(&self.parameter).await.map_err(store_err)?;
        let ours = current
            .and_then(|v| serde_json::from_str::<LockRecord>(&v).ok())
            .is_some_and(|held| held == self.record);
        if ours {
            store.delete(&self.parameter).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// Removes a stack's lock whoever holds it (`xtask unlock`), returning what it held.
    pub async fn force_release(
        store: &dyn LockStore,
        stack: &Stack,
    ) -> Result<Option<String>, LockError> {
        let parameter = lock_parameter(stack);
        let store_err = |source| LockError::Store {
            parameter: parameter.clone(),
            source,
        };
        let held = store.read(&parameter).await.map_err(store_err)?;
        if held.is_some() {
            store.delete(&parameter).await.map_err(store_err)?;
        }
        Ok(held)
    }
}

/// The SSM Parameter Store implementation of [`LockStore`].
pub mod aws {
    use async_trait::async_trait;
    use aws_sdk_ssm::types::{ParameterType, Tag};

    use super::LockStore;
    use crate::error::{sdk_error, AwsError, AwsResultExt};
    use crate::stack::Tags;

    /// Locks as SSM `String` parameters.
    #[derive(Debug, Clone)]
    pub struct SsmLockStore {
        client: aws_sdk_ssm::Client,
    }

    impl SsmLockStore {
        pub fn new(client: aws_sdk_ssm::Client) -> Self {
            Self { client }
        }
    }

    #[async_trait]
    impl LockStore for SsmLockStore {
        async fn create(&self, name: &str, value: &str, tags: &Tags) -> Result<bool, AwsError> {
            let tags = tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    AwsError::new("PutParameter", crate::ErrorClass::Invalid, e.to_string())
                })?;
            let result = self
                .client
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(ParameterType::String)
                .overwrite(false)
                .set_tags(Some(tags))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(err) => {
                    let err = AwsError::from_sdk("PutParameter", err);
                    if err.code.as_deref() == Some("ParameterAlreadyExists") {
                        Ok(false)
                    } else {
                        Err(err)
                    }
                }
            }
        }

        async fn read(&self, name: &str) -> Result<Option<String>, AwsError> {
            let out = self
                .client
                .get_parameter()
                .name(name)
                .send()
                .await
                .map_err(sdk_error("GetParameter"))
                .none_if_not_found()?;
            Ok(out.and_then(|o| o.parameter.and_then(|p| p.value)))
        }

        async fn delete(&self, name: &str) -> Result<(), AwsError> {
            self.client
                .delete_parameter()
                .name(name)
                .send()
                .await
                .map_err(sdk_error("DeleteParameter"))
                .ok_if_not_found()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::stack::StackName;

    /// An in-memory store with SSM's create-unless-exists semantics.
    #[derive(Default, Clone)]
    struct MemoryStore(Arc<Mutex<Option<String>>>);

    #[async_trait]
    impl LockStore for MemoryStore {
        async fn create(&self, _: &str, value: &str, _: &Tags) -> Result<bool, AwsError> {
            let mut slot = self.0.lock().unwrap();
            if slot.is_some() {
                return Ok(false);
            }
            *slot = Some(value.to_owned());
            Ok(true)
        }
        async fn read(&self, _: &str) -> Result<Option<String>, AwsError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn delete(&self, _: &str) -> Result<(), AwsError> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    fn stack() -> Stack {
        Stack::new(StackName::new("prod").unwrap())
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn a_second_run_is_told_who_holds_the_lock() {
        let store = MemoryStore::default();
        let ttl = Duration::from_secs(3600);
        let lock = StackLock::acquire(&store, &stack(), "alice", "up", ttl, at(1000))
            .await
            .unwrap();
        let err = StackLock::acquire(&store, &stack(), "bob", "down", ttl, at(1060))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "stack prod is locked by alice running `up` since 60s ago (the lock lapses in 3540s)"
        );
        lock.release(&store).await.unwrap();
        StackLock::acquire(&store, &stack(), "bob", "down", ttl, at(1070))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_lapsed_lock_is_taken_over_and_its_old_holder_cannot_release_it() {
        let store = MemoryStore::default();
        let ttl = Duration::from_secs(10);
        let stale = StackLock::acquire(&store, &stack(), "alice", "up", ttl, at(0))
            .await
            .unwrap();
        let fresh = StackLock::acquire(&store, &stack(), "bob", "up", ttl, at(11))
            .await
            .unwrap();
        stale.release(&store).await.unwrap();
        assert!(store.0.lock().unwrap().as_deref().unwrap().contains("bob"));
        fresh.release(&store).await.unwrap();
        assert!(store.0.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn store_errors_name_the_parameter() {
        let mut store = MockLockStore::new();
        store.expect_create().returning(|_, _, _| {
            Err(AwsError::new(
                "PutParameter",
                crate::ErrorClass::AccessDenied,
                "no",
            ))
        });
        let err = StackLock::acquire(&store, &stack(), "a", "up", Duration::from_secs(1), at(0))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "accessing the lock parameter /berth/prod/lock"
        );
    }
}
