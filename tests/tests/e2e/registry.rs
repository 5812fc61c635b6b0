//! Registry end to end: create, converge, drift on every setting, prune, image safety on
//! destroy, image lookup.

use aws_sdk_ecr::types::ImageTagMutability;
use berth_registry::aws::Ecr;
use berth_registry::image_digest;
use berth_tests::Harness;

use crate::BASIC_STACK;

async fn repository(h: &Harness, name: &str) -> Option<aws_sdk_ecr::types::Repository> {
    let out = h
        .clients()
        .ecr
        .describe_repositories()
        .send()
        .await
        .unwrap();
    out.repositories()
        .iter()
        .find(|r| r.repository_name() == Some(name))
        .cloned()
}

async fn policy(h: &Harness, name: &str) -> Option<serde_json::Value> {
    h.clients()
        .ecr
        .get_lifecycle_policy()
        .repository_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.lifecycle_policy_text()
                .map(|t| serde_json::from_str(t).unwrap())
        })
}

async fn push_image(h: &Harness, repository: &str, tag: &str) -> String {
    // Distinct manifests per tag, so that each tag is its own image (digest).
    let seed: usize = tag.bytes().map(usize::from).sum::<usize>() * 31 + tag.len();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 7023, "digest": format!("sha256:{seed:064x}")},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654, "digest": format!("sha256:{:064x}", seed + 1)}]
    });
    let out = h
        .clients()
        .ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap();
    out.image()
        .unwrap()
        .image_id()
        .unwrap()
        .image_digest()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn repositories_are_created_with_every_setting_and_converge() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    let up = h.xtask(&["up", "prod", "--yes", "--json"]).await;
    up.expect_code(0);
    let repo = repository(&h, "prod-web").await.expect("prod-web exists");
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    let rules = policy(&h, "prod-web").await.expect("a lifecycle policy");
    assert_eq!(rules["rules"][0]["selection"]["tagStatus"], "untagged");
    assert_eq!(rules["rules"][0]["selection"]["countNumber"], 14);
    assert_eq!(rules["rules"][1]["selection"]["countNumber"], 30);
    let tags = h
        .clients()
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "berth:address" && t.value() == "registry.repository[web]"));
    // The outputs record names the repository URI.
    let outputs = up
        .json_lines()
        .into_iter()
        .find(|l| l["type"] == "outputs")
        .expect("an outputs record");
    assert_eq!(
        outputs["outputs"]["registry"]["repositories"]["web"]["uri"],
        repo.repository_uri().unwrap()
    );

    let again = h.xtask(&["up", "prod", "--yes"]).await;
    again.expect_code(0);
    assert_eq!(
        again.mutating(),
        Vec::<&str>::new(),
        "calls: {:?}",
        again.calls
    );
}

#[tokio::test]
async fn settings_changed_by_hand_are_repaired() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let ecr = h.clients().ecr;
    ecr.put_image_tag_mutability()
        .repository_name("prod-web")
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    ecr.put_lifecycle_policy()
        .repository_name("prod-web")
        .lifecycle_policy_text(r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}"#)
        .send()
        .await
        .unwrap();

    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let change = plan
        .json_lines()
        .into_iter()
        .find(|l| l["address"] == "registry.repository[web]")
        .unwrap();
    assert_eq!(change["action"], "update");
    let fields: Vec<_> = change["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["tag_immutability", "lifecycle"]);

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    let mut repairs: Vec<_> = up
        .mutating()
        .into_iter()
        .filter(|c| c.starts_with("ecr:"))
        .collect();
    repairs.sort();
    assert_eq!(
        repairs,
        ["ecr:PutImageTagMutability", "ecr:PutLifecyclePolicy"]
    );
    let repo = repository(&h, "prod-web").await.unwrap();
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    assert_eq!(
        policy(&h, "prod-web").await.unwrap()["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);

    // A deleted policy is put back too.
    ecr.delete_lifecycle_policy()
        .repository_name("prod-web")
        .send()
        .await
        .unwrap();
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(2);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert!(policy(&h, "prod-web").await.is_some());
}

#[tokio::test]
async fn scan_on_push_is_reconciled() {
    // Turning scanning *off* cannot be shown here: the SDK leaves `scanOnPush: false` out of
    // the request (it is the default) and moto 5.2.5 then ignores the empty configuration.
    // AWS reads the missing member as false. So this test turns scanning on.
    let h = Harness::new().await;
    h.write_stack(
        "prod",
        "[registry.repositories.web]\nscan_on_push = false\n",
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let repo = repository(&h, "prod-web").await.unwrap();
    assert!(!repo.image_scanning_configuration().unwrap().scan_on_push());
    h.write_stack("prod", "[registry.repositories.web]\nscan_on_push = true\n");
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert_eq!(
        up.mutating()
            .into_iter()
            .filter(|c| c.starts_with("ecr:"))
            .collect::<Vec<_>>(),
        ["ecr:PutImageScanningConfiguration"]
    );
    let repo = repository(&h, "prod-web").await.unwrap();
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
}

#[tokio::test]
async fn a_policy_rewritten_with_the_same_meaning_is_not_drift() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.clients()
        .ecr
        .put_lifecycle_policy()
        .repository_name("prod-web")
        .lifecycle_policy_text(
            r#"{ "rules": [
              {"rulePriority": 50, "description": "by hand", "action": {"type": "expire"},
               "selection": {"countNumber": 30, "countType": "imageCountMoreThan", "tagStatus": "any"}},
              {"rulePriority": 5, "action": {"type": "expire"},
               "selection": {"tagStatus": "untagged", "countUnit": "days", "countNumber": 14, "countType": "sinceImagePushed"}}
            ] }"#,
        )
        .send()
        .await
        .unwrap();
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

#[tokio::test]
async fn a_repository_holding_images_is_only_deleted_when_allowed() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    push_image(&h, "prod-web", "v1").await;
    push_image(&h, "prod-web", "v2").await;

    let down = h.xtask(&["down", "prod", "--yes"]).await;
    let error = down.expect_error();
    assert!(
        error.contains("repository prod-web holds 2 images, which deleting it would delete; allow it with --delete-images"),
        "{error}"
    );
    assert_eq!(
        down.mutating(),
        Vec::<&str>::new(),
        "nothing may change: {:?}",
        down.calls
    );
    assert!(repository(&h, "prod-web").await.is_some());
    assert!(
        down.stderr.contains("hint: nothing was changed"),
        "{}",
        down.stderr
    );

    h.xtask(&["down", "prod", "--yes", "--delete-images"])
        .await
        .expect_code(0);
    assert!(repository(&h, "prod-web").await.is_none());
}

