//! The `[compute]` and `[services.NAME]` sections: capacity pools, and the app's services with
//! their containers, load balancing, discovery, deployment, autoscaling and alarms. Validated
//! into a `ComputeSpec`; every problem names its key.

use std::collections::{BTreeMap, BTreeSet};

use berth_compute::{
    AutoscalingSpec, ComputeSpec, CpuAlarmSpec, DeploymentSpec, GeneratedSecret, HealthCheck,
    LaunchType, PoolSpec, ScalingMetric, ScalingTarget, ServiceSpec,
};
use serde::Deserialize;

use super::{is_short_name, Validator};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompute {
    #[serde(default)]
    pools: BTreeMap<String, RawPool>,
    fargate_spot_percent: Option<i64>,
    alarm_emails: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    instance_types: Option<Vec<String>>,
    min_size: Option<i64>,
    max_size: Option<i64>,
    desired_capacity: Option<i64>,
    root_volume_gib: Option<i64>,
    ami: Option<String>,
    target_capacity: Option<i64>,
    spot: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    repository: Option<String>,
    port: Option<i64>,
    cpu: Option<i64>,
    memory: Option<i64>,
    memory_reservation: Option<i64>,
    command: Option<Vec<String>>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    generated_secrets: Option<Vec<String>>,
    database_url: Option<bool>,
    health_check: Option<RawHealthCheck>,
    stop_timeout: Option<i64>,
    pool: Option<String>,
    load_balancers: Option<Vec<String>>,
    discovery: Option<bool>,
    one_task_per_instance: Option<bool>,
    desired_count: Option<i64>,
    #[serde(default)]
    deployment: RawDeployment,
    autoscaling: Option<RawAutoscaling>,
    cpu_alarm: Option<RawCpuAlarm>,
    task_role_statements: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthCheck {
    command: String,
    interval: Option<i64>,
    timeout: Option<i64>,
    retries: Option<i64>,
    start_period: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    minimum_healthy_percent: Option<i64>,
    maximum_percent: Option<i64>,
    circuit_breaker: Option<bool>,
    grace_period: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoscaling {
    min: i64,
    max: i64,
    cpu: Option<i64>,
    memory: Option<i64>,
    requests_per_target: Option<i64>,
    scale_in_cooldown: Option<i64>,
    scale_out_cooldown: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCpuAlarm {
    threshold: Option<i64>,
    period: Option<i64>,
    evaluation_periods: Option<i64>,
}

/// What the other sections offer a service.
pub(super) struct Offered<'a> {
    pub launch_type: LaunchType,
    pub has_network: bool,
    pub has_websocket_load_balancer: bool,
    pub has_namespace: bool,
    pub has_database: bool,
    pub container_port: u16,
    pub repositories: &'a BTreeSet<String>,
}

/// Fargate's valid (cpu, memory MiB) pairs.
fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory % 1024 == 0,
        1024 => (2048..=8192).contains(&memory) && memory % 1024 == 0,
        2048 => (4096..=16384).contains(&memory) && memory % 1024 == 0,
        4096 => (8192..=30720).contains(&memory) && memory % 1024 == 0,
        8192 => (16384..=61440).contains(&memory) && memory % 4096 == 0,
        16384 => (32768..=122880).contains(&memory) && memory % 8192 == 0,
        _ => false,
    }
}

fn is_instance_type(t: &str) -> bool {
    let mut parts = t.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(family), Some(size), None)
            if !family.is_empty()
                && !size.is_empty()
                && family.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && size.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    )
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Secrets Manager secret or SSM parameter ARN.
fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && ((parts[2] == "secretsmanager" && parts[5].starts_with("secret:"))
            || (parts[2] == "ssm" && parts[5].starts_with("parameter/")))
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
}

fn is_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !address.contains(' ')
        }
        None => false,
    }
}

impl Validator {
    /// A whole number in `range`, or the default.
    fn number(&mut self, key: &str, raw: Option<i64>, range: (i64, i64), default: u32) -> u32 {
        match raw {
            None => default,
            Some(n) if (range.0..=range.1).contains(&n) => n as u32,
            Some(n) => {
                self.problem(
                    key,
                    format!("{n} is out of range; use {} to {}", range.0, range.1),
                );
                default
            }
        }
    }

