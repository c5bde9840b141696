//! The Aimsio fake: its vocabulary (`model`), the generated job-side (`jobs`) and
//! crew-side (`crew`) objects, the store that holds them (`data`), the control operations
//! (`mutate`) and the HTTP API and control endpoints (`routes`).

mod crew;
mod data;
mod jobs;
mod model;
mod mutate;
mod routes;
#[cfg(test)]
mod tests;

pub(crate) use data::Store;
pub(crate) use routes::{Aimsio, api, control_router};
