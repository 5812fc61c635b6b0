//! Logging end to end: create, converge, drift, prune, destroy, tail.

use std::ops::ControlFlow;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use berth_logging::aws::CloudWatchLogs;
use berth_logging::{tail, TailOptions};
use berth_tests::Harness;

use crate::BASIC_STACK;

async fn groups(h: &Harness, prefix: &str) -> Vec<(String, Option<i32>)> {
    let out = h
        .clients()
        .logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .send()
        .await
        .unwrap();
    out.log_groups()
        .iter()
        .map(|g| {
            (
                g.log_group_name().unwrap().to_owned(),
                g.retention_in_days(),
            )
        })
        .collect()
}

#[tokio::test]
async fn log_groups_are_created_tagged_and_converge() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(
        groups(&h, "/berth/prod/").await,
        [
            ("/berth/prod/web".to_owned(), Some(30)),
            ("/berth/prod/worker".to_owned(), Some(7))
        ]
    );
    let tags = h
        .clients()
        .logs
        .list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:logs:us-east-1:{}:log-group:/berth/prod/web",
            h.account()
        ))
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags["berth:stack"], "prod");
    assert_eq!(tags["berth:component"], "logging");
    assert_eq!(tags["berth:address"], "logging.log_group[web]");

    // The second run plans only no-ops and makes no mutating request.
    let again = h.xtask(&["up", "prod", "--yes"]).await;
    again.expect_code(0);
    assert_eq!(
        again.mutating(),
        Vec::<&str>::new(),
        "calls: {:?}",
        again.calls
    );
    assert!(again.stderr.contains("No changes"), "{}", again.stderr);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn retention_changed_by_hand_is_repaired() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.clients()
        .logs
        .put_retention_policy()
        .log_group_name("/berth/prod/web")
        .retention_in_days(1)
        .send()
        .await
        .unwrap();
    h.clients()
        .logs
        .delete_retention_policy()
        .log_group_name("/berth/prod/worker")
        .send()
        .await
        .unwrap();

    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let updates: Vec<_> = plan
        .json_lines()
        .into_iter()
        .filter(|l| l["action"] == "update")
        .map(|l| {
            (
                l["address"].as_str().unwrap().to_owned(),
                l["fields"][0].clone(),
            )
        })
        .collect();
    assert_eq!(
        updates,
        [
            (
                "logging.log_group[web]".to_owned(),
                serde_json::json!({"name": "retention_days", "before": 1, "after": 30})
            ),
            (
                "logging.log_group[worker]".to_owned(),
                serde_json::json!({"name": "retention_days", "before": null, "after": 7})
            )
        ]
    );

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    let mut repairs: Vec<_> = up
        .mutating()
        .into_iter()
        .filter(|c| c.starts_with("cloudwatchlogs:"))
        .collect();
    repairs.sort();
    assert_eq!(repairs.len(), 2, "calls: {:?}", up.calls);
    assert!(repairs.iter().all(|c| c.ends_with("PutRetentionPolicy")));
    assert_eq!(
        groups(&h, "/berth/prod/").await,
        [
            ("/berth/prod/web".to_owned(), Some(30)),
            ("/berth/prod/worker".to_owned(), Some(7))
        ]
    );
}

#[tokio::test]
async fn groups_removed_from_the_config_are_pruned_and_untagged_ones_left_alone() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    // Someone else's group inside the stack's prefix, without berth's tags.
    h.clients()
        .logs
        .create_log_group()
        .log_group_name("/berth/prod/handmade")
        .send()
        .await
        .unwrap();

    h.write_stack("prod", "[logging.groups.web]\n");
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert!(
        up.stderr.contains("deleted logging.log_group[worker]"),
        "{}",
        up.stderr
    );
    // Not the stack's, so not in its plan at all.
    assert!(!up.stderr.contains("handmade"), "{}", up.stderr);
    assert_eq!(
        groups(&h, "/berth/prod/").await,
        [
            ("/berth/prod/handmade".to_owned(), None),
            ("/berth/prod/web".to_owned(), Some(30))
        ]
    );
    // And the stack has converged: the group left alone is not planned again and again.
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn down_deletes_every_group_of_the_stack_and_only_that_stack() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.write_stack("staging", "[logging.groups.web]\n");
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.xtask(&["up", "staging", "--yes"]).await.expect_code(0);

    h.xtask(&["down", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(groups(&h, "/berth/prod/").await, []);
    assert_eq!(groups(&h, "/berth/staging/").await.len(), 1);
    // Down again: nothing to do, nothing sent.
    let again = h.xtask(&["down", "prod", "--yes"]).await;
    again.expect_code(0);
    assert_eq!(again.mutating(), Vec::<&str>::new());
}

#[tokio::test]
async fn tail_reads_events_since_a_time_across_pages() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let logs = h.clients().logs;
    logs.create_log_stream()
        .log_group_name("/berth/prod/web")
        .log_stream_name("web/1")
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<_> = (0..30)
        .map(|i| {
            InputLogEvent::builder()
                .timestamp(now - 60_000 + i * 1000)
                .message(format!("line {i}"))
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name("/berth/prod/web")
        .log_stream_name("web/1")
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();

    let api = CloudWatchLogs::new(logs);
    let mut seen = Vec::new();
    tail(
        &api,
        "/berth/prod/web",
        &TailOptions::since(now - 60_000 + 10_000),
        |e| {
            seen.push(e.message.clone());
            ControlFlow::Continue(())
        },
    )
    .await
    .unwrap();
    let expected: Vec<String> = (10..30).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);

    // The CLI prints the same events, one line each, on stdout.
    let out = h.xtask(&["logs", "prod", "web", "--since", "2m"]).await;
    out.expect_code(0);
    assert_eq!(out.stdout.lines().count(), 30, "{}", out.stdout);
    assert!(out.stdout.lines().all(|l| l.contains(" web/1 line ")));
}

#[tokio::test]
async fn a_run_killed_between_create_and_retention_converges_on_rerun() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    // What a run killed right after CreateLogGroup leaves: the group, tagged, no retention.
    let mut create = h
        .clients()
        .logs
        .create_log_group()
        .log_group_name("/berth/prod/web");
    for (k, v) in [
        ("berth:stack", "prod"),
        ("berth:component", "logging"),
        ("berth:address", "logging.log_group[web]"),
        ("Name", "/berth/prod/web"),
    ] {
        create = create.tags(k, v);
    }
    create.send().await.unwrap();

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert!(
        up.stderr.contains("updated logging.log_group[web]"),
        "{}",
        up.stderr
    );
    assert_eq!(
        groups(&h, "/berth/prod/").await,
        [
            ("/berth/prod/web".to_owned(), Some(30)),
            ("/berth/prod/worker".to_owned(), Some(7))
        ]
    );
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}
