//! Integration tests: a real PostgreSQL (a fresh database per test) and the simulator over
//! HTTP, driven through the library as `tributary sync` drives it and through the binary.

mod aimsio;
mod aircalc;
mod budget;
mod catalogue;
mod changes;
mod cli;
mod common;
mod container;
mod container_image;
mod daemon;
mod db_drops;
mod db_timeouts;
mod demo;
mod history;
mod hostile;
mod hostile_records;
mod ops;
mod planningnow;
mod registry;
mod regressions;
mod resilience;
mod scenario;
mod schema;
