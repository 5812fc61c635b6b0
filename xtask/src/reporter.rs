//! The CLI's `Reporter`: progress lines on stderr (a spinner for waits on a terminal), or
//! JSON Lines records on stdout with `--json`.

use std::sync::Mutex;
use std::time::Duration;

use berth_core::{Action, Event, Reporter};
use indicatif::{ProgressBar, ProgressStyle};

use crate::shell::Shell;

/// Renders library progress events for a person or a program.
pub struct CliReporter<'a> {
    shell: &'a Shell,
    json: bool,
    spinner: Mutex<Option<ProgressBar>>,
    /// Per wait: the last status printed and when, so that logs without a terminal get a
    /// line when the status changes or every 30 s, not one per poll.
    last_wait_line: Mutex<std::collections::HashMap<String, (String, Duration)>>,
}

impl std::fmt::Debug for CliReporter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliReporter")
            .field("json", &self.json)
            .finish()
    }
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::NoOp => "unchanged",
    }
}

fn present(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Delete => "deleting",
        Action::NoOp => "checking",
    }
}

impl<'a> CliReporter<'a> {
    pub fn new(shell: &'a Shell, json: bool) -> Self {
        Self {
            shell,
            json,
            spinner: Mutex::new(None),
            last_wait_line: Mutex::new(Default::default()),
        }
    }

    fn clear_spinner(&self) {
        if let Some(spinner) = self.spinner.lock().expect("spinner lock").take() {
            spinner.finish_and_clear();
        }
    }
}

impl Drop for CliReporter<'_> {
    fn drop(&mut self) {
        self.clear_spinner();
    }
}

impl Reporter for CliReporter<'_> {
    fn report(&self, event: Event) {
        if self.json {
            let record = match &event {
                Event::Started { address, action } => serde_json::json!({
                    "event": "started", "address": address, "action": action}),
                Event::Finished { address, action } => serde_json::json!({
                    "event": "finished", "address": address, "action": action}),
                Event::Waiting {
                    what,
                    status,
                    elapsed,
                } => serde_json::json!({
                    "event": "waiting", "what": what, "status": status,
                    "elapsed_ms": elapsed.as_millis() as u64}),
                Event::Waited { what, elapsed } => serde_json::json!({
                    "event": "waited", "what": what, "elapsed_ms": elapsed.as_millis() as u64}),
                Event::Note { address, message } => serde_json::json!({
                    "event": "note", "address": address, "message": message}),
            };
            self.shell.json("progress", record);
            return;
        }
        match event {
            Event::Started { address, action } if self.shell.interactive => {
                let spinner = ProgressBar::new_spinner();
                spinner.set_style(
                    ProgressStyle::with_template("  {spinner} {msg}").expect("template"),
                );
                spinner.set_message(format!("{} {address}", present(action)));
                spinner.enable_steady_tick(Duration::from_millis(120));
                if let Some(old) = self.spinner.lock().expect("spinner lock").replace(spinner) {
                    old.finish_and_clear();
                }
            }
            Event::Started { .. } => {}
            Event::Finished { address, action } => {
                self.clear_spinner();
                self.shell
                    .status(format!("  {} {address}", past_tense(action)));
            }
            Event::Waiting {
                what,
                status,
                elapsed,
            } => {
                let line = format!("waiting for {what}: {status} ({}s)", elapsed.as_secs());
                match self.spinner.lock().expect("spinner lock").as_ref() {
                    Some(spinner) => spinner.set_message(line),
                    None => {
                        let mut last = self.last_wait_line.lock().expect("wait lock");
                        let due = match last.get(&what) {
                            Some((printed, at)) => {
                                *printed != status || elapsed >= *at + Duration::from_secs(30)
                            }
                            None => true,
                        };
                        if due {
                            last.insert(what, (status, elapsed));
                            self.shell.status(format!("  {line}"));
                        }
                    }
                }
            }
            Event::Waited { what, elapsed } => {
                if elapsed >= Duration::from_secs(1) {
                    self.shell
                        .status(format!("  {what} ready after {}s", elapsed.as_secs()));
                }
            }
            Event::Note { address, message } => {
                self.shell.status(format!("  note: {address}: {message}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_waits_print_on_change_or_every_30_seconds() {
        let (shell, captured) = Shell::capture();
        let reporter = CliReporter::new(&shell, false);
        for (status, secs) in [
            ("creating", 1),
            ("creating", 2),
            ("creating", 20),
            ("creating", 31),
            ("backing-up", 32),
        ] {
            reporter.report(Event::Waiting {
                what: "database cluster prod-db to be available".into(),
                status: status.into(),
                elapsed: Duration::from_secs(secs),
            });
        }
        let lines: Vec<String> = captured.stderr().lines().map(str::to_owned).collect();
        assert_eq!(
            lines,
            [
                "  waiting for database cluster prod-db to be available: creating (1s)",
                "  waiting for database cluster prod-db to be available: creating (31s)",
                "  waiting for database cluster prod-db to be available: backing-up (32s)",
            ]
        );
    }
}
