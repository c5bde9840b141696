//! `tributary demo` where no PostgreSQL answers: the binary starts a private cluster under
//! `XDG_STATE_HOME`, syncs into it, stops it again, and reuses it the next time. initdb and
//! postgres refuse to run as root, so as root (CI) the binary runs as the `postgres` user.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tributary::pgcluster;

/// Nothing answers on port 1.
const SILENT: &str = "postgres://postgres@127.0.0.1:1/tributary_demo";

fn is_root() -> bool {
    pgcluster::effective_uid() == Some(0)
}

/// A fresh directory under the system temp dir. At the end a server a failed test left
/// running on the private cluster in it is stopped, and the directory removed.
struct Scratch {
    dir: PathBuf,
    pg_ctl: Option<PathBuf>,
}

impl Scratch {
    fn new(pg_ctl: Option<PathBuf>) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tributary-demo-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch { dir, pg_ctl }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn data(&self) -> PathBuf {
        self.state().join("tributary").join("demo-postgres")
    }

    /// Exactly the environment the demo gets.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", self.dir.display().to_string()),
            ("XDG_STATE_HOME", self.state().display().to_string()),
            ("DATABASE_URL", SILENT.to_string()),
            ("RUST_LOG", "warn".to_string()),
        ]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let data = self.data();
        if let Some(pg_ctl) = &self.pg_ctl
            && data.join("postmaster.pid").exists()
        {
            let _ = unprivileged(pg_ctl, &self.env(), &self.dir)
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `program` with exactly `env`, in `dir`; as the `postgres` user when we are root.
fn unprivileged(program: &Path, env: &[(&str, String)], dir: &Path) -> Command {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", "env", "-i"]);
        command.args(env.iter().map(|(k, v)| format!("{k}={v}")));
        command.arg(program);
        command
    } else {
        let mut command = Command::new(program);
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        command
    };
    command.current_dir(dir);
    command
}

/// The binary where the `postgres` user can run it: in place when it and every directory
/// above it let others in, else a copy in `dir`.
fn runnable_by_others(binary: &Path, dir: &Path) -> PathBuf {
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    if mode(binary) & 0o005 == 0o005 && binary.ancestors().skip(1).all(|d| mode(d) & 0o001 != 0) {
        return binary.to_path_buf();
    }
    let copy = dir.join("tributary");
    std::fs::copy(binary, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No postmaster.pid, and no process whose command line names the data directory.
fn assert_stopped(data: &Path) {
    assert!(
        !data.join("postmaster.pid").exists(),
        "the private cluster still runs"
    );
    let data = data.display().to_string();
    let running: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&data))
        .collect();
    assert!(running.is_empty(), "still running: {running:?}");
}

/// The rows printed under the join query's header.
fn join_rows(stdout: &str) -> Vec<&str> {
    let after = stdout
        .split_once("orders joined to aircalc projects:")
        .map_or("", |(_, after)| after);
    after
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .filter(|cell| cell.starts_with("PRJ-"))
                .count()
                == 2
        })
        .collect()
}

#[test]
fn demo_runs_on_a_private_cluster_when_nothing_answers_and_stops_it() {
    let binaries = pgcluster::find_binaries(
        &std::env::var("PATH").unwrap_or_default(),
        Path::new(pgcluster::VERSIONS_ROOT),
    );
    let scratch = Scratch::new(binaries.as_ref().map(|b| b.pg_ctl.clone()));
    let env = scratch.env();
    let exe = Path::new(env!("CARGO_BIN_EXE_tributary"));
    let demo = ["demo", "--orders", "20"];
    let direct = || {
        Command::new(exe)
            .args(demo)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run tributary")
    };

    if binaries.is_none() {
        let out = direct();
        assert!(!out.status.success(), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no PostgreSQL answers at 127.0.0.1:1"),
            "{stderr}"
        );
        assert!(stderr.contains("docker compose up -d postgres"), "{stderr}");
        return;
    }
    if is_root() {
        let out = direct();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("run the demo as an ordinary user"),
            "{stderr}"
        );
        assert!(!scratch.data().exists());
        let chown = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&scratch.dir)
            .status()
            .expect("chown");
        assert!(chown.success());
    }
    let exe = runnable_by_others(exe, &scratch.dir);
    let data = scratch.data();

    // The first demo creates the cluster, the second reuses it; both stop it at the end.
    let first = format!(
        "no PostgreSQL answers at 127.0.0.1:1: created and started a private cluster in {} \
         on port",
        data.display()
    );
    let again = format!("started the private cluster in {}", data.display());
    for expected in [first, again] {
        let out = unprivileged(&exe, &env, &scratch.dir)
            .args(demo)
            .output()
            .expect("run tributary");
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&expected),
            "{expected} missing in:\n{stdout}"
        );
        assert!(stdout.contains("succeeded"), "{stdout}");
        assert!(
            !join_rows(&stdout).is_empty(),
            "no joined orders in:\n{stdout}"
        );
        assert!(data.join("PG_VERSION").is_file());
        assert_stopped(&data);
    }
}
