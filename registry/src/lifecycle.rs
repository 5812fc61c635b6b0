//! Lifecycle rules as a typed model, rendered to ECR's JSON policy and parsed back, so that
//! policies compare by meaning (rules, not whitespace, key order, priorities or descriptions).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How long a "keep" rule keeps images: about a hundred years.
const KEEP_FOREVER_DAYS: u32 = 36_500;

/// One lifecycle rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum LifecycleRule {
    /// Keep every image with a tag starting with `prefix`, whatever later rules say.
    KeepTagPrefix { prefix: String },
    /// Expire untagged images `days` after they were pushed.
    ExpireUntagged { days: u32 },
    /// Keep the most recent `count` images, expire older ones.
    KeepLast { count: u32 },
}

impl LifecycleRule {
    /// Reference 001's rules: untagged expire after 14 days, keep the last 30 images.
    pub fn defaults() -> Vec<LifecycleRule> {
        vec![
            LifecycleRule::ExpireUntagged { days: 14 },
            LifecycleRule::KeepLast { count: 30 },
        ]
    }

    fn description(&self) -> String {
        match self {
            LifecycleRule::KeepTagPrefix { prefix } => {
                format!("keep images tagged {prefix}*")
            }
            LifecycleRule::ExpireUntagged { days } => {
                format!("expire untagged images after {days} days")
            }
            LifecycleRule::KeepLast { count } => format!("keep the last {count} images"),
        }
    }

    fn selection(&self) -> Value {
        match self {
            LifecycleRule::KeepTagPrefix { prefix } => json!({
                "tagStatus": "tagged",
                "tagPrefixList": [prefix],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": KEEP_FOREVER_DAYS,
            }),
            LifecycleRule::ExpireUntagged { days } => json!({
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": days,
            }),
            LifecycleRule::KeepLast { count } => json!({
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": count,
            }),
        }
    }

    fn from_selection(selection: &Value) -> Option<LifecycleRule> {
        let status = selection.get("tagStatus")?.as_str()?;
        let count_type = selection.get("countType")?.as_str()?;
        let count = u32::try_from(selection.get("countNumber")?.as_u64()?).ok()?;
        let unit = selection.get("countUnit").and_then(Value::as_str);
        let prefixes: Vec<&str> = selection
            .get("tagPrefixList")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match (status, count_type, unit, prefixes.as_slice()) {
            ("tagged", "sinceImagePushed", Some("days"), [prefix])
                if count == KEEP_FOREVER_DAYS =>
            {
                Some(LifecycleRule::KeepTagPrefix {
                    prefix: (*prefix).to_owned(),
                })
            }
            ("untagged", "sinceImagePushed", Some("days"), []) => {
                Some(LifecycleRule::ExpireUntagged { days: count })
            }
            ("any", "imageCountMoreThan", None, []) => Some(LifecycleRule::KeepLast { count }),
            _ => None,
        }
    }
}

/// Rules in the order ECR evaluates them: keeps first (an image matched by a higher-priority
/// rule cannot be expired by a lower one), then untagged expiry, then the `any` rule, which
/// ECR requires to come last.
pub fn canonical(rules: &[LifecycleRule]) -> Vec<LifecycleRule> {
    let mut rules = rules.to_vec();
    rules.sort();
    rules.dedup();
    rules
}

/// The JSON lifecycle policy for `rules`; `None` for no rules (no policy at all).
pub fn render(rules: &[LifecycleRule]) -> Option<String> {
    let rules = canonical(rules);
    if rules.is_empty() {
        return None;
    }
    let rendered: Vec<Value> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            json!({
                "rulePriority": i + 1,
                "description": rule.description(),
                "selection": rule.selection(),
                "action": {"type": "expire"},
            })
        })
        .collect();
    Some(json!({ "rules": rendered }).to_string())
}

/// A policy read back from ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedPolicy {
    /// Every rule is one berth expresses; in canonical order.
    Rules(Vec<LifecycleRule>),
    /// Something berth does not express (edited by hand, another tool): shown as the raw
    /// text, and replaced by berth's rules.
    Foreign(String),
}

