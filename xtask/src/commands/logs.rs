//! `cargo xtask logs STACK SERVICE`: print a service's log events (and follow them).

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use berth_logging::aws::CloudWatchLogs;
use berth_logging::{group_name, tail, TailOptions};

use super::{connect, load_config, Hinted};
use crate::shell::Shell;
use crate::{Env, LogsArgs};

/// Parses `30s`, `10m`, `2h`, `1d`.
pub(crate) fn parse_since(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(seconds)?))
}

/// `2026-11-22T20:30:00.123Z` from milliseconds since the epoch.
pub(crate) fn format_timestamp(ms: i64) -> String {
    berth_core::UtcTime::from_unix_ms(ms).rfc3339_millis()
}

pub(crate) async fn run(args: &LogsArgs, env: &Env, shell: &Shell) -> Result<u8> {
    let config = load_config(env, &args.target)?;
    let Some(since) = parse_since(&args.since) else {
        return Err(Hinted {
            message: format!("--since {:?} is not a duration", args.since),
            hint: "use a number and a unit: 30s, 10m, 2h or 1d".to_owned(),
        }
        .into());
    };
    if !config.logging.groups.contains_key(&args.service) {
        let known: Vec<&str> = config.logging.groups.keys().map(String::as_str).collect();
        return Err(Hinted {
            message: format!(
                "{}: logging.groups has no service {:?}",
                config.path.display(),
                args.service
            ),
            hint: format!("services with a log group: {}", known.join(", ")),
        }
        .into());
    }
    let clients = connect(env, &args.target, &config, shell).await?;
    let api = CloudWatchLogs::new(clients.logs.clone());
    let group = group_name(&config.stack, &args.service);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let options = TailOptions {
        follow: args.follow,
        ..TailOptions::since(now_ms - since.as_millis() as i64)
    };
    tail(&api, &group, &options, |event| {
        shell.data(format!(
            "{} {} {}",
            format_timestamp(event.timestamp_ms),
            event.stream,
            event.message.trim_end()
        ));
        ControlFlow::Continue(())
    })
    .await
    .with_context(|| format!("reading the logs of {}", args.service))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_since("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_since("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_since("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_since("10"), None);
        assert_eq!(parse_since("m"), None);
        assert_eq!(parse_since("5w"), None);
    }

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(1_795_379_400_123),
            "2026-11-22T20:30:00.123Z"
        );
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