    pub(super) fn compute(
        &mut self,
        raw: Option<RawCompute>,
        services: BTreeMap<String, RawService>,
        offered: &Offered<'_>,
    ) -> Option<ComputeSpec> {
        if raw.is_none() && services.is_empty() {
            return None;
        }
        let raw = raw.unwrap_or_default();
        if !offered.has_network {
            self.problem(
                "services",
                "services need a [network] (their tasks run in its private subnets); add a [network] section".into(),
            );
        }
        let mut spec = ComputeSpec {
            launch_type: offered.launch_type,
            ..ComputeSpec::default()
        };
        match offered.launch_type {
            LaunchType::Fargate if !raw.pools.is_empty() => self.problem(
                "compute.pools",
                "capacity pools are EC2 instances; with stack.launch_type = \"fargate\" leave them out".into(),
            ),
            LaunchType::Ec2 if raw.fargate_spot_percent.is_some() => self.problem(
                "compute.fargate_spot_percent",
                "only with stack.launch_type = \"fargate\"".into(),
            ),
            _ => {}
        }
        spec.fargate_spot_percent = self.number(
            "compute.fargate_spot_percent",
            raw.fargate_spot_percent,
            (0, 100),
            0,
        ) as u8;
        for (name, pool) in raw.pools {
            let key = format!("compute.pools.{name}");
            if !is_short_name(&name) {
                self.problem(
                    &key,
                    "a pool name is lowercase letters, digits and '-', starting with a letter"
                        .into(),
                );
            }
            if let Some(p) = self.pool(&key, pool) {
                spec.pools.insert(name, p);
            }
        }
        if offered.launch_type == LaunchType::Ec2 && spec.pools.is_empty() && !services.is_empty() {
            spec.pools.insert("default".into(), PoolSpec::default());
        }
        for address in raw.alarm_emails.unwrap_or_default() {
            if !is_email(&address) {
                self.problem(
                    "compute.alarm_emails",
                    format!("{address:?} is not an email address"),
                );
            } else {
                spec.alarm_emails.push(address);
            }
        }
        for (name, service) in services {
            let key = format!("services.{name}");
            if !is_short_name(&name) || name.len() > 32 {
                self.problem(
                    &key,
                    "a service name is up to 32 lowercase letters, digits and '-', starting with a letter".into(),
                );
                continue;
            }
            let service = self.service(&key, &name, service, offered, &spec.pools);
            spec.services.insert(name, service);
        }
        Some(spec)
    }

