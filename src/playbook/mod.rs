//! Playbooks: the typed model, the loader with source positions, templating,
//! and `-e` extra variables.

pub mod extra;
pub mod load;
pub mod model;

#[cfg(test)]
mod props;

pub use load::load;
pub use model::{Playbook, Step};
