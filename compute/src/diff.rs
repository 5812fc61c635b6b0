//! Field-level diffs of plain data: two serialisable values compared key by key, nested
//! objects flattened into dotted field names, so every family's plan shows what changes.

use berth_core::{FieldDiff, FieldValue};
use serde::Serialize;
use serde_json::Value;

/// The fields that differ between `before` and `after`, named `prefix.key.subkey`.
pub(crate) fn diff(
    prefix: &str,
    before: &impl Serialize,
    after: &impl Serialize,
) -> Vec<FieldDiff> {
    let before = serde_json::to_value(before).expect("plain data serialises");
    let after = serde_json::to_value(after).expect("plain data serialises");
    let mut out = Vec::new();
    walk(prefix, Some(&before), Some(&after), &mut out);
    out
}

/// Every field of `value`, as added (a create's fields).
pub(crate) fn added(prefix: &str, value: &impl Serialize) -> Vec<FieldDiff> {
    let value = serde_json::to_value(value).expect("plain data serialises");
    let mut out = Vec::new();
    walk(prefix, None, Some(&value), &mut out);
    out
}

fn walk(name: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldDiff>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(&join(name, key), b.get(key), a.get(key), out);
            }
        }
        (None, Some(Value::Object(a))) => {
            for (key, value) in a {
                walk(&join(name, key), None, Some(value), out);
            }
        }
        (b, a) => {
            let b = b.filter(|v| !v.is_null());
            let a = a.filter(|v| !v.is_null());
            if b != a {
                out.push(FieldDiff::new(
                    name,
                    b.cloned().map(FieldValue::Value),
                    a.cloned().map(FieldValue::Value),
                ));
            }
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_fields_are_flattened_and_only_differences_kept() {
        let before = json!({"a": 1, "b": {"c": "x", "d": [1]}});
        let after = json!({"a": 1, "b": {"c": "y", "d": [1]}, "e": true});
        let fields = diff("", &before, &after);
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b.c", "e"]);
        assert_eq!(fields[1].before, None);
    }
}
