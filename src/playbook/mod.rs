//! Playbooks: the typed model, the loader with source positions (steps,
//! includes, variables and variables files), the checks of names in
//! templates, parameter typing, and `-e` extra variables.

mod ansible;
pub mod extra;
pub mod load;
pub mod model;
mod names;
mod step;
pub mod typing;
mod vars;

#[cfg(test)]
mod props;

pub use load::{Context, load, load_with};
pub use model::{Playbook, Step};
pub use step::parse_duration;
