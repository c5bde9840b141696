//! The PlanningNow fake: its vocabulary (`model`), the generated deals (`deals`) and
//! records (`records`), the store that holds them (`data`), the control API's mutations
//! (`mutate`) and the HTTP API and control endpoints (`routes`).

mod data;
mod deals;
mod model;
mod mutate;
mod records;
mod routes;
#[cfg(test)]
mod tests;

pub(crate) use data::Store;
pub(crate) use routes::{PlanningNow, api, control_router};