/// Parses a policy's JSON into typed rules, in priority order.
pub fn parse(text: &str) -> ParsedPolicy {
    let foreign = || ParsedPolicy::Foreign(text.to_owned());
    let Ok(policy) = serde_json::from_str::<Value>(text) else {
        return foreign();
    };
    let Some(rules) = policy.get("rules").and_then(Value::as_array) else {
        return foreign();
    };
    let mut parsed: Vec<(u64, LifecycleRule)> = Vec::new();
    for rule in rules {
        let expire = rule
            .get("action")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            == Some("expire");
        let priority = rule.get("rulePriority").and_then(Value::as_u64);
        let typed = rule
            .get("selection")
            .and_then(LifecycleRule::from_selection);
        match (expire, priority, typed) {
            (true, Some(priority), Some(typed)) => parsed.push((priority, typed)),
            _ => return foreign(),
        }
    }
    parsed.sort_by_key(|(priority, _)| *priority);
    let rules: Vec<LifecycleRule> = parsed.into_iter().map(|(_, r)| r).collect();
    // Same rules in another priority order mean something else: not ours.
    if rules != canonical(&rules) {
        return foreign();
    }
    ParsedPolicy::Rules(rules)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn defaults_render_as_reference_001() {
        let policy: Value =
            serde_json::from_str(&render(&LifecycleRule::defaults()).unwrap()).unwrap();
        assert_eq!(
            policy,
            json!({"rules": [
                {"rulePriority": 1, "description": "expire untagged images after 14 days",
                 "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                               "countUnit": "days", "countNumber": 14},
                 "action": {"type": "expire"}},
                {"rulePriority": 2, "description": "keep the last 30 images",
                 "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                               "countNumber": 30},
                 "action": {"type": "expire"}}
            ]})
        );
    }

    #[test]
    fn keep_rules_come_first_and_any_comes_last() {
        let rules = canonical(&[
            LifecycleRule::KeepLast { count: 5 },
            LifecycleRule::ExpireUntagged { days: 1 },
            LifecycleRule::KeepTagPrefix {
                prefix: "release-".into(),
            },
        ]);
        assert!(matches!(rules[0], LifecycleRule::KeepTagPrefix { .. }));
        assert!(matches!(rules[2], LifecycleRule::KeepLast { .. }));
    }

    #[test]
    fn a_reformatted_policy_with_other_descriptions_means_the_same() {
        let text = r#"{ "rules": [
            { "action": { "type": "expire" }, "rulePriority": 20,
              "selection": { "countNumber": 30, "countType": "imageCountMoreThan", "tagStatus": "any" } },
            { "rulePriority": 10, "description": "hand written",
              "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14 },
              "action": { "type": "expire" } } ] }"#;
        assert_eq!(parse(text), ParsedPolicy::Rules(LifecycleRule::defaults()));
    }

    #[test]
    fn rules_berth_cannot_express_are_foreign() {
        let text = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged",
            "tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":3},
            "action":{"type":"expire"}}]}"#;
        assert!(matches!(parse(text), ParsedPolicy::Foreign(_)));
        assert!(matches!(parse("not json"), ParsedPolicy::Foreign(_)));
    }

    #[test]
    fn no_rules_is_no_policy() {
        assert_eq!(render(&[]), None);
    }

    fn rule() -> impl Strategy<Value = LifecycleRule> {
        prop_oneof![
            "[a-z0-9.-]{1,12}".prop_map(|prefix| LifecycleRule::KeepTagPrefix { prefix }),
            (1u32..3650).prop_map(|days| LifecycleRule::ExpireUntagged { days }),
            (1u32..10_000).prop_map(|count| LifecycleRule::KeepLast { count }),
        ]
    }

    proptest! {
        #[test]
        fn render_then_parse_is_the_canonical_rules(rules in prop::collection::vec(rule(), 0..6)) {
            let expected = canonical(&rules);
            match render(&rules) {
                None => prop_assert!(expected.is_empty()),
                Some(text) => prop_assert_eq!(parse(&text), ParsedPolicy::Rules(expected)),
            }
        }
    }
}
