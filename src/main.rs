//! The `tributary` binary: parse the command line, start logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tributary::memory::configure();
    run()
}

#[tokio::main]
async fn run() -> ExitCode {
    let cli = tributary::cli::Cli::parse();
    tributary::telemetry::init(cli.log_format);
    tributary::cli::run(cli).await
}
