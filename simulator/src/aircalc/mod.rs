//! The aircalc NEXT fake: its vocabulary (`model`), the generated projects, positions,
//! BOMs and users (`units`), the store that holds them (`data`), the control API's
//! mutations (`mutate`), the OAuth2 token endpoint and its tokens (`auth`) and the HTTP
//! API and control endpoints (`routes`).

mod auth;
mod data;
mod model;
mod mutate;
mod routes;
#[cfg(test)]
mod tests;
mod units;

pub(crate) use auth::Auth;
pub(crate) use data::Store;
pub(crate) use routes::{Aircalc, api, control_router};