#[tokio::test]
async fn an_unconfigured_empty_repository_is_pruned() {
    let h = Harness::new().await;
    h.write_stack(
        "prod",
        &format!("{BASIC_STACK}\n[registry.repositories.api]\n"),
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert!(repository(&h, "prod-api").await.is_some());
    h.write_stack("prod", BASIC_STACK);
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert!(
        up.mutating().contains(&"ecr:DeleteRepository"),
        "{:?}",
        up.calls
    );
    assert!(repository(&h, "prod-api").await.is_none());
    assert!(repository(&h, "prod-web").await.is_some());
}

#[tokio::test]
async fn a_same_named_repository_of_someone_else_is_not_adopted() {
    let h = Harness::new().await;
    h.clients()
        .ecr
        .create_repository()
        .repository_name("prod-web")
        .send()
        .await
        .unwrap();
    h.write_stack("prod", BASIC_STACK);
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    let error = up.expect_error();
    assert!(
        error.contains("a repository named prod-web exists but is not stack prod's"),
        "{error}"
    );
    assert_eq!(up.mutating(), Vec::<&str>::new());
}

#[tokio::test]
async fn image_lookup_turns_a_tag_into_its_digest() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let digest = push_image(&h, "prod-web", "v1").await;
    let api = Ecr::new(h.clients().ecr);
    assert_eq!(image_digest(&api, "prod-web", "v1").await.unwrap(), digest);
    let missing = image_digest(&api, "prod-web", "v9").await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        "no image tagged \"v9\" in repository prod-web; push it first, or pick a tag that exists"
    );
    let no_repo = image_digest(&api, "prod-nothing", "v1").await.unwrap_err();
    assert!(no_repo
        .to_string()
        .starts_with("no image tagged \"v1\" in repository prod-nothing"));
}

#[tokio::test]
async fn a_run_killed_between_create_and_policy_converges_on_rerun() {
    let h = Harness::new().await;
    h.write_stack("prod", BASIC_STACK);
    // What a run killed right after CreateRepository leaves: tagged, no lifecycle policy.
    let tags = [
        ("berth:stack", "prod"),
        ("berth:component", "registry"),
        ("berth:address", "registry.repository[web]"),
        ("Name", "prod-web"),
    ]
    .map(|(k, v)| {
        aws_sdk_ecr::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    });
    h.clients()
        .ecr
        .create_repository()
        .repository_name("prod-web")
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .image_tag_mutability(ImageTagMutability::Immutable)
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .unwrap();

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    let registry_calls: Vec<_> = up
        .mutating()
        .into_iter()
        .filter(|c| c.starts_with("ecr:"))
        .collect();
    assert_eq!(registry_calls, ["ecr:PutLifecyclePolicy"]);
    assert!(policy(&h, "prod-web").await.is_some());
    let all = h
        .clients()
        .ecr
        .describe_repositories()
        .send()
        .await
        .unwrap();
    assert_eq!(all.repositories().len(), 1, "no duplicate repository");
}
