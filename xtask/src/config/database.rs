//! `[database]`: engine, version, instances, backups and windows, encryption and deletion
//! protection, validated into a `DatabaseSpec`.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    engine: Option<String>,
    engine_version: Option<String>,
    instance_class: Option<String>,
    instance_count: Option<i64>,
    port: Option<i64>,
    master_username: Option<String>,
    database_name: Option<String>,
    backup_retention_days: Option<i64>,
    backup_window: Option<String>,
    maintenance_window: Option<String>,
    kms_key_arn: Option<String>,
    deletion_protection: Option<bool>,
}

impl Validator {
    pub(super) fn database(&mut self, stack: &StackName, raw: RawDatabase) -> DatabaseSpec {
        let engine = match raw.engine.as_deref() {
            None | Some("docdb") => Engine::Docdb,
            Some("aurora-postgresql") => Engine::AuroraPostgresql,
            Some(other) => {
                self.problem(
                    "database.engine",
                    format!("{other:?} is not an engine berth runs; use \"docdb\" or \"aurora-postgresql\""),
                );
                Engine::Docdb
            }
        };
        let instance_count = match raw.instance_count {
            None => 1,
            Some(n) if (1..=16).contains(&n) => n as u8,
            Some(n) => {
                self.problem(
                    "database.instance_count",
                    format!("{n} instances is out of range; use 1 (a writer) to 16 (a writer and 15 readers)"),
                );
                1
            }
        };
        let backup_retention_days = match raw.backup_retention_days {
            None => 30,
            Some(d) if (1..=35).contains(&d) => d as u8,
            Some(d) => {
                self.problem(
                    "database.backup_retention_days",
                    format!("{d} days is out of range; use 1 to 35"),
                );
                30
            }
        };
        let backup_window = raw
            .backup_window
            .unwrap_or_else(|| "01:00-03:00".to_owned());
        let daily = window::daily(&backup_window);
        match daily {
            None => self.problem(
                "database.backup_window",
                format!("{backup_window:?} is not a window; write hh:mm-hh:mm in UTC, like \"01:00-03:00\""),
            ),
            Some(w) if window::length(w, 24 * 60) < 30 => self.problem(
                "database.backup_window",
                format!("{backup_window:?} is {} minutes long; a backup window needs at least 30", window::length(w, 24 * 60)),
            ),
            Some(_) => {}
        }
        let maintenance_window = raw
            .maintenance_window
            .unwrap_or_else(|| "sun:05:00-sun:06:00".to_owned())
            .to_lowercase();
        let weekly = window::weekly(&maintenance_window);
        match weekly {
            None => self.problem(
                "database.maintenance_window",
                format!("{maintenance_window:?} is not a window; write ddd:hh:mm-ddd:hh:mm in UTC, like \"sun:05:00-sun:06:00\""),
            ),
            Some(w) if window::length(w, 7 * 24 * 60) < 30 => self.problem(
                "database.maintenance_window",
                format!("{maintenance_window:?} is shorter than the 30 minutes AWS requires"),
            ),
            Some(w) => {
                if let Some(d) = daily {
                    if window::overlaps(d, w) {
                        self.problem(
                            "database.maintenance_window",
                            format!("{maintenance_window:?} overlaps the backup window {backup_window:?}; move one of them"),
                        );
                    }
                }
            }
        }
        let port = self.port("database.port", raw.port, engine.default_port());
        let master_username = raw.master_username.unwrap_or_else(|| "berth".to_owned());
        let username_ok = (1..=63).contains(&master_username.len())
            && master_username.starts_with(|c: char| c.is_ascii_alphabetic())
            && master_username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !["admin", "postgres", "rdsadmin"].contains(&master_username.as_str());
        if !username_ok {
            self.problem(
                "database.master_username",
                format!("{master_username:?} cannot be a master user: use 1-63 letters, digits or '_', starting with a letter, not a reserved name"),
            );
        }
        let database_name = raw
            .database_name
            .unwrap_or_else(|| stack.as_str().replace('-', "_"));
        if !(database_name.starts_with(|c: char| c.is_ascii_alphabetic())
            && database_name.len() <= 63
            && database_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            self.problem(
                "database.database_name",
                format!("{database_name:?} is not a database name: use letters, digits and '_', starting with a letter"),
            );
        }
        let kms_key_arn = self.kms_key("database.kms_key_arn", raw.kms_key_arn);
        if let Some(version) = &raw.engine_version {
            if !version.chars().all(|c| c.is_ascii_digit() || c == '.') || version.is_empty() {
                self.problem(
                    "database.engine_version",
                    format!(
                        "{version:?} is not an engine version like \"{}\"",
                        engine.default_version()
                    ),
                );
            }
        }
        let instance_class = raw
            .instance_class
            .unwrap_or_else(|| engine.default_instance_class().to_owned());
        if !instance_class.starts_with("db.") {
            self.problem(
                "database.instance_class",
                format!("{instance_class:?} is not an instance class like \"db.r6g.large\""),
            );
        }
        DatabaseSpec {
            engine,
            engine_version: raw
                .engine_version
                .unwrap_or_else(|| engine.default_version().to_owned()),
            instance_class,
            instance_count,
            port,
            master_username,
            database_name,
            backup_retention_days,
            backup_window,
            maintenance_window,
            kms_key_arn,
            deletion_protection: raw.deletion_protection.unwrap_or(true),
        }
    }
}
