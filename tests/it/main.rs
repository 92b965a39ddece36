//! The one integration-test binary: drives the built `mkeprep`.

mod common;
mod sandbox;
