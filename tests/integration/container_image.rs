//! The image as an engine builds and runs it: the real Dockerfile built by podman, `tributary
//! run` in it against the test's PostgreSQL and simulator (host networking), its HEALTHCHECK
//! turning healthy, its process running as uid 10001 without capabilities and owning nothing
//! writable, data synced, and a SIGTERM ending it with exit code 0 within the shutdown grace.
//!
//! No Rust image can be pulled here, so the builder stage is handed the binary this test
//! suite built (`podman build --build-context builder=DIR`, DIR holding
//! `build/target/release/tributary`): a debug build, which the runtime stage takes as it
//! would the release build (both link against this machine's glibc, Debian bookworm's, as the
//! runtime image's is). Where podman does not answer (`podman info` fails), the test says so
//! and passes, unless `TRIBUTARY_CONTAINER_TEST=1` demands the engine (CI sets it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::common::*;
use crate::daemon::wait_for;

/// Set to `1` where the engine must answer: the test then fails instead of skipping.
const REQUIRED_VAR: &str = "TRIBUTARY_CONTAINER_TEST";
/// The image's user (the Dockerfile's `USER`).
const UID: &str = "10001";
/// `server.shutdown_grace_secs` in the container.
const GRACE_SECS: u64 = 10;
/// The paths of the image anybody may write, sorted: the sticky directories every Debian
/// system has for temporary files and lock files (each user may delete only their own files
/// there). Nothing else is writable by uid 10001, the binary included.
const WRITABLE: &[&str] = &["/run/lock", "/tmp", "/var/tmp"];
const ORDERS: usize = 25;

/// Runs podman; its output, whatever its exit status.
async fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("podman {}: {e}", args.join(" ")))
}

