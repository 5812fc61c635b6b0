//! The reference stacks (stacks/wca-live.toml … stacks/glific.toml, one per reference
//! write-up) brought up on the emulator as they are shipped — but for the region, and with
//! deletion protection off — converged, and torn down.

use berth_tests::{Harness, REGION};

/// The shipped file, made fit for a test account: the test region, no deletion protection.
fn for_the_emulator(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("region = ") {
                format!("region = \"{REGION}\"")
            } else if line.trim_start().starts_with("certificate_arn = ") {
                // The emulator checks the certificate is in ACM in the test's account, and the
                // harness has no ACM client to import one: plain HTTP for this test.
                format!("# {line}")
            } else {
                line.replace("deletion_protection = true", "deletion_protection = false")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names of the services running in the stack's cluster, sorted.
async fn running_services(h: &Harness, stack: &str) -> Vec<String> {
    let cluster = format!("{stack}-cluster");
    let ecs = h.clients().ecs;
    let Ok(listed) = ecs.list_services().cluster(&cluster).send().await else {
        return Vec::new();
    };
    if listed.service_arns().is_empty() {
        return Vec::new();
    }
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .set_services(Some(listed.service_arns().to_vec()))
        .send()
        .await
        .expect("DescribeServices");
    let mut names: Vec<String> = described
        .services()
        .iter()
        .filter(|s| s.status() == Some("ACTIVE"))
        .filter_map(|s| s.service_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// `text` is the shipped stacks/STACK.toml (built in with `include_str!`); `services` the
/// `[services.NAME]` it runs.
async fn up_converge_down(stack: &str, text: &str, services: &[&str]) {
    let h = Harness::new().await;
    h.write_stack(stack, &for_the_emulator(text));
    h.xtask(&["up", stack, "--yes"]).await.expect_code(0);
    assert_eq!(running_services(&h, stack).await, services, "{stack}");
    h.expect_converged(stack).await;
    h.xtask(&[
        "down",
        stack,
        "--yes",
        "--delete-database",
        "--skip-final-snapshot",
    ])
    .await
    .expect_code(0);
    assert_eq!(
        running_services(&h, stack).await,
        Vec::<String>::new(),
        "{stack}"
    );
    let clusters = h.clients().rds.describe_db_clusters().send().await.unwrap();
    assert_eq!(
        clusters.db_clusters(),
        [],
        "{stack}: the database is deleted"
    );
    let vpcs = h.clients().ec2.describe_vpcs().send().await.unwrap();
    let ours = vpcs
        .vpcs()
        .iter()
        .filter(|v| v.tags().iter().any(|t| t.key() == Some("berth:stack")))
        .count();
    assert_eq!(ours, 0, "{stack}: the network is deleted");
}

#[tokio::test]
async fn reference_wca_live_goes_up_and_down() {
    up_converge_down(
        "wca-live",
        include_str!("../../../stacks/wca-live.toml"),
        &["web"],
    )
    .await;
}

#[tokio::test]
async fn reference_terraform_docdb_goes_up_and_down() {
    up_converge_down(
        "terraform-docdb",
        include_str!("../../../stacks/terraform-docdb.toml"),
        &["app"],
    )
    .await;
}

#[tokio::test]
async fn reference_waffle_goes_up_and_down() {
    up_converge_down(
        "waffle",
        include_str!("../../../stacks/waffle.toml"),
        &["thrashing", "ws"],
    )
    .await;
}

#[tokio::test]
async fn reference_many_faces_goes_up_and_down() {
    up_converge_down(
        "many-faces",
        include_str!("../../../stacks/many-faces.toml"),
        &["web"],
    )
    .await;
}

#[tokio::test]
async fn reference_glific_goes_up_and_down() {
    up_converge_down(
        "glific",
        include_str!("../../../stacks/glific.toml"),
        &["backend", "frontend"],
    )
    .await;
}
