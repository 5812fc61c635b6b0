//! `[registry]`: repositories, scanning, tag immutability, encryption and typed lifecycle
//! rules, validated into a `RegistrySpec`.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistry {
    #[serde(default)]
    repositories: BTreeMap<String, RawRepository>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRepository {
    scan_on_push: Option<bool>,
    tag_immutability: Option<bool>,
    encryption: Option<String>,
    kms_key_arn: Option<String>,
    lifecycle: Option<Vec<RawLifecycleRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "rule", rename_all = "snake_case")]
pub(super) enum RawLifecycleRule {
    ExpireUntagged { days: i64 },
    KeepLast { count: i64 },
    KeepTagPrefix { prefix: String },
}

impl Validator {
    pub(super) fn registry(&mut self, stack: &StackName, raw: RawRegistry) -> RegistrySpec {
        let mut repositories = BTreeMap::new();
        for (short, repo) in raw.repositories {
            let key = format!("registry.repositories.{short}");
            if !is_short_name(&short) {
                self.problem(
                    &key,
                    format!("{short:?} is not a repository name: use 1-40 lowercase letters, digits and '-', starting with a letter"),
                );
            } else if stack.as_str().len() + 1 + short.len() > 256 {
                self.problem(
                    &key,
                    "the ECR name <stack>-<name> would exceed 256 characters".into(),
                );
            }
            let defaults = RepositorySpec::default();
            let kms_key_arn = self.kms_key(&format!("{key}.kms_key_arn"), repo.kms_key_arn.clone());
            let encryption = match repo.encryption.as_deref() {
                None | Some("aes256") => {
                    if repo.kms_key_arn.is_some() {
                        self.problem(
                            &format!("{key}.kms_key_arn"),
                            "a KMS key needs encryption = \"kms\"".into(),
                        );
                    }
                    Encryption::Aes256
                }
                Some("kms") => Encryption::Kms {
                    key_arn: kms_key_arn,
                },
                Some(other) => {
                    self.problem(
                        &format!("{key}.encryption"),
                        format!("{other:?} is not an encryption; use \"aes256\" or \"kms\""),
                    );
                    Encryption::Aes256
                }
            };
            let lifecycle = match repo.lifecycle {
                None => defaults.lifecycle,
                Some(rules) => self.lifecycle(&format!("{key}.lifecycle"), rules),
            };
            repositories.insert(
                short,
                RepositorySpec {
                    scan_on_push: repo.scan_on_push.unwrap_or(defaults.scan_on_push),
                    tag_immutability: repo.tag_immutability.unwrap_or(defaults.tag_immutability),
                    encryption,
                    lifecycle,
                },
            );
        }
        RegistrySpec { repositories }
    }

    pub(super) fn lifecycle(
        &mut self,
        key: &str,
        rules: Vec<RawLifecycleRule>,
    ) -> Vec<LifecycleRule> {
        let mut typed = Vec::new();
        let (mut untagged, mut keep_last) = (0, 0);
        let mut prefixes = std::collections::BTreeSet::new();
        for (i, rule) in rules.into_iter().enumerate() {
            let key = format!("{key}[{i}]");
            match rule {
                RawLifecycleRule::ExpireUntagged { days } => {
                    untagged += 1;
                    if untagged > 1 {
                        self.problem(&key, "only one expire_untagged rule is allowed".into());
                    }
                    match u32::try_from(days) {
                        Ok(days) if (1..=3650).contains(&days) => {
                            typed.push(LifecycleRule::ExpireUntagged { days })
                        }
                        _ => self.problem(
                            &format!("{key}.days"),
                            format!("{days} is out of range; use 1 to 3650 days"),
                        ),
                    }
                }
                RawLifecycleRule::KeepLast { count } => {
                    keep_last += 1;
                    if keep_last > 1 {
                        self.problem(&key, "only one keep_last rule is allowed".into());
                    }
                    match u32::try_from(count) {
                        Ok(count) if (1..=10_000).contains(&count) => {
                            typed.push(LifecycleRule::KeepLast { count })
                        }
                        _ => self.problem(
                            &format!("{key}.count"),
                            format!("{count} is out of range; use 1 to 10000 images"),
                        ),
                    }
                }
                RawLifecycleRule::KeepTagPrefix { prefix } => {
                    let valid = !prefix.is_empty()
                        && prefix.len() <= 128
                        && prefix
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if !valid {
                        self.problem(
                            &format!("{key}.prefix"),
                            format!("{prefix:?} is not a tag prefix: use 1-128 letters, digits, '.', '_' or '-'"),
                        );
                    } else if !prefixes.insert(prefix.clone()) {
                        self.problem(
                            &format!("{key}.prefix"),
                            format!("prefix {prefix:?} is listed twice"),
                        );
                    } else {
                        typed.push(LifecycleRule::KeepTagPrefix { prefix });
                    }
                }
            }
        }
        typed
    }
}
