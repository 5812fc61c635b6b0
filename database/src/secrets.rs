//! The secrets: the master credentials (a generated password) and the app's connection URL
//! built from them and the cluster's endpoint — their plan and the steps that write them.

use berth_core::{Action, Address, AwsResultExt, Change, ComponentError, FieldDiff, Stack};

use crate::api::*;
use crate::component::{
    apply_err, refuse_if_foreign, Database, DatabaseObserved, DbAction, DbStep,
};
use crate::{address, names, DatabaseSpec, COMPONENT, PASSWORD_LENGTH};

/// The master password inside the master secret (a JSON document with `password`).
fn master_password(secret: &ObservedSecret) -> Option<String> {
    let value = secret.value.as_ref()?;
    let json: serde_json::Value = serde_json::from_str(value).ok()?;
    json.get("password")?.as_str().map(str::to_owned)
}

/// The master secret: created with a generated password, or restored if scheduled for deletion.
pub(crate) fn plan_master_secret(
    stack: &Stack,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
    match &obs.master_secret {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::master_secret(),
                Action::Create,
                vec![
                    FieldDiff::added("name", names::master_secret(stack)),
                    FieldDiff::sensitive("password", false, true),
                ],
                DbAction::EnsureMasterSecret { restore: false },
            ),
            stack,
            "secret",
            &names::master_secret(stack),
            obs.foreign_secrets.contains(&names::master_secret(stack)),
        )),
        Some(secret) if secret.deleted => changes.push(Change::new(
            address::master_secret(),
            Action::Update,
            vec![FieldDiff::changed("scheduled_for_deletion", true, false)],
            DbAction::EnsureMasterSecret { restore: true },
        )),
        Some(_) => changes.push(Change::no_op(address::master_secret())),
    }
}

/// The URL secret follows the master password and the endpoint.
pub(crate) fn plan_url_secret(
    stack: &Stack,
    spec: &DatabaseSpec,
    replacing: bool,
    obs: &DatabaseObserved,
    changes: &mut Vec<Change<DbAction>>,
) {
    let desired_url = match (
        &obs.cluster,
        obs.master_secret.as_ref().and_then(master_password),
    ) {
        (Some(cluster), Some(password)) if !replacing => cluster.endpoint.as_ref().map(|host| {
            spec.engine.url(
                &spec.master_username,
                &password,
                host,
                spec.port,
                &spec.database_name,
            )
        }),
        _ => None,
    };
    match &obs.url_secret {
        None => changes.push(refuse_if_foreign(
            Change::new(
                address::url_secret(),
                Action::Create,
                vec![
                    FieldDiff::added("name", names::url_secret(stack)),
                    FieldDiff::sensitive("url", false, true),
                ],
                DbAction::PutUrlSecret { create: true },
            ),
            stack,
            "secret",
            &names::url_secret(stack),
            obs.foreign_secrets.contains(&names::url_secret(stack)),
        )),
        Some(have) if have.deleted || desired_url.is_none() || have.value != desired_url => changes
            .push(Change::new(
                address::url_secret(),
                Action::Update,
                vec![FieldDiff::sensitive("url", true, true)],
                DbAction::PutUrlSecret { create: false },
            )),
        Some(_) => changes.push(Change::no_op(address::url_secret())),
    }
}

/// Both secrets go: the master one recoverable for a week, the URL at once.
pub(crate) fn plan_secrets_absent(obs: &DatabaseObserved, changes: &mut Vec<Change<DbAction>>) {
    if let Some(secret) = obs.master_secret.as_ref().filter(|s| !s.deleted) {
        changes.push(Change::new(
            address::master_secret(),
            Action::Delete,
            vec![
                FieldDiff::removed("name", &secret.name),
                FieldDiff::added("recoverable_for_days", 7),
            ],
            DbAction::DeleteSecret {
                name: secret.name.clone(),
                force: false,
            },
        ));
    }
    if let Some(secret) = obs.url_secret.as_ref().filter(|s| !s.deleted) {
        changes.push(Change::new(
            address::url_secret(),
            Action::Delete,
            vec![FieldDiff::removed("name", &secret.name)],
            DbAction::DeleteSecret {
                name: secret.name.clone(),
                force: true,
            },
        ));
    }
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    pub(crate) async fn master_password(
        &self,
        stack: &Stack,
        addr: &Address,
    ) -> Result<String, ComponentError> {
        let secret = self
            .secrets
            .secret(&names::master_secret(stack))
            .await
            .map_err(apply_err("reading the master secret for", addr))?;
        secret
            .as_ref()
            .and_then(master_password)
            .ok_or_else(|| ComponentError::Missing {
                address: addr.to_string(),
                needs: "the master secret".into(),
            })
    }
}

