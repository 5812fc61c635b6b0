//! Stack configuration: `stacks/<stack>.toml` read with unknown keys rejected, validated once,
//! and turned into each component's Spec. Every error names the file and the key; nothing
//! here talks to AWS, so a bad config never reaches it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use berth_core::{Stack, StackName};
use berth_logging::{LogGroupSpec, LoggingSpec};
use berth_registry::{Encryption, LifecycleRule, RegistrySpec, RepositorySpec};
use serde::Deserialize;

/// A validated stack configuration.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub path: PathBuf,
    pub stack: Stack,
    /// `None`: the region of the credential chain (AWS_REGION, the profile).
    pub region: Option<String>,
    pub logging: LoggingSpec,
    pub registry: RegistrySpec,
}

/// One problem with a config: the file, the dotted key, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Everything wrong with a config file, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.problems.as_slice() {
            [one] if one.key.is_empty() => write!(f, "{path}: {}", one.message),
            [one] => write!(f, "{path}: {}: {}", one.key, one.message),
            many => {
                write!(f, "{path}: {} problems", many.len())?;
                for p in many {
                    if p.key.is_empty() {
                        write!(f, "\n  - {}", p.message)?;
                    } else {
                        write!(f, "\n  - {}: {}", p.key, p.message)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

// ---- The file's shape. Unknown keys are errors (a typo must not be silently ignored). ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    stack: RawStack,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    registry: RawRegistry,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRetention {
    Days(i64),
    Word(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, RawLogGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogGroup {
    retention_days: Option<RawRetention>,
    kms_key_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    repositories: BTreeMap<String, RawRepository>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    scan_on_push: Option<bool>,
    tag_immutability: Option<bool>,
    encryption: Option<String>,
    kms_key_arn: Option<String>,
    lifecycle: Option<Vec<RawLifecycleRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "rule", rename_all = "snake_case")]
enum RawLifecycleRule {
    ExpireUntagged { days: i64 },
    KeepLast { count: i64 },
    KeepTagPrefix { prefix: String },
}

/// Default log retention: reference 001 keeps CloudWatch Logs 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// The path of a stack's config under `stacks_dir`.
pub fn stack_path(stacks_dir: &Path, stack: &str) -> PathBuf {
    stacks_dir.join(format!("{stack}.toml"))
}

/// Reads and validates `stacks_dir/<stack>.toml`.
pub fn load(stacks_dir: &Path, stack: &str) -> Result<StackConfig, ConfigError> {
    let path = stack_path(stacks_dir, stack);
    let problem = |key: &str, message: String| ConfigError {
        path: path.clone(),
        problems: vec![ConfigProblem {
            key: key.to_owned(),
            message,
        }],
    };
    let name = StackName::new(stack)
        .map_err(|e| problem("", format!("{e}; the stack name is the file name")))?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let known = known_stacks(stacks_dir);
            let hint = if known.is_empty() {
                format!(
                    "create {} (see stacks/prod.toml for an example)",
                    path.display()
                )
            } else {
                format!("known stacks: {}", known.join(", "))
            };
            return Err(problem("", format!("no such stack config; {hint}")));
        }
        Err(err) => return Err(problem("", format!("cannot read the file: {err}"))),
    };
    parse(&path, name, &text)
}

/// The stacks that have a config file.
pub fn known_stacks(stacks_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(stacks_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Parses and validates a config's text.
pub fn parse(path: &Path, name: StackName, text: &str) -> Result<StackConfig, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.message().to_owned();
        let location = inner
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError {
            path: path.to_owned(),
            problems: vec![ConfigProblem {
                key: if key == "." { String::new() } else { key },
                message: format!("{message}{location}"),
            }],
        }
    })?;
    let mut v = Validator::default();
    let region = raw.stack.region.filter(|r| {
        let ok = is_region(r);
        if !ok {
            v.problem(
                "stack.region",
                format!("{r:?} is not an AWS region name (like \"us-east-2\")"),
            );
        }
        ok
    });
    let logging = v.logging(raw.logging);
    let registry = v.registry(&name, raw.registry);
    if !v.problems.is_empty() {
        return Err(ConfigError {
            path: path.to_owned(),
            problems: v.problems,
        });
    }
    Ok(StackConfig {
        path: path.to_owned(),
        stack: Stack::new(name),
        region,
        logging,
        registry,
    })
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// A service or repository name: lowercase letters, digits and `-`, starting with a letter.
fn is_short_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"))
}

#[derive(Default)]
struct Validator {
    problems: Vec<ConfigProblem>,
}

impl Validator {
    fn problem(&mut self, key: &str, message: String) {
        self.problems.push(ConfigProblem {
            key: key.to_owned(),
            message,
        });
    }

    fn retention(
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

    fn kms_key(&mut self, key: &str, arn: Option<String>) -> Option<String> {
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

    fn logging(&mut self, raw: RawLogging) -> LoggingSpec {
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
        LoggingSpec { groups }
    }

    fn registry(&mut self, stack: &StackName, raw: RawRegistry) -> RegistrySpec {
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
        RegistrySpec {
            repositories,
            delete_images: false,
        }
    }

    fn lifecycle(&mut self, key: &str, rules: Vec<RawLifecycleRule>) -> Vec<LifecycleRule> {
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

#[cfg(test)]
mod tests;
