//! Database plan and apply tests.
