//! The engine: the check → apply → re-check loop, the journal, the lock,
//! events and secret redaction. Only the engine writes the journal.

pub mod secret;