    fn pool(&mut self, key: &str, raw: RawPool) -> Option<PoolSpec> {
        let defaults = PoolSpec::default();
        let instance_types = raw.instance_types.unwrap_or(defaults.instance_types);
        if instance_types.is_empty() {
            self.problem(
                &format!("{key}.instance_types"),
                "name at least one instance type, like \"t3.medium\"".into(),
            );
            return None;
        }
        for t in &instance_types {
            if !is_instance_type(t) {
                self.problem(
                    &format!("{key}.instance_types"),
                    format!(
                        "{t:?} is not an EC2 instance type (like \"t3.medium\" or \"m7g.large\")"
                    ),
                );
            }
        }
        let archs: BTreeSet<_> = instance_types
            .iter()
            .map(|t| berth_compute::Architecture::of_instance_type(t))
            .collect();
        if archs.len() > 1 {
            self.problem(
                &format!("{key}.instance_types"),
                "mixes Graviton (arm64) and x86 types: one AMI serves one architecture; make two pools".into(),
            );
        }
        let min_size = self.number(
            &format!("{key}.min_size"),
            raw.min_size,
            (0, 1000),
            defaults.min_size,
        );
        let max_size = self.number(
            &format!("{key}.max_size"),
            raw.max_size,
            (1, 1000),
            defaults.max_size.max(min_size),
        );
        if min_size > max_size {
            self.problem(
                &format!("{key}.min_size"),
                format!("{min_size} is above max_size {max_size}"),
            );
        }
        let desired_capacity = raw.desired_capacity.map(|d| {
            self.number(
                &format!("{key}.desired_capacity"),
                Some(d),
                (0, 1000),
                min_size,
            )
        });
        if let Some(d) = desired_capacity {
            if d < min_size || d > max_size {
                self.problem(
                    &format!("{key}.desired_capacity"),
                    format!("{d} is outside min_size..max_size ({min_size}..{max_size})"),
                );
            }
        }
        let ami_override = raw.ami.filter(|ami| {
            let ok = ami.starts_with("ami-")
                && ami.len() > 4
                && ami[4..].chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                self.problem(
                    &format!("{key}.ami"),
                    format!("{ami:?} is not an AMI id (like \"ami-0abc123…\")"),
                );
            }
            ok
        });
        Some(PoolSpec {
            instance_types,
            min_size,
            max_size,
            desired_capacity,
            root_volume_gib: self.number(
                &format!("{key}.root_volume_gib"),
                raw.root_volume_gib,
                (30, 16384),
                defaults.root_volume_gib,
            ),
            ami_override,
            target_capacity: self.number(
                &format!("{key}.target_capacity"),
                raw.target_capacity,
                (1, 100),
                u32::from(defaults.target_capacity),
            ) as u8,
            spot: raw.spot.unwrap_or(false),
        })
    }

    fn service(
        &mut self,
        key: &str,
        name: &str,
        raw: RawService,
        offered: &Offered<'_>,
        pools: &BTreeMap<String, PoolSpec>,
    ) -> ServiceSpec {
        let defaults = ServiceSpec::default();
        let repository = raw.repository.unwrap_or_else(|| name.to_owned());
        if !offered.repositories.contains(&repository) {
            let known: Vec<&str> = offered.repositories.iter().map(String::as_str).collect();
            self.problem(
                &format!("{key}.repository"),
                format!(
                    "no [registry.repositories.{repository}]; add it, or name one of: {}",
                    if known.is_empty() {
                        "(none)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        let load_balancers = raw.load_balancers.unwrap_or_default();
        let mut alb = false;
        let mut nlb = false;
        for lb in &load_balancers {
            match lb.as_str() {
                "alb" => alb = true,
                "nlb" if offered.has_websocket_load_balancer => nlb = true,
                "nlb" => self.problem(
                    &format!("{key}.load_balancers"),
                    "\"nlb\" needs a [network.websocket_load_balancer]".into(),
                ),
                other => self.problem(
                    &format!("{key}.load_balancers"),
                    format!("{other:?} is not a load balancer; use \"alb\" and/or \"nlb\""),
                ),
            }
        }
        let port = match raw.port {
            None if alb || nlb => Some(offered.container_port),
            None => None,
            Some(p) => match u16::try_from(p) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    self.problem(
                        &format!("{key}.port"),
                        format!("{p} is not a port; use 1 to 65535"),
                    );
                    None
                }
            },
        };
        if (alb || nlb) && port != Some(offered.container_port) {
            self.problem(
                &format!("{key}.port"),
                format!(
                    "a load-balanced service listens on network.container_port ({}), which the security groups open",
                    offered.container_port
                ),
            );
        }
        let cpu = self.number(
            &format!("{key}.cpu"),
            raw.cpu,
            (128, 16384),
            if offered.launch_type == LaunchType::Fargate {
                512
            } else {
                defaults.cpu
            },
        );
        let memory = self.number(
            &format!("{key}.memory"),
            raw.memory,
            (128, 122880),
            if offered.launch_type == LaunchType::Fargate && raw.memory.is_none() {
                2048
            } else {
                defaults.memory
            },
        );
        let memory_reservation = self.number(
            &format!("{key}.memory_reservation"),
            raw.memory_reservation,
            (64, 122880),
            defaults.memory_reservation.min(memory),
        );
        if memory_reservation > memory {
            self.problem(
                &format!("{key}.memory_reservation"),
                format!("{memory_reservation} MiB is above the hard limit memory = {memory} MiB"),
            );
        }
        if offered.launch_type == LaunchType::Fargate && !fargate_memory_ok(cpu, memory) {
            self.problem(
                &format!("{key}.memory"),
                format!("Fargate has no size of cpu = {cpu} with memory = {memory} MiB; e.g. cpu 256 with 512/1024/2048, cpu 512 with 1024–4096, cpu 1024 with 2048–8192 (whole GiB)"),
            );
        }
        let pool = match offered.launch_type {
            LaunchType::Fargate => {
                if raw.pool.is_some() {
                    self.problem(
                        &format!("{key}.pool"),
                        "pools are EC2 capacity; on Fargate leave it out".into(),
                    );
                }
                None
            }
            LaunchType::Ec2 => {
                let pool = raw.pool.unwrap_or_else(|| "default".to_owned());
                if !pools.contains_key(&pool) {
                    self.problem(
                        &format!("{key}.pool"),
                        format!(
                            "no [compute.pools.{pool}]; name one of: {}",
                            pools.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                Some(pool)
            }
        };
        let one_task_per_instance = raw.one_task_per_instance.unwrap_or(false);
        if one_task_per_instance && offered.launch_type == LaunchType::Fargate {
            self.problem(
                &format!("{key}.one_task_per_instance"),
                "only on EC2 capacity".into(),
            );
        }
        let discovery = raw.discovery.unwrap_or(false);
        if discovery && !offered.has_namespace {
            self.problem(
                &format!("{key}.discovery"),
                "needs network.namespace (a Cloud Map private DNS namespace)".into(),
            );
        }
        let mut environment = BTreeMap::new();
        for (var, value) in raw.environment {
            if !is_env_name(&var) {
                self.problem(
                    &format!("{key}.environment.{var}"),
                    "a variable name is letters, digits and '_', not starting with a digit".into(),
                );
            }
            environment.insert(var, value);
        }
        let mut secrets = BTreeMap::new();
        for (var, arn) in raw.secrets {
            let k = format!("{key}.secrets.{var}");
            if !is_env_name(&var) {
                self.problem(
                    &k,
                    "a variable name is letters, digits and '_', not starting with a digit".into(),
                );
            }
            if !is_secret_arn(&arn) {
                self.problem(&k, "not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)".into());
            }
            secrets.insert(var, arn);
        }
        let generated_secrets: BTreeSet<GeneratedSecret> = match raw.generated_secrets {
            None => GeneratedSecret::ALL.into_iter().collect(),
            Some(list) => list
                .iter()
                .filter_map(|s| match s.as_str() {
                    "release_cookie" => Some(GeneratedSecret::ReleaseCookie),
                    "secret_key_base" => Some(GeneratedSecret::SecretKeyBase),
                    other => {
                        self.problem(&format!("{key}.generated_secrets"), format!("{other:?} is not a generated secret; use \"release_cookie\" and/or \"secret_key_base\""));
                        None
                    }
                })
                .collect(),
        };
        for secret in &generated_secrets {
            if secrets.contains_key(secret.variable())
                || environment.contains_key(secret.variable())
            {
                self.problem(&format!("{key}.generated_secrets"), format!("{} is also set by hand; leave it out of generated_secrets or out of secrets/environment", secret.variable()));
            }
        }
        let database_url = match raw.database_url {
            Some(true) if !offered.has_database => {
                self.problem(
                    &format!("{key}.database_url"),
                    "there is no [database] to take the URL from".into(),
                );
                false
            }
            Some(v) => v,
            None => offered.has_database,
        };
        let health_check = raw.health_check.map(|h| HealthCheck {
            command: vec!["CMD-SHELL".to_owned(), h.command],
            interval_seconds: self.number(
                &format!("{key}.health_check.interval"),
                h.interval,
                (5, 300),
                30,
            ),
            timeout_seconds: self.number(
                &format!("{key}.health_check.timeout"),
                h.timeout,
                (2, 60),
                5,
            ),
            retries: self.number(
                &format!("{key}.health_check.retries"),
                h.retries,
                (1, 10),
                3,
            ),
            start_period_seconds: self.number(
                &format!("{key}.health_check.start_period"),
                h.start_period,
                (0, 300),
                60,
            ),
        });
        let deployment = DeploymentSpec {
            minimum_healthy_percent: self.number(
                &format!("{key}.deployment.minimum_healthy_percent"),
                raw.deployment.minimum_healthy_percent,
                (0, 100),
                50,
            ),
            maximum_percent: self.number(
                &format!("{key}.deployment.maximum_percent"),
                raw.deployment.maximum_percent,
                (100, 200),
                150,
            ),
            circuit_breaker: raw.deployment.circuit_breaker.unwrap_or(true),
            health_check_grace_period_seconds: raw
                .deployment
                .grace_period
                .map(|g| {
                    self.number(
                        &format!("{key}.deployment.grace_period"),
                        Some(g),
                        (0, 2_147_483_647),
                        0,
                    )
                })
                .or((alb || nlb).then_some(60)),
        };
        let desired_count = self.number(
            &format!("{key}.desired_count"),
            raw.desired_count,
            (0, 1000),
            1,
        );
        let autoscaling = raw.autoscaling.map(|a| {
            let k = format!("{key}.autoscaling");
            let min = self.number(&format!("{k}.min"), Some(a.min), (0, 1000), 1);
            let max = self.number(&format!("{k}.max"), Some(a.max), (1, 1000), 1);
            if min > max {
                self.problem(&format!("{k}.min"), format!("{min} is above max {max}"));
            }
            let mut targets = Vec::new();
            for (metric, value, range) in [
                (ScalingMetric::Cpu, a.cpu, (1, 100)),
                (ScalingMetric::Memory, a.memory, (1, 100)),
                (
                    ScalingMetric::AlbRequestsPerTarget,
                    a.requests_per_target,
                    (1, 1_000_000),
                ),
            ] {
                if let Some(v) = value {
                    targets.push(ScalingTarget {
                        metric,
                        value: self.number(
                            &format!(
                                "{k}.{}",
                                match metric {
                                    ScalingMetric::Cpu => "cpu",
                                    ScalingMetric::Memory => "memory",
                                    ScalingMetric::AlbRequestsPerTarget => "requests_per_target",
                                }
                            ),
                            Some(v),
                            range,
                            1,
                        ),
                    });
                }
            }
            if targets.is_empty() {
                self.problem(
                    &k,
                    "name at least one target: cpu, memory (percent) or requests_per_target".into(),
                );
            }
            if a.requests_per_target.is_some() && !alb {
                self.problem(
                    &format!("{k}.requests_per_target"),
                    "needs load_balancers = [\"alb\"]".into(),
                );
            }
            AutoscalingSpec {
                min,
                max,
                targets,
                scale_in_cooldown_seconds: self.number(
                    &format!("{k}.scale_in_cooldown"),
                    a.scale_in_cooldown,
                    (0, 3600),
                    300,
                ),
                scale_out_cooldown_seconds: self.number(
                    &format!("{k}.scale_out_cooldown"),
                    a.scale_out_cooldown,
                    (0, 3600),
                    60,
                ),
            }
        });
        let cpu_alarm = raw.cpu_alarm.map(|a| {
            let d = CpuAlarmSpec::default();
            let period = self.number(
                &format!("{key}.cpu_alarm.period"),
                a.period,
                (10, 86400),
                d.period_seconds,
            );
            if period >= 60 && period % 60 != 0 || (period < 60 && ![10, 30].contains(&period)) {
                self.problem(
                    &format!("{key}.cpu_alarm.period"),
                    format!("{period} is not a CloudWatch period; use 10, 30 or a multiple of 60"),
                );
            }
            CpuAlarmSpec {
                threshold_percent: self.number(
                    &format!("{key}.cpu_alarm.threshold"),
                    a.threshold,
                    (1, 100),
                    d.threshold_percent,
                ),
                period_seconds: period,
                evaluation_periods: self.number(
                    &format!("{key}.cpu_alarm.evaluation_periods"),
                    a.evaluation_periods,
                    (1, 100),
                    d.evaluation_periods,
                ),
            }
        });
        let mut task_role_statements = Vec::new();
        for (i, text) in raw
            .task_role_statements
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let k = format!("{key}.task_role_statements[{i}]");
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(statement)
                    if statement.get("Effect").is_some()
                        && statement.get("Action").is_some()
                        && statement.get("Resource").is_some() =>
                {
                    task_role_statements.push(statement)
                }
                Ok(_) => self.problem(
                    &k,
                    "an IAM policy statement needs Effect, Action and Resource".into(),
                ),
                Err(err) => self.problem(&k, format!("not JSON: {err}")),
            }
        }
        ServiceSpec {
            repository,
            container_port: port,
            cpu,
            memory,
            memory_reservation,
            command: raw.command.unwrap_or_default(),
            environment,
            secrets,
            generated_secrets,
            database_url,
            health_check,
            stop_timeout_seconds: raw
                .stop_timeout
                .map(|s| self.number(&format!("{key}.stop_timeout"), Some(s), (2, 120), 30)),
            log_group: name.to_owned(),
            pool,
            alb_target_group: alb.then(|| "web".to_owned()),
            nlb_target_group: nlb.then(|| "ws".to_owned()),
            discovery,
            one_task_per_instance,
            deployment,
            desired_count,
            autoscaling,
            cpu_alarm,
            task_role_statements,
        }
    }
}
