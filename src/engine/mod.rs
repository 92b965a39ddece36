//! The engine: the check → apply → re-check loop, the journal, the lock,
//! events and secret redaction. Only the engine writes the journal.

pub mod child;
pub mod events;
pub mod journal;
pub mod lock;
pub mod runner;
pub mod secret;
pub mod state;
