//! Database end to end, for both engines: create, converge, drift repaired, instances
//! 3 → 2, a class change, refusal under deletion protection, teardown with a final snapshot,
//! secrets kept out of every output, bad configs rejected before any request.

use berth_tests::Harness;

fn stack(engine: &str, extra: &str) -> String {
    format!(
        r#"
[stack]
region = "us-east-1"

[network]
az_count = 2

[database]
engine = "{engine}"
instance_count = 3
backup_retention_days = 30
backup_window = "01:00-03:00"
maintenance_window = "sun:05:00-sun:06:00"
{extra}
"#
    )
}

async fn cluster(h: &Harness) -> Option<aws_sdk_rds::types::DbCluster> {
    h.clients()
        .rds
        .describe_db_clusters()
        .db_cluster_identifier("prod-db")
        .send()
        .await
        .ok()
        .and_then(|o| o.db_clusters().first().cloned())
}

async fn instance_ids(h: &Harness) -> Vec<String> {
    let out = h
        .clients()
        .rds
        .describe_db_instances()
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

async fn secret_value(h: &Harness, name: &str) -> String {
    h.clients()
        .secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned()
}

async fn full_cycle(engine: &str, port: i32, tls: (&str, &str), url_scheme: &str) {
    let h = Harness::new().await;
    h.write_stack("prod", &stack(engine, ""));
    let up = h.xtask(&["up", "prod", "--yes", "--json"]).await;
    up.expect_code(0);

    let db = cluster(&h).await.expect("the cluster exists");
    assert_eq!(db.engine(), Some(engine));
    assert_eq!(db.port(), Some(port));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(30));
    assert_eq!(db.preferred_backup_window(), Some("01:00-03:00"));
    assert_eq!(db.db_subnet_group(), Some("prod-db"));
    assert!(db
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("berth:stack") && t.value() == Some("prod")));
    assert_eq!(
        instance_ids(&h).await,
        ["prod-db-1", "prod-db-2", "prod-db-3"]
    );

    // The subnet group is the data subnets; the cluster is in the database security group.
    let outputs = up
        .json_lines()
        .into_iter()
        .find(|l| l["type"] == "outputs")
        .unwrap();
    let network = &outputs["outputs"]["network"];
    let groups = h
        .clients()
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("prod-db")
        .send()
        .await
        .unwrap();
    let mut subnets: Vec<String> = groups.db_subnet_groups()[0]
        .subnets()
        .iter()
        .map(|s| s.subnet_identifier().unwrap().to_owned())
        .collect();
    subnets.sort();
    let mut data: Vec<String> = network["subnets"]["data"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    data.sort();
    assert_eq!(subnets, data);
    assert_eq!(
        db.vpc_security_groups()[0].vpc_security_group_id(),
        network["security_groups"]["database"].as_str()
    );
    // TLS is forced by the cluster parameter group.
    let parameters = h
        .clients()
        .rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(db.db_cluster_parameter_group().unwrap())
        .send()
        .await
        .unwrap();
    assert!(parameters
        .parameters()
        .iter()
        .any(|p| p.parameter_name() == Some(tls.0) && p.parameter_value() == Some(tls.1)));

    // The app's URL is in its own secret, built from the generated password.
    let database = &outputs["outputs"]["database"];
    let master: serde_json::Value =
        serde_json::from_str(&secret_value(&h, "berth/prod/database/master").await).unwrap();
    let password = master["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 32);
    let url = secret_value(&h, database["url_secret_arn"].as_str().unwrap()).await;
    assert!(
        url.starts_with(&format!(
            "{url_scheme}://berth:{password}@{}:{port}/",
            db.endpoint().unwrap()
        )),
        "{url}"
    );
    assert_eq!(database["endpoint"], db.endpoint().unwrap());

    // Converged: nothing planned, nothing sent.
    let again = h.xtask(&["up", "prod", "--yes"]).await;
    again.expect_code(0);
    assert_eq!(again.mutating(), Vec::<&str>::new(), "{:?}", again.calls);

    // Retention changed by hand is repaired.
    h.clients()
        .rds
        .modify_db_cluster()
        .db_cluster_identifier("prod-db")
        .backup_retention_period(7)
        .apply_immediately(true)
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
        .find(|l| l["address"] == "database.cluster")
        .unwrap();
    assert_eq!(change["action"], "update");
    assert_eq!(
        change["fields"][0],
        serde_json::json!({"name": "backup_retention_days", "before": 7, "after": 30})
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(
        cluster(&h).await.unwrap().backup_retention_period(),
        Some(30)
    );

    // Three instances to two: the highest one goes.
    h.write_stack(
        "prod",
        &stack(engine, "").replace("instance_count = 3", "instance_count = 2"),
    );
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    assert_eq!(instance_ids(&h).await, ["prod-db-1", "prod-db-2"]);
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);

    // The password never appears in any output.
    let outputs_text = [&up, &again, &plan]
        .iter()
        .map(|o| format!("{}{}", o.stdout, o.stderr))
        .collect::<String>();
    let status = h.xtask(&["status", "prod", "--json"]).await;
    assert!(
        !outputs_text.contains(&password),
        "the password leaked into command output"
    );
    assert!(!status.stdout.contains(&password) && !status.stderr.contains(&password));

    // Down refuses while deletion protection is on, changing nothing.
    let refused = h.xtask(&["down", "prod", "--yes"]).await;
    let error = refused.expect_error();
    assert!(
        error.contains(
            "cluster prod-db has deletion protection on; delete it only with --delete-database"
        ),
        "{error}"
    );
    assert_eq!(refused.mutating(), Vec::<&str>::new());
    assert!(cluster(&h).await.is_some());

    // With the flag: protection lifted, final snapshot taken, everything gone.
    let down = h
        .xtask(&["down", "prod", "--yes", "--delete-database"])
        .await;
    down.expect_code(0);
    assert!(cluster(&h).await.is_none());
    assert_eq!(instance_ids(&h).await, Vec::<String>::new());
    let snapshot = down
        .stderr
        .lines()
        .find_map(|l| l.split("final snapshot ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("down names the final snapshot")
        .to_owned();
    assert!(snapshot.starts_with("prod-final-"), "{snapshot}");
    let snapshots = h
        .clients()
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_cluster_snapshots().len(), 1);
    assert!(!down.stderr.contains(&password) && !down.stdout.contains(&password));
}

#[tokio::test]
async fn documentdb_from_create_to_final_snapshot() {
    full_cycle("docdb", 27017, ("tls", "enabled"), "mongodb").await;
}

#[tokio::test]
async fn aurora_postgresql_from_create_to_final_snapshot() {
    full_cycle(
        "aurora-postgresql",
        5432,
        ("rds.force_ssl", "1"),
        "postgres",
    )
    .await;
}

#[tokio::test]
async fn an_engine_change_is_refused_unless_replacement_is_allowed() {
    let h = Harness::new().await;
    h.write_stack("prod", &stack("docdb", "deletion_protection = false"));
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.write_stack(
        "prod",
        &stack("aurora-postgresql", "deletion_protection = false"),
    );
    let refused = h.xtask(&["up", "prod", "--yes"]).await;
    let error = refused.expect_error();
    assert!(
        error.contains("allow it with --replace-database"),
        "{error}"
    );
    assert_eq!(refused.mutating(), Vec::<&str>::new());
    assert_eq!(cluster(&h).await.unwrap().engine(), Some("docdb"));
}

#[tokio::test]
async fn removing_the_database_from_the_config_never_deletes_it_silently() {
    let h = Harness::new().await;
    h.write_stack("prod", &stack("docdb", "deletion_protection = false"));
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    h.write_stack(
        "prod",
        "[stack]\nregion = \"us-east-1\"\n[network]\naz_count = 2\n",
    );
    let refused = h.xtask(&["up", "prod", "--yes"]).await;
    assert!(refused
        .expect_error()
        .contains("deleting cluster prod-db deletes its data; allow it with --delete-database"));
    assert!(cluster(&h).await.is_some());
}

async fn rejected(database: &str, expected: &str) {
    let h = Harness::new().await;
    h.write_stack("prod", &format!("[network]\n[database]\n{database}\n"));
    let outcome = h.xtask(&["up", "prod", "--yes"]).await;
    Harness::expect_rejected_without_request(&outcome, expected);
}

#[tokio::test]
async fn bad_database_configs_are_rejected_before_any_request() {
    rejected(
        "backup_retention_days = 0",
        "database.backup_retention_days: 0 days is out of range; use 1 to 35",
    )
    .await;
    rejected(
        "backup_retention_days = 36",
        "database.backup_retention_days: 36 days is out of range",
    )
    .await;
    rejected(
        "backup_window = \"01:00-01:20\"",
        "database.backup_window: \"01:00-01:20\" is 20 minutes long; a backup window needs at least 30",
    )
    .await;
    rejected(
        "maintenance_window = \"tue:02:00-tue:02:45\"",
        "database.maintenance_window: \"tue:02:00-tue:02:45\" overlaps the backup window \"01:00-03:00\"",
    )
    .await;
    rejected(
        "instance_count = 17",
        "database.instance_count: 17 instances is out of range",
    )
    .await;
    rejected(
        "engine = \"mysql\"",
        "database.engine: \"mysql\" is not an engine berth runs",
    )
    .await;
    let h = Harness::new().await;
    h.write_stack("prod", "[database]\n");
    let outcome = h.xtask(&["plan", "prod"]).await;
    assert!(outcome
        .expect_error()
        .contains("database: a database needs a [network]"));
    assert!(outcome.calls.is_empty());
}

#[tokio::test]
async fn a_run_killed_after_the_secret_keeps_its_password() {
    let h = Harness::new().await;
    h.write_stack("prod", &stack("docdb", "deletion_protection = false"));
    // What a run killed after generating the password leaves: the master secret alone.
    let tags = [
        ("berth:stack", "prod"),
        ("berth:component", "database"),
        ("berth:address", "database.master_secret"),
    ]
    .map(|(k, v)| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    });
    h.clients()
        .secrets
        .create_secret()
        .name("berth/prod/database/master")
        .secret_string(r#"{"engine":"docdb","username":"berth","password":"KeepThisPassword0123456789abcdef","port":27017}"#)
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .unwrap();
    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    assert!(
        !up.calls
            .iter()
            .any(|c| c == "secretsmanager:GetRandomPassword"),
        "no second password"
    );
    let url = secret_value(&h, "berth/prod/database/url").await;
    assert!(
        url.contains(":KeepThisPassword0123456789abcdef@"),
        "the URL uses the kept password"
    );
    h.xtask(&["plan", "prod", "--detailed-exitcode"])
        .await
        .expect_code(0);
}

/// Shrinking the network under a database: the subnet group moves off the removed AZ's data
/// subnet (forward pass) before the network deletes it (reverse pass), in one `up`.
#[tokio::test]
async fn shrinking_the_azs_under_a_database_converges_in_one_up() {
    let h = Harness::new().await;
    let three = stack("aurora-postgresql", "").replace("az_count = 2", "az_count = 3");
    h.write_stack("prod", &three);
    h.xtask(&["up", "prod", "--yes"]).await.expect_code(0);
    let subnet_group = |h: &Harness| {
        let rds = h.clients().rds;
        async move {
            let groups = rds
                .describe_db_subnet_groups()
                .db_subnet_group_name("prod-db")
                .send()
                .await
                .unwrap();
            let mut azs: Vec<String> = groups.db_subnet_groups()[0]
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_availability_zone()?.name().map(str::to_owned))
                .collect();
            azs.sort();
            azs
        }
    };
    assert_eq!(subnet_group(&h).await.len(), 3);

    h.write_stack("prod", &three.replace("az_count = 3", "az_count = 2"));
    let plan = h
        .xtask(&["plan", "prod", "--json", "--detailed-exitcode"])
        .await;
    plan.expect_code(2);
    let changed: Vec<(String, String)> = plan
        .json_lines()
        .into_iter()
        .filter(|l| l["type"] == "change")
        .map(|l| {
            (
                l["address"].as_str().unwrap().to_owned(),
                l["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        changed.contains(&("database.subnet_group".into(), "update".into())),
        "{changed:?}"
    );

    let up = h.xtask(&["up", "prod", "--yes"]).await;
    up.expect_code(0);
    let order: Vec<&str> = up
        .mutating()
        .into_iter()
        .filter(|c| c.ends_with("ModifyDBSubnetGroup") || c.ends_with("DeleteSubnet"))
        .collect();
    assert_eq!(order.first(), Some(&"rds:ModifyDBSubnetGroup"), "{order:?}");
    assert!(order.contains(&"ec2:DeleteSubnet"), "{order:?}");
    assert_eq!(subnet_group(&h).await, ["us-east-1a", "us-east-1b"]);
    h.expect_converged("prod").await;
}
