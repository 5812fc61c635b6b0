//! `[logging]`: retention and KMS keys, per stack and per group, validated into a
//! `LoggingSpec` (every service's group included).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawRetention {
    Days(i64),
    Word(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, RawLogGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogGroup {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
}

impl Validator {
    pub(super) fn retention(
        &mut self,
        key: &str,
        raw: Option<RawRetention>,
        default: Option<u32>,
    ) -> Option<u32> {
        let allowed = || {
            berth_logging::RETENTION_DAYS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match raw {
            None => default,
            Some(RawRetention::Word(word)) if word == "never" => None,
            Some(RawRetention::Word(word)) => {
                self.problem(
                    key,
                    format!(
                        "{word:?} is not a retention; use a number of days ({}) or \"never\"",
                        allowed()
                    ),
                );
                default
            }
            Some(RawRetention::Days(days)) => match u32::try_from(days) {
                Ok(days) if berth_logging::is_valid_retention(days) => Some(days),
                _ => {
                    self.problem(
                        key,
                        format!(
                            "{days} days is not a retention CloudWatch Logs accepts; use one of {} or \"never\"",
                            allowed()
                        ),
                    );
                    default
                }
            },
        }
    }

    pub(super) fn kms_key(&mut self, key: &str, arn: Option<String>) -> Option<String> {
        let arn = arn?;
        if is_kms_key_arn(&arn) {
            Some(arn)
        } else {
            self.problem(
                key,
                format!("{arn:?} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"),
            );
            None
        }
    }

    /// The groups, and every service's group (`/berth/STACK/SERVICE`) with the section's
    /// defaults where the config does not list it.
    pub(super) fn logging(&mut self, raw: RawLogging, services: &[&String]) -> LoggingSpec {
        let default_retention = self.retention(
            "logging.retention_days",
            raw.retention_days,
            Some(DEFAULT_RETENTION_DAYS),
        );
        let default_key = self.kms_key("logging.kms_key_arn", raw.kms_key_arn);
        let mut groups = BTreeMap::new();
        for (service, group) in raw.groups {
            let key = format!("logging.groups.{service}");
            if !is_short_name(&service) {
                self.problem(
                    &key,
                    format!("{service:?} is not a service name: use 1-40 lowercase letters, digits and '-', starting with a letter"),
                );
            }
            let retention_days = self.retention(
                &format!("{key}.retention_days"),
                group.retention_days,
                default_retention,
            );
            let kms_key_arn = self
                .kms_key(&format!("{key}.kms_key_arn"), group.kms_key_arn)
                .or_else(|| default_key.clone());
            groups.insert(
                service,
                LogGroupSpec {
                    retention_days,
                    kms_key_arn,
                },
            );
        }
        for service in services {
            groups
                .entry((*service).clone())
                .or_insert_with(|| LogGroupSpec {
                    retention_days: default_retention,
                    kms_key_arn: default_key.clone(),
                });
        }
        LoggingSpec { groups }
    }
}
