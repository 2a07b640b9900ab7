//! The admin API's pure half, by concept: its routes ([`routes`]), the validation
//! of every request body, all errors at once ([`validate`]), and the JSON views of
//! a key ([`views`]). Who may call it and what a caller may hand out is
//! [`crate::actor`].
//!
//! Every handler follows the same order: authorize (the shell, before anything
//! is parsed), route, validate the whole body (reporting every invalid field at
//! once), then act.

pub mod routes;
pub mod validate;
pub mod views;

pub use routes::*;
pub use validate::*;
pub use views::*;
