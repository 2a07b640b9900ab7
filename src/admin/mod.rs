//! The admin API's pure half, by concept: its routes ([`routes`]), the validation
//! of every request body, all errors at once ([`validate`]), the decisions that
//! turn a call into writes ([`mod@plan`]), and the JSON views of a key ([`views`]).
//! Who may call it and what a caller may hand out is [`actor`].
//!
//! Every call follows the same order: authenticate (the shell, before anything
//! is parsed), route, then [`plan()`]: the team, the whole body (every invalid
//! field at once), the actor's powers; the shell carries out the plan's writes.

pub mod actor;
pub mod plan;
pub mod routes;
pub mod validate;
pub mod views;

pub use plan::{after_rotation, plan, revision};
pub use routes::*;
pub use validate::*;
pub use views::*;
