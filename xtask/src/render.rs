//! Plan and output rendering: a terraform-style diff for people, JSON Lines for programs.

use berth_core::{Action, Change, FieldDiff, Plan};

use crate::shell::{Color, Shell};

fn field_line(field: &FieldDiff) -> String {
    let show = |v: &Option<berth_core::FieldValue>| match v {
        Some(v) => v.to_string(),
        None => "(none)".to_owned(),
    };
    match (&field.before, &field.after) {
        (None, Some(after)) => format!("{} = {after}", field.name),
        (Some(before), None) => format!("{} = {before} -> (none)", field.name),
        _ => format!(
            "{} = {} -> {}",
            field.name,
            show(&field.before),
            show(&field.after)
        ),
    }
}

fn color_of(action: Action) -> Color {
    match action {
        Action::Create => Color::Green,
        Action::Update => Color::Yellow,
        Action::Replace => Color::Magenta,
        Action::Delete => Color::Red,
        Action::NoOp => Color::Dim,
    }
}

/// The human rendering of a plan's changes (no-ops left out), one block per change.
pub fn plan_text(shell: &Shell, plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for change in plan.actionable() {
        lines.push(change_header(shell, change));
        for field in &change.fields {
            lines.push(format!("      {}", field_line(field)));
        }
        if let Some(reason) = &change.refused {
            lines.push(format!(
                "      {} {reason}",
                shell.paint(Color::Red, "! refused:")
            ));
        }
    }
    lines
}

fn change_header(shell: &Shell, change: &Change) -> String {
    let verb = match change.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "will be replaced",
        Action::Delete => "will be deleted",
        Action::NoOp => "is up to date",
    };
    let symbol = format!("{:>3}", change.action.symbol());
    format!(
        "  {} {} {verb}",
        shell.paint(color_of(change.action), &symbol),
        shell.paint(Color::Bold, change.address.as_str())
    )
}

/// Writes a plan to stderr (people) or as JSON Lines to stdout (`--json`).
pub fn show_plan(shell: &Shell, plan: &Plan, json: bool, what: &str) {
    if json {
        for change in plan.changes() {
            let value = serde_json::to_value(change).expect("changes serialise");
            shell.json("change", value);
        }
        shell.json(
            "summary",
            serde_json::to_value(plan.summary()).expect("summaries serialise"),
        );
        return;
    }
    if !plan.has_changes() {
        shell.status(format!("No changes: {what}."));
        return;
    }
    shell.status("berth will make these changes:");
    for line in plan_text(shell, plan) {
        shell.status(line);
    }
    shell.status(format!("Plan: {}.", plan.summary()));
}

#[cfg(test)]
mod tests {
    use berth_core::{Address, Change, FieldDiff, FieldValue};

    use super::*;

    fn sample() -> Plan {
        Plan::new(vec![
            Change::new(
                Address::new("registry", "repository", "web"),
                Action::Create,
                vec![
                    FieldDiff::added("scan_on_push", true),
                    FieldDiff::added("encryption", "aes256"),
                ],
                (),
            ),
            Change::new(
                Address::new("logging", "log_group", "web"),
                Action::Update,
                vec![FieldDiff::changed("retention_days", 7, 30)],
                (),
            ),
            Change::no_op(Address::new("logging", "log_group", "worker")),
            Change::new(
                Address::new("registry", "repository", "old"),
                Action::Delete,
                vec![FieldDiff::removed("images", 3)],
                (),
            )
            .refuse("repository prod-old holds 3 images; allow it with --delete-images"),
            Change::new(
                Address::new("database", "cluster", "main"),
                Action::Replace,
                vec![FieldDiff::new(
                    "password",
                    Some(FieldValue::Sensitive),
                    Some(FieldValue::Sensitive),
                )],
                (),
            ),
        ])
    }

    #[test]
    fn human_plan() {
        let (shell, captured) = Shell::capture();
        show_plan(&shell, &sample(), false, "");
        insta::assert_snapshot!(captured.stderr());
        assert_eq!(captured.stdout(), "");
    }

    #[test]
    fn json_plan_is_one_record_per_line() {
        let (shell, captured) = Shell::capture();
        show_plan(&shell, &sample(), true, "");
        let lines: Vec<serde_json::Value> = captured
            .stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0]["type"], "change");
        assert_eq!(lines[0]["address"], "database.cluster[main]");
        assert_eq!(lines[0]["fields"][0]["after"], "(sensitive)");
        assert_eq!(lines[5]["type"], "summary");
        assert_eq!(lines[5]["delete"], 1);
        assert_eq!(captured.stderr(), "");
    }

    #[test]
    fn no_changes_says_so() {
        let (shell, captured) = Shell::capture();
        show_plan(
            &shell,
            &Plan::default(),
            false,
            "stack prod matches stacks/prod.toml",
        );
        assert_eq!(
            captured.stderr(),
            "No changes: stack prod matches stacks/prod.toml.\n"
        );
    }
}
