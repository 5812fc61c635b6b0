//! Pure plan tests.
