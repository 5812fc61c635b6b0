//! Bad configs: each is rejected with the file and key named, before any AWS request.

use berth_tests::Harness;

async fn rejected(config: &str, expected: &str) {
    let h = Harness::new().await;
    h.write_stack("prod", config);
    for command in ["plan", "up", "down", "status"] {
        let mut args = vec![command, "prod"];
        if command == "up" || command == "down" {
            args.push("--yes");
        }
        let outcome = h.xtask(&args).await;
        let error = outcome.expect_error();
        assert!(error.contains("prod.toml: "), "{command}: {error}");
        assert!(
            error.contains(expected),
            "{command}: expected {expected:?} in {error}"
        );
        assert_eq!(
            outcome.calls,
            Vec::<String>::new(),
            "{command} sent requests"
        );
        assert!(
            outcome.stderr.contains("hint: fix the config file"),
            "{}",
            outcome.stderr
        );
    }
}

#[tokio::test]
async fn retention_not_accepted_by_cloudwatch() {
    rejected(
        "[logging]\nretention_days = 31\n[logging.groups.web]\n",
        "logging.retention_days: 31 days is not a retention CloudWatch Logs accepts",
    )
    .await;
}

#[tokio::test]
async fn unknown_key() {
    rejected(
        "[registry.repositories.web]\nscan = true\n",
        "registry.repositories.web.scan: unknown field `scan`",
    )
    .await;
}

#[tokio::test]
async fn wrong_type() {
    rejected(
        "[registry.repositories.web]\ntag_immutability = 1\n",
        "registry.repositories.web.tag_immutability: invalid type: integer `1`, expected a boolean",
    )
    .await;
}

#[tokio::test]
async fn lifecycle_rule_out_of_range() {
    rejected(
        "[registry.repositories.web]\nlifecycle = [{ rule = \"keep_last\", count = 0 }]\n",
        "registry.repositories.web.lifecycle[0].count: 0 is out of range",
    )
    .await;
}

#[tokio::test]
async fn not_toml() {
    rejected("[logging\n", "line 1").await;
}

#[tokio::test]
async fn missing_stack_file() {
    let h = Harness::new().await;
    h.write_stack("prod", "");
    let outcome = h.xtask(&["plan", "qa"]).await;
    let error = outcome.expect_error();
    assert!(
        error.contains("qa.toml: no such stack config; known stacks: prod"),
        "{error}"
    );
    assert!(outcome.calls.is_empty());
}
