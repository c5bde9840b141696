//! tributary keeps PostgreSQL in sync with PlanningNow, Aimsio and aircalc NEXT.
//! README.md has the user's view; each module's header says what it owns.

pub mod bench;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod database_url;
pub mod db;
pub mod demo;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod pgcluster;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod schema;
pub mod server;
pub mod signals;
pub mod sources;
pub mod status;
pub mod sync;
pub mod telemetry;
