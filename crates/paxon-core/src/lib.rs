//! placeholder
pub mod message;
pub mod record;
pub mod types;
