//! Progress reporting: libraries tell a `Reporter` what they do; the CLI decides how to show it.

use std::sync::Mutex;
use std::time::Duration;

use crate::plan::{Action, Address};

/// Something worth telling the person (or program) running berth.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A change is being carried out.
    Started { address: Address, action: Action },
    /// A change is done.
    Finished { address: Address, action: Action },
    /// A wait is in progress: what for, the last status seen, how long so far.
    Waiting {
        what: String,
        status: String,
        elapsed: Duration,
    },
    /// A wait ended successfully.
    Waited { what: String, elapsed: Duration },
    /// Anything else a user should know (a skipped step, a note on a resource).
    Note { address: Address, message: String },
}

/// Where progress goes. Implemented by the CLI (indicatif on a terminal, lines otherwise).
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// Discards everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn report(&self, _event: Event) {}
}

/// Keeps every event, for tests and for callers that render afterwards.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    events: Mutex<Vec<Event>>,
}

impl RecordingReporter {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("reporter lock").clone()
    }
}

impl Reporter for RecordingReporter {
    fn report(&self, event: Event) {
        self.events.lock().expect("reporter lock").push(event);
    }
}
