//! The simulator from outside, through its public API and over HTTP: one test binary with
//! a module per fake API plus the shared layers.

mod aimsio;
mod aircalc;
mod http;
mod limits;
