//! Tailing a log group: FilterLogEvents polled from a start time, every page read, events
//! delivered once each in time order, until caught up (or, when following, until stopped).

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::Duration;

use crate::api::{LogEvent, LogsApi};
use crate::LoggingError;

/// Where to start and whether to keep going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailOptions {
    /// Milliseconds since the Unix epoch; events at or after it are delivered.
    pub since_ms: i64,
    /// Keep polling for new events after catching up.
    pub follow: bool,
    /// Pause between polls once caught up, when following.
    pub poll_interval: Duration,
}

impl TailOptions {
    pub fn since(since_ms: i64) -> Self {
        Self {
            since_ms,
            follow: false,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// Streams `group`'s events to `on_event`. Returns when caught up (unless following) or when
/// `on_event` breaks. Events are ordered by timestamp and delivered once: the events at the
/// newest timestamp seen are remembered, because the next poll starts at that timestamp
/// (FilterLogEvents' start time is inclusive and more events may land in the same millisecond).
pub async fn tail<A, F>(
    api: &A,
    group: &str,
    options: &TailOptions,
    mut on_event: F,
) -> Result<(), LoggingError>
where
    A: LogsApi + ?Sized,
    F: FnMut(&LogEvent) -> ControlFlow<()> + Send,
{
    let mut start_ms = options.since_ms;
    let mut seen_at_start: HashSet<String> = HashSet::new();
    loop {
        let mut batch: Vec<LogEvent> = Vec::new();
        let mut token = None;
        loop {
            let page = api
                .filter_events(group, start_ms, token)
                .await
                .map_err(|source| LoggingError::Tail {
                    name: group.to_owned(),
                    source,
                })?;
            batch.extend(page.events);
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        batch.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
        for event in &batch {
            if event.timestamp_ms < start_ms
                || (event.timestamp_ms == start_ms && seen_at_start.contains(&event.id))
            {
                continue;
            }
            if event.timestamp_ms > start_ms {
                start_ms = event.timestamp_ms;
                seen_at_start.clear();
            }
            seen_at_start.insert(event.id.clone());
            if on_event(event).is_break() {
                return Ok(());
            }
        }
        if !options.follow {
            return Ok(());
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::api::{LogEventsPage, MockLogsApi};

    fn event(id: &str, ts: i64) -> LogEvent {
        LogEvent {
            id: id.to_owned(),
            timestamp_ms: ts,
            stream: "web/1".to_owned(),
            message: format!("message {id}"),
        }
    }

    #[tokio::test]
    async fn reads_every_page_in_time_order() {
        let mut api = MockLogsApi::new();
        api.expect_filter_events()
            .withf(|g, start, token| g == "/berth/prod/web" && *start == 100 && token.is_none())
            .returning(|_, _, _| {
                Ok(LogEventsPage {
                    events: vec![event("b", 120), event("a", 110)],
                    next_token: Some("page2".into()),
                })
            });
        api.expect_filter_events()
            .withf(|_, _, token| token.as_deref() == Some("page2"))
            .returning(|_, _, _| {
                Ok(LogEventsPage {
                    events: vec![event("c", 130)],
                    next_token: None,
                })
            });
        let mut seen = Vec::new();
        tail(&api, "/berth/prod/web", &TailOptions::since(100), |e| {
            seen.push(e.id.clone());
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
        assert_eq!(seen, ["a", "b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn following_delivers_each_event_once_across_polls() {
        let polls = Arc::new(Mutex::new(0));
        let mut api = MockLogsApi::new();
        let counter = polls.clone();
        api.expect_filter_events().returning(move |_, start, _| {
            let mut n = counter.lock().unwrap();
            *n += 1;
            // Every poll answers everything at or after `start`, as FilterLogEvents does.
            let all = [
                event("a", 100),
                event("b", 200),
                event("c", 200),
                event("d", 300),
            ];
            let visible = if *n == 1 { 3 } else { 4 };
            Ok(LogEventsPage {
                events: all[..visible]
                    .iter()
                    .filter(|e| e.timestamp_ms >= start)
                    .cloned()
                    .collect(),
                next_token: None,
            })
        });
        let mut seen = Vec::new();
        let options = TailOptions {
            follow: true,
            ..TailOptions::since(0)
        };
        tail(&api, "g", &options, |e| {
            seen.push(e.id.clone());
            if e.id == "d" {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
        assert_eq!(seen, ["a", "b", "c", "d"]);
        assert_eq!(*polls.lock().unwrap(), 2);
    }

    #[tokio::test]
    async fn errors_name_the_group() {
        let mut api = MockLogsApi::new();
        api.expect_filter_events().returning(|_, _, _| {
            Err(berth_core::AwsError::new(
                "FilterLogEvents",
                berth_core::ErrorClass::NotFound,
                "ResourceNotFoundException: group missing",
            ))
        });
        let err = tail(&api, "/berth/prod/x", &TailOptions::since(0), |_| {
            ControlFlow::Continue(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "reading events of log group /berth/prod/x");
    }
}
