//! The `tributary` binary: parse the command line, start logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = tributary::cli::Cli::parse();
    tributary::telemetry::init(cli.log_format);
    tributary::cli::run(cli).await
}
