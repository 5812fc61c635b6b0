//! berth-database: the stack's database — a DocumentDB or Aurora PostgreSQL cluster with its
//! instances, subnet group (the data subnets), a cluster parameter group forcing TLS, backups,
//! encryption, deletion protection and final snapshots, and a generated master password kept
//! in Secrets Manager with a second secret holding the app's connection URL.
//!
//! DocumentDB and Aurora share RDS's control-plane API, so one facade serves both.

pub mod api;
pub mod aws;
mod cluster;
mod component;
mod groups;
mod instances;
mod secrets;
pub mod window;

pub use cluster::final_snapshot_name;
pub use component::{plan, Database, DatabaseObserved, DbAction, DbPhase, DbStep};

use berth_core::{Address, Known, Stack};
use serde::{Deserialize, Serialize};

/// The component's name: first segment of its addresses, value of its `berth:component` tag.
pub const COMPONENT: &str = "database";

/// Length of generated master passwords (letters and digits, valid for every engine).
pub const PASSWORD_LENGTH: u8 = 32;

/// The database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Amazon DocumentDB (MongoDB-compatible).
    Docdb,
    /// Aurora PostgreSQL (what most Phoenix/Ecto apps use).
    AuroraPostgresql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Docdb => "docdb",
            Engine::AuroraPostgresql => "aurora-postgresql",
        }
    }

    pub fn default_version(self) -> &'static str {
        match self {
            Engine::Docdb => "5.0.0",
            Engine::AuroraPostgresql => "16.4",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Engine::Docdb => 27017,
            Engine::AuroraPostgresql => 5432,
        }
    }

    pub fn default_instance_class(self) -> &'static str {
        match self {
            Engine::Docdb => "db.t3.medium",
            Engine::AuroraPostgresql => "db.t4g.medium",
        }
    }

    /// The parameter group family of a version: `docdb5.0`, `aurora-postgresql16`.
    pub fn family(self, version: &str) -> String {
        let mut parts = version.split('.');
        match self {
            Engine::Docdb => format!(
                "docdb{}.{}",
                parts.next().unwrap_or("5"),
                parts.next().unwrap_or("0")
            ),
            Engine::AuroraPostgresql => {
                format!("aurora-postgresql{}", parts.next().unwrap_or("16"))
            }
        }
    }

    /// The cluster parameter that forces TLS, and its value.
    pub fn tls_parameter(self) -> (&'static str, &'static str) {
        match self {
            Engine::Docdb => ("tls", "enabled"),
            Engine::AuroraPostgresql => ("rds.force_ssl", "1"),
        }
    }

    /// The name of the environment variable apps conventionally read the URL from.
    pub fn url_variable(self) -> &'static str {
        match self {
            Engine::Docdb => "MONGODB_URL",
            Engine::AuroraPostgresql => "DATABASE_URL",
        }
    }

    /// The app's connection URL.
    pub fn url(self, user: &str, password: &str, host: &str, port: u16, database: &str) -> String {
        match self {
            Engine::Docdb => format!(
                "mongodb://{user}:{password}@{host}:{port}/{database}?tls=true&replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false"
            ),
            Engine::AuroraPostgresql => {
                format!("postgres://{user}:{password}@{host}:{port}/{database}?sslmode=require")
            }
        }
    }
}

/// The desired database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseSpec {
    pub engine: Engine,
    pub engine_version: String,
    pub instance_class: String,
    /// 1–16: one writer, the rest readers.
    pub instance_count: u8,
    pub port: u16,
    pub master_username: String,
    /// The database the URL names (and Aurora creates).
    pub database_name: String,
    pub backup_retention_days: u8,
    /// `hh:mm-hh:mm`, UTC.
    pub backup_window: String,
    /// `ddd:hh:mm-ddd:hh:mm`, UTC.
    pub maintenance_window: String,
    pub kms_key_arn: Option<String>,
    pub deletion_protection: bool,
}

/// What the database takes from the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseInputs {
    /// The data subnets, in AZ order.
    pub data_subnet_ids: Known<Vec<String>>,
    /// The database security group.
    pub security_group_id: Known<String>,
}

/// A spec with the inputs it is placed with: what a step carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedSpec {
    pub spec: DatabaseSpec,
    pub inputs: DatabaseInputs,
}

impl std::ops::Deref for PlacedSpec {
    type Target = DatabaseSpec;

    fn deref(&self) -> &DatabaseSpec {
        &self.spec
    }
}

/// What other components need: where the database is and the secret the app reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseOutputs {
    pub endpoint: Option<String>,
    pub reader_endpoint: Option<String>,
    pub port: Option<u16>,
    /// The secret holding the app's connection URL (for the task definition's `secrets`).
    pub url_secret_arn: Option<String>,
    /// The variable name the URL is conventionally given (`MONGODB_URL`, `DATABASE_URL`).
    pub url_variable: Option<String>,
    pub master_secret_arn: Option<String>,
}

/// Resource names of a stack's database.
pub mod names {
    use super::*;

    pub fn cluster(stack: &Stack) -> String {
        stack.resource_name("db")
    }
    pub fn instance(stack: &Stack, index: u8) -> String {
        stack.resource_name(&format!("db-{index}"))
    }
    pub fn subnet_group(stack: &Stack) -> String {
        stack.resource_name("db")
    }
    pub fn parameter_group(stack: &Stack, family: &str) -> String {
        stack.resource_name(&format!("db-{}", family.replace('.', "-")))
    }
    pub fn master_secret(stack: &Stack) -> String {
        format!("berth/{}/database/master", stack.name())
    }
    pub fn url_secret(stack: &Stack) -> String {
        format!("berth/{}/database/url", stack.name())
    }
}

/// Addresses of the database's resources.
pub mod address {
    use super::*;

    pub fn cluster() -> Address {
        Address::singleton(COMPONENT, "cluster")
    }
    pub fn instance(index: u8) -> Address {
        Address::new(COMPONENT, "instance", &index.to_string())
    }
    pub fn subnet_group() -> Address {
        Address::singleton(COMPONENT, "subnet_group")
    }
    /// Keyed by the group name's suffix (`docdb5-0`), so an old family's group is distinct.
    pub fn parameter_group(key: &str) -> Address {
        Address::new(COMPONENT, "parameter_group", key)
    }
    pub fn master_secret() -> Address {
        Address::singleton(COMPONENT, "master_secret")
    }
    pub fn url_secret() -> Address {
        Address::singleton(COMPONENT, "url_secret")
    }
}
