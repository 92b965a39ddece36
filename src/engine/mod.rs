//! The engine: the check → apply → re-check loop, the journal, the lock.
//! Only the engine writes the journal.

pub mod journal;
pub mod lock;
pub mod runner;