impl<R: RdsApi, S: SecretsApi> Database<R, S> {
    /// Writes, restores or deletes a secret.
    pub(crate) async fn run_secrets_step(
        &self,
        stack: &Stack,
        change: &Change<DbStep>,
        step: &DbStep,
    ) -> Result<(), ComponentError> {
        let addr = &change.address;
        let need_spec = || {
            step.spec
                .as_deref()
                .cloned()
                .ok_or_else(|| ComponentError::Missing {
                    address: addr.to_string(),
                    needs: "a database spec".into(),
                })
        };
        let tags = |name: &str| stack.tags(COMPONENT, addr, name);
        match &step.action {
            DbAction::EnsureMasterSecret { restore: true } => {
                self.secrets
                    .restore_secret(&names::master_secret(stack))
                    .await
                    .map_err(apply_err("restoring", addr))?;
            }
            DbAction::EnsureMasterSecret { restore: false } => {
                let spec = need_spec()?;
                let password = self
                    .secrets
                    .random_password(PASSWORD_LENGTH)
                    .await
                    .map_err(apply_err("generating a password for", addr))?;
                let value = serde_json::json!({
                    "engine": spec.engine.as_str(),
                    "username": spec.master_username,
                    "password": password,
                    "port": spec.port,
                })
                .to_string();
                let name = names::master_secret(stack);
                // Created by an interrupted run: keep the password it generated.
                self.secrets
                    .create_secret(
                        &name,
                        "berth: the database's master credentials",
                        &value,
                        spec.kms_key_arn.clone(),
                        &tags(&name),
                    )
                    .await
                    .ok_if_conflict()
                    .map_err(apply_err("creating", addr))?;
            }
            DbAction::PutUrlSecret { create } => {
                let spec = need_spec()?;
                let cluster = self
                    .rds
                    .cluster(&names::cluster(stack))
                    .await
                    .map_err(apply_err("reading the endpoint for", addr))?
                    .and_then(|c| c.endpoint)
                    .ok_or_else(|| ComponentError::Missing {
                        address: addr.to_string(),
                        needs: "the cluster's endpoint".into(),
                    })?;
                let password = self.master_password(stack, addr).await?;
                let url = spec.engine.url(
                    &spec.master_username,
                    &password,
                    &cluster,
                    spec.port,
                    &spec.database_name,
                );
                let name = names::url_secret(stack);
                let existing = self
                    .secrets
                    .secret(&name)
                    .await
                    .map_err(apply_err("reading", addr))?;
                if existing.as_ref().is_some_and(|s| s.deleted) {
                    self.secrets
                        .restore_secret(&name)
                        .await
                        .map_err(apply_err("restoring", addr))?;
                }
                if *create && existing.is_none() {
                    self.secrets
                        .create_secret(
                            &name,
                            "berth: the app's database connection URL",
                            &url,
                            spec.kms_key_arn.clone(),
                            &tags(&name),
                        )
                        .await
                        .map_err(apply_err("creating", addr))?;
                } else {
                    self.secrets
                        .put_secret_value(&name, &url)
                        .await
                        .map_err(apply_err("updating", addr))?;
                }
            }
            DbAction::DeleteSecret { name, force } => {
                self.secrets
                    .delete_secret(name, *force)
                    .await
                    .ok_if_not_found()
                    .map_err(apply_err("deleting", addr))?;
            }
            other => unreachable!("not a secrets step: {other:?}"),
        }
        Ok(())
    }
}