/// Runs podman, failing unless it succeeds; its stdout, trimmed.
async fn podman_ok(args: &[&str]) -> String {
    let out = podman(args).await;
    assert!(
        out.status.success(),
        "podman {}: {}\n{}",
        args.join(" "),
        out.status,
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Why podman does not answer, if it does not.
async fn engine_missing() -> Option<String> {
    match Command::new("podman").arg("info").output().await {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "podman info: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("podman info: cannot run podman: {e}")),
    }
}

/// A line on the test's stderr, shown also when libtest captures the test's output.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The image tag, the container and the builder's directory a test made; dropping it removes
/// them, also when the test panics (printing the container's log then).
struct Image {
    tag: String,
    container: String,
    builder: PathBuf,
}

impl Image {
    fn new() -> Self {
        let id = format!("{}-{}", std::process::id(), fastrand::u32(..));
        Self {
            tag: format!("localhost/tributary-test:{id}"),
            container: format!("tributary-test-{id}"),
            builder: std::env::temp_dir().join(format!("tributary-builder-{id}")),
        }
    }

    /// Fails if the container is no longer running, with its state and log.
    async fn assert_running(&self) {
        let state = podman_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &self.container,
        ])
        .await;
        if !state.starts_with("running") {
            let log = podman(&["logs", &self.container]).await;
            panic!("the container stopped ({state}):\n{}", text(&log));
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let run = |args: &[&str]| std::process::Command::new("podman").args(args).output();
        if std::thread::panicking()
            && let Ok(log) = run(&["logs", &self.container])
        {
            eprintln!("the container's log:\n{}", text(&log));
        }
        let _ = run(&["rm", "--force", "--time", "0", &self.container]);
        let _ = run(&["rmi", "--force", &self.tag]);
        let _ = std::fs::remove_dir_all(&self.builder);
    }
}

/// A port of 127.0.0.1 nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `/proc/1/status`'s fields of the container's main process (values as written).
async fn main_process(container: &str) -> Vec<(String, String)> {
    podman_ok(&["exec", container, "cat", "/proc/1/status"])
        .await
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[tokio::test]
async fn the_image_builds_runs_as_10001_turns_healthy_syncs_and_stops_on_sigterm() {
    if let Some(reason) = engine_missing().await {
        if std::env::var(REQUIRED_VAR).is_ok_and(|v| v == "1") {
            panic!(
                "{REQUIRED_VAR}=1, but no container engine answers ({reason}); run \
                 ../shared/tools/container-base.sh (see README, Container)"
            );
        }
        report(&format!(
            "container image test skipped: no container engine answers ({reason}); run \
             ../shared/tools/container-base.sh to enable it (see README, Container)"
        ));
        return;
    }
    let app = TestApp::builder().orders(ORDERS).spawn().await;
    let image = Image::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    let release = image.builder.join("build/target/release");
    std::fs::create_dir_all(&release).expect("the builder's directory");
    std::fs::copy(env!("CARGO_BIN_EXE_tributary"), release.join("tributary"))
        .expect("copy the binary");
    let started = Instant::now();
    podman_ok(&[
        "build",
        "--format",
        "docker",
        "--network",
        "none",
        "--build-context",
        &format!("builder={}", image.builder.display()),
        "--tag",
        &image.tag,
        "--file",
        &repo.join("Dockerfile").display().to_string(),
        &repo.display().to_string(),
    ])
    .await;
    let built = started.elapsed();

    let bind = format!("127.0.0.1:{}", free_port());
    let mut env: Vec<String> = app.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("TRIBUTARY__SERVER__BIND={bind}"));
    env.push(format!(
        "TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS={GRACE_SECS}"
    ));
    let mut run = vec!["run", "--detach", "--name", &image.container];
    run.extend(["--network", "host"]);
    for pair in &env {
        run.extend(["--env", pair]);
    }
    run.push(&image.tag);
    let started = Instant::now();
    podman_ok(&run).await;
    let ran = started.elapsed();

    // Without systemd, podman runs no healthcheck timers: the test runs the image's check.
    wait_for(
        Duration::from_secs(60),
        "the HEALTHCHECK to pass",
        || async {
            image.assert_running().await;
            podman(&["healthcheck", "run", &image.container])
                .await
                .status
                .success()
        },
    )
    .await;
    let healthy = started.elapsed();
    assert_eq!(
        podman_ok(&[
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            &image.container
        ])
        .await,
        "healthy"
    );

    let process = main_process(&image.container).await;
    let field = |name: &str| {
        process
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no {name} in /proc/1/status: {process:?}"))
    };
    assert_eq!(field("Name"), ["tributary"], "PID 1 is tributary itself");
    assert_eq!(field("Uid"), [UID; 4], "real, effective, saved, fs uid");
    assert_eq!(field("Gid"), [UID; 4], "real, effective, saved, fs gid");
    assert_eq!(field("CapEff"), ["0000000000000000"], "no capabilities");
    // As root, so that nothing is hidden from find: what uid 10001 owns, what its group owns,
    // and what anybody may write (symbolic links carry mode 777 and are not writable).
    let found = podman_ok(&[
        "exec",
        "--user",
        "0",
        &image.container,
        "find",
        "/",
        "-xdev",
        "(",
        "-user",
        UID,
        "-o",
        "-group",
        UID,
        "-o",
        "-perm",
        "-o+w",
        ")",
        "!",
        "-type",
        "l",
    ])
    .await;
    let mut found: Vec<&str> = found.lines().collect();
    found.sort_unstable();
    assert_eq!(found, WRITABLE, "owned by {UID} or writable by anybody");

    wait_for(
        Duration::from_secs(60),
        "the startup pass to sync every order",
        || async {
            image.assert_running().await;
            app.count(
                "SELECT count(*) FROM tributary.sync_runs \
                 WHERE source = 'planningnow' AND stream IS NULL AND status = 'succeeded'",
            )
            .await
                >= 1
        },
    )
    .await;
    let synced = started.elapsed();
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.orders").await,
        ORDERS as i64
    );

    let stopping = Instant::now();
    podman_ok(&[
        "stop",
        "--time",
        &(GRACE_SECS + 5).to_string(),
        &image.container,
    ])
    .await;
    let stopped = stopping.elapsed();
    assert_eq!(
        podman_ok(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &image.container
        ])
        .await,
        "0",
        "a graceful stop exits 0"
    );
    assert!(
        stopped < Duration::from_secs(GRACE_SECS),
        "stopped after {stopped:?}, the grace is {GRACE_SECS} s"
    );
    app.assert_nothing_running().await;
    // The image sets TRIBUTARY_LOG_FORMAT=json: every line of the log is a JSON object.
    let log = text(&podman(&["logs", &image.container]).await);
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }

    let size: u64 = podman_ok(&["image", "inspect", "--format", "{{.Size}}", &image.tag])
        .await
        .parse()
        .expect("a size in bytes");
    report(&format!(
        "container image test: built in {built:.1?}, started in {ran:.1?}, healthy after \
         {healthy:.1?}, synced after {synced:.1?}, stopped by SIGTERM in {stopped:.1?}; \
         image {} MB (a debug binary on the base image)",
        size / 1_000_000
    ));
    drop(image);
    app.stop().await;
}
