//! Leaf helpers every layer may use, and that use no other module of this
//! crate: secrets and their redaction, child processes that die with
//! mkeprep, private atomic file writes, and small text helpers.

pub mod child;
pub mod fsx;
pub mod secret;
pub mod text;
