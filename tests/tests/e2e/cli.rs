//! The command line end to end: exit codes, JSON Lines, confirmation, the stack lock.

use berth_tests::Harness;

use crate::BASIC_STACK;

#[tokio::test]
async fn plan_exit_codes_and_json_lines() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let lines = plan.json_lines();
    let changes: Vec<_> = lines.iter().filter(|l| l["type"] == "change").collect();
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c["action"] == "create"));
    let addresses: Vec<_> = changes
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [
            "logging.log_group[web]",
            "logging.log_group[worker]",
            "registry.repository[web]"
        ]
    );
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["create"], 3);
    assert_eq!(plan.mutating(), Vec::<&str>::new());
    // Without --detailed-exitcode a plan with changes still exits 0.
    h.xtask(&["plan", "prod"]).await.expect_code(0);

    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn up_without_a_terminal_or_yes_changes_nothing() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    let up = h.xtask(&["up", "prod"]).await;
    let error = up.expect_error();
    assert!(
        error.contains("without confirmation: there is no terminal to ask on"),
        "{error}"
    );
    assert!(up.stderr.contains("hint: pass --yes"), "{}", up.stderr);
    // Only the lock was taken and given back.
    assert_eq!(up.mutating(), ["ssm:PutParameter", "ssm:DeleteParameter"]);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(2);
}

#[tokio::test]
async fn up_on_a_terminal_asks_and_only_yes_applies() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    let no = h.xtask_interactive(&["up", "prod"], "y\n").await;
    assert!(no.expect_error().contains("cancelled: nothing was changed"));
    assert!(
        no.stderr.contains("Apply these changes to stack prod?"),
        "{}",
        no.stderr
    );
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(2);

    h.xtask_interactive(&["up", "prod"], "yes\n")
        .await
        .expect_code(0);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);

    let down = h.xtask_interactive(&["down", "prod"], "no\n").await;
    assert!(down.expect_error().contains("cancelled"));
    assert!(down
        .stderr
        .contains("Delete these resources of stack prod?"));
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn a_second_run_fails_fast_naming_the_lock_holder_until_unlocked() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    h.clients()
        .ssm
        .put_parameter()
        .name("/berth/prod/lock")
        .value(
            serde_json::json!({"owner": "alice@ci (pid 7)", "operation": "deploy",
                               "acquired_at": expires - 3700, "expires_at": expires})
            .to_string(),
        )
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    let error = up.expect_error();
    assert!(
        error.contains("stack prod is locked by alice@ci (pid 7) running `deploy`"),
        "{error}"
    );
    assert!(up.stderr.contains("hint: wait for that run to finish; if it died, remove the lock with `cargo xtask unlock prod`"), "{}", up.stderr);
    assert_eq!(
        up.mutating(),
        ["ssm:PutParameter"],
        "only the failed lock attempt"
    );

    h.xtask(&["unlock", "prod"]).await.expect_code(0);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    // The lock is released after a run.
    let lock = h
        .clients()
        .ssm
        .get_parameter()
        .name("/berth/prod/lock")
        .send()
        .await;
    assert!(lock.is_err(), "the lock should be gone");
}

#[tokio::test]
async fn status_reports_outputs_and_sync() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let status = h.xtask(&["status", "prod", "--json"]).await;
    status.expect_code(0);
    let lines = status.json_lines();
    assert_eq!(lines[0]["type"], "outputs");
    assert_eq!(
        lines[0]["outputs"]["logging"]["groups"]["web"]["name"],
        "/berth/prod/web"
    );
    assert_eq!(lines[1]["in_sync"], true);
    assert_eq!(status.mutating(), Vec::<&str>::new());
}

#[tokio::test]
async fn observing_makes_one_list_call_per_resource_type() {
    let h = Harness::new().await;
    h.write_stack(
        "prod",
        &format!(
            "{BASIC_STACK}\n[logging.groups.a]\n[logging.groups.b]\n[registry.repositories.api]\n"
        ),
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let plan = h.xtask(&["plan", "prod"]).await;
    plan.expect_code(0);
    let mut histogram = std::collections::BTreeMap::new();
    for call in &plan.calls {
        *histogram.entry(call.as_str()).or_insert(0) += 1;
    }
    // Four log groups: one DescribeLogGroups, then each group's tags (CloudWatch Logs has no
    // batch call for them). Two repositories: one DescribeRepositories, then per repository
    // what ECR has no batch call for. No network and no database: one list call per
    // resource type, finding nothing. The database and compute each keep secrets: one
    // ListSecrets each.
    for (call, count) in &histogram {
        let expected = match *call {
            "cloudwatchlogs:ListTagsForResource" => 4,
            "ecr:ListTagsForResource" | "ecr:GetLifecyclePolicy" | "ecr:ListImages" => 2,
            "secretsmanager:ListSecrets" => 2,
            _ => 1,
        };
        assert_eq!(*count, expected, "{call}: {histogram:?}");
    }
    // Logging and registry 6, network 11, database 5, compute 13.
    assert_eq!(histogram.len(), 6 + 11 + 5 + 13, "{histogram:?}");
}
