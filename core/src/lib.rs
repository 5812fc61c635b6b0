//! berth-core: the vocabulary every berth component shares — stack identity and tags,
//! plans, the component contract, progress reporting, error classes, waits and the stack lock.
//!
//! Nothing here talks to AWS except the SSM adapter of the stack lock (`lock::aws`).

pub mod component;
pub mod driver;
pub mod error;
pub mod lock;
pub mod plan;
pub mod report;
pub mod stack;
pub mod time;
pub mod wait;

pub use component::{
    apply_phased, Component, ComponentError, Grants, Known, Phased, KNOWN_AFTER_APPLY,
};
pub use driver::{
    ApplyReport, CompositionError, Node, Observation, Outputs, StackDriver, StackError, StackPlan,
};
pub use error::{sdk_error, AwsError, AwsResultExt, ErrorClass};
pub use plan::{Action, Address, Change, FieldDiff, FieldValue, Plan};
pub use report::{Event, NullReporter, RecordingReporter, Reporter};
pub use stack::{client_token, InvalidStackName, Stack, StackName, Tags};
pub use time::UtcTime;
pub use wait::{wait_for, Backoff, Poll, WaitError, WaitFor};
