//! A private PostgreSQL cluster for `tributary demo` when no server answers: finding the
//! server binaries (`initdb`, `pg_ctl`), its data directory under the user's state
//! directory, creating it once, starting it on a free loopback port and stopping it again.
//!
//! It runs the PostgreSQL commands and waits for them (call it off the async runtime), and
//! knows nothing of tributary's schema; `demo` decides when a private cluster is wanted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian and Ubuntu install the server binaries: `<root>/<major version>/bin`.
pub const VERSIONS_ROOT: &str = "/usr/lib/postgresql";

/// The role `initdb` creates; the cluster trusts local connections, so it needs no password.
const SUPERUSER: &str = "postgres";

/// Lines of a failed command's output (and of the server log) quoted in its error.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL answers at {target}, and no PostgreSQL server binaries (initdb, pg_ctl) \
         are installed to start a private one. To get a database:\n\
         - set DATABASE_URL to a server whose role may create databases, \
         e.g. postgres://user:password@host:5432/tributary;\n\
         - or install the PostgreSQL server package (initdb and pg_ctl on PATH or under \
         {VERSIONS_ROOT}/<version>/bin), and the demo starts a private cluster of its own;\n\
         - or start the repository's PostgreSQL container with `docker compose up -d postgres` \
         and set DATABASE_URL=postgres://tributary:tributary@127.0.0.1:5432/tributary"
    )]
    NoServer { target: String },
    #[error(
        "no PostgreSQL answers at {target}, and the demo cannot start a private one as root \
         (initdb and postgres refuse to run as root): run the demo as an ordinary user, or set \
         DATABASE_URL to a server whose role may create databases"
    )]
    Root { target: String },
    #[error(
        "no PostgreSQL answers at {target}, and there is no directory for a private cluster: \
         set HOME or XDG_STATE_HOME (an absolute path), or set DATABASE_URL"
    )]
    NoStateDir { target: String },
    #[error(
        "a PostgreSQL server already runs on {dir} (a demo still running, or one killed before \
         it could stop it); stop it with `{pg_ctl} -D {dir} -m fast stop`"
    )]
    AlreadyRunning { dir: String, pg_ctl: String },
    #[error("`{command}` failed ({status}){tail}")]
    Command {
        command: String,
        status: String,
        tail: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `initdb` and `pg_ctl` of one installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
}

/// The first directory of `path` (a `PATH` value) holding both `initdb` and `pg_ctl`, else
/// `<versions_root>/<version>/bin` of the highest version that holds both.
pub fn find_binaries(path: &str, versions_root: &Path) -> Option<Binaries> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(versions_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .chain(versions.into_iter().map(|(_, bin)| bin))
        .find_map(|dir| {
            let binaries = Binaries {
                initdb: dir.join("initdb"),
                pg_ctl: dir.join("pg_ctl"),
            };
            (is_executable(&binaries.initdb) && is_executable(&binaries.pg_ctl)).then_some(binaries)
        })
}

/// `15` → `[15]`, `9.6` → `[9, 6]`; `None` for a name that is not a version.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// `<state dir>/tributary/demo-postgres`. The state directory is `XDG_STATE_HOME` when it
/// is set to an absolute path (the XDG spec ignores relative ones), else
/// `$HOME/.local/state`.
pub fn data_dir(xdg_state_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let absolute = |value: Option<&str>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    let state = absolute(xdg_state_home)
        .or_else(|| absolute(home).map(|home| home.join(".local").join("state")))?;
    Some(state.join("tributary").join("demo-postgres"))
}

/// The effective user id in the text of `/proc/<pid>/status`
/// (`Uid:` real, effective, saved, filesystem).
pub fn effective_uid_in_status(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// This process's effective user id: from `/proc/self/status`, else from `id -u`.
pub fn effective_uid() -> Option<u32> {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => effective_uid_in_status(&status),
        Err(_) => {
            let out = Command::new("id").arg("-u").output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        }
    }
}

/// What the machine offers a private cluster, read once, so that [`plan`] can be tested
/// with made-up values.
#[derive(Debug, Clone)]
pub struct Host {
    /// The `PATH` value.
    pub path: String,
    /// Normally [`VERSIONS_ROOT`].
    pub versions_root: PathBuf,
    pub xdg_state_home: Option<String>,
    pub home: Option<String>,
    pub euid: Option<u32>,
}

impl Host {
    pub fn current() -> Self {
        Host {
            path: std::env::var("PATH").unwrap_or_default(),
            versions_root: PathBuf::from(VERSIONS_ROOT),
            xdg_state_home: std::env::var("XDG_STATE_HOME").ok(),
            home: std::env::var("HOME").ok(),
            euid: effective_uid(),
        }
    }
}

/// Where and with which binaries a private cluster would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub binaries: Binaries,
    pub dir: PathBuf,
}

/// How a private cluster would run on `host`, or why it cannot. `target` is the address
/// where no server answered, for the messages.
pub fn plan(host: &Host, target: &str) -> Result<Plan, ClusterError> {
    let target = target.to_string();
    let binaries =
        find_binaries(&host.path, &host.versions_root).ok_or_else(|| ClusterError::NoServer {
            target: target.clone(),
        })?;
    if host.euid == Some(0) {
        return Err(ClusterError::Root { target });
    }
    let dir = data_dir(host.xdg_state_home.as_deref(), host.home.as_deref())
        .ok_or(ClusterError::NoStateDir { target })?;
    Ok(Plan { binaries, dir })
}

/// A started private cluster. [`PrivateCluster::stop`] stops it and reports how that went;
/// dropping it stops it too, silently, so that a panic does not leave a server running.
#[derive(Debug)]
pub struct PrivateCluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    created: bool,
    running: bool,
}

impl PrivateCluster {
    /// Creates the cluster in `plan.dir` unless it exists there already (`PG_VERSION`),
    /// then starts it on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start(plan: &Plan) -> Result<Self, ClusterError> {
        let dir = &plan.dir;
        let created = !dir.join("PG_VERSION").is_file();
        if created {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|source| ClusterError::Io {
                    action: "create",
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            run(
                Command::new(&plan.binaries.initdb)
                    .arg("-D")
                    .arg(dir)
                    .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"]),
                None,
            )?;
        } else if is_running(&plan.binaries.pg_ctl, dir) {
            return Err(ClusterError::AlreadyRunning {
                dir: dir.display().to_string(),
                pg_ctl: plan.binaries.pg_ctl.display().to_string(),
            });
        }
        let port = free_port()?;
        let log = dir.join("server.log");
        // From here on a failed start is stopped when `cluster` drops: `pg_ctl -w` may give
        // up waiting on a server that is still coming up.
        let cluster = PrivateCluster {
            dir: dir.clone(),
            pg_ctl: plan.binaries.pg_ctl.clone(),
            port,
            created,
            running: true,
        };
        run(
            Command::new(&plan.binaries.pg_ctl)
                .arg("-D")
                .arg(dir)
                .arg("-l")
                .arg(&log)
                .arg("-w")
                .arg("-o")
                // pg_ctl hands these to a shell: the socket directory is quoted.
                .arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -k {}",
                    sh_quote(&dir.to_string_lossy())
                ))
                .arg("start"),
            Some(&log),
        )?;
        Ok(cluster)
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether [`PrivateCluster::start`] created the cluster (rather than finding it).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Stops the server (fast: open sessions are ended) and waits until it is down.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.running = false;
        run(&mut self.stop_command(), None)
    }

    fn stop_command(&self) -> Command {
        let mut command = Command::new(&self.pg_ctl);
        command
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "stop"]);
        command
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.running {
            // Best effort: nobody is left to tell.
            let _ = self
                .stop_command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `pg_ctl status`: 0 when a server runs on `dir`.
fn is_running(pg_ctl: &Path, dir: &Path) -> bool {
    Command::new(pg_ctl)
        .arg("status")
        .arg("-D")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port of 127.0.0.1 nothing listens on right now (the OS picks it; released at once).
fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| ClusterError::Io {
            action: "find a free port on",
            path: "127.0.0.1".into(),
            source,
        })
}

/// Runs `command` to its end; on failure the error names it and quotes the tail of what
/// it wrote to `log` and of its output.
fn run(command: &mut Command, log: Option<&Path>) -> Result<(), ClusterError> {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| {
            let part = part.to_string_lossy();
            if part.contains(|c: char| c.is_whitespace() || c == '\'') {
                sh_quote(&part)
            } else {
                part.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let log_before = log
        .and_then(|log| std::fs::metadata(log).ok())
        .map_or(0, |m| m.len());
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Io {
            action: "run",
            path: line.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = log
        .and_then(|log| std::fs::read(log).ok())
        .map(|bytes| {
            let start = usize::try_from(log_before).map_or(0, |b| b.min(bytes.len()));
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        })
        .unwrap_or_default();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(ClusterError::Command {
        command: line,
        status: output.status.to_string(),
        tail: tail(&text),
    })
}

/// The last [`TAIL_LINES`] non-empty lines of `text`, each on a line of its own.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|l| format!("\n  {l}"))
        .collect()
}

/// `value` as one word for a POSIX shell.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the system temp dir, removed at the end.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "tributary-pgcluster-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        /// Fake server binaries in `<dir>/<sub>`, executable or not.
        fn binaries(&self, sub: &str, names: &[&str], executable: bool) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let dir = self.0.join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            for name in names {
                let file = dir.join(name);
                std::fs::write(&file, "#!/bin/sh\n").unwrap();
                let mode = if executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            dir
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn host(path: &str, versions_root: &Path, euid: u32) -> Host {
        Host {
            path: path.into(),
            versions_root: versions_root.into(),
            xdg_state_home: None,
            home: Some("/home/ann".into()),
            euid: Some(euid),
        }
    }

    #[test]
    fn binaries_come_from_path_first_then_the_highest_installed_version() {
        let scratch = Scratch::new();
        let root = scratch.0.join("lib");
        let v9 = scratch.binaries("lib/9.6/bin", &["initdb", "pg_ctl"], true);
        let v15 = scratch.binaries("lib/15/bin", &["initdb", "pg_ctl"], true);
        scratch.binaries("lib/16/bin", &["initdb"], true);
        scratch.binaries("lib/17/bin", &["initdb", "pg_ctl"], false);
        scratch.binaries("lib/common/bin", &["initdb", "pg_ctl"], true);
        let only_initdb = scratch.binaries("only-initdb", &["initdb"], true);
        let both = scratch.binaries("both", &["initdb", "pg_ctl"], true);

        let found = find_binaries("", &root).unwrap();
        assert_eq!(found.initdb, v15.join("initdb"));
        assert_eq!(found.pg_ctl, v15.join("pg_ctl"));
        let path = format!("/nonexistent:{}::{}", only_initdb.display(), both.display());
        assert_eq!(
            find_binaries(&path, &root).unwrap().pg_ctl,
            both.join("pg_ctl")
        );
        std::fs::remove_dir_all(&v15).unwrap();
        assert_eq!(find_binaries("", &root).unwrap().initdb, v9.join("initdb"));
        assert_eq!(
            find_binaries("/nonexistent", Path::new("/nonexistent")),
            None
        );
    }

    #[test]
    fn the_data_dir_is_under_xdg_state_home_else_home() {
        let dir = |xdg, home| data_dir(xdg, home).map(|p| p.display().to_string());
        assert_eq!(
            dir(Some("/state"), Some("/home/ann")).as_deref(),
            Some("/state/tributary/demo-postgres")
        );
        for xdg in [None, Some(""), Some("relative/state")] {
            assert_eq!(
                dir(xdg, Some("/home/ann")).as_deref(),
                Some("/home/ann/.local/state/tributary/demo-postgres"),
                "{xdg:?}"
            );
        }
        assert_eq!(dir(Some(""), None), None);
        assert_eq!(dir(None, Some("")), None);
    }

    #[test]
    fn the_effective_uid_is_the_second_uid_field() {
        let status =
            "Name:\ttributary\nUmask:\t0022\nUid:\t1000\t0\t1000\t1000\nGid:\t5\t5\t5\t5\n";
        assert_eq!(effective_uid_in_status(status), Some(0));
        assert_eq!(effective_uid_in_status("Name:\tx\n"), None);
    }

    #[test]
    fn without_binaries_the_error_lists_the_ways_to_a_database() {
        let err = plan(&host("", Path::new("/nonexistent"), 1000), "127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no PostgreSQL answers at 127.0.0.1:1"),
            "{err}"
        );
        for way in [
            "set DATABASE_URL to a server whose role may create databases",
            "install the PostgreSQL server package (initdb and pg_ctl",
            "docker compose up -d postgres",
        ] {
            assert!(err.contains(way), "{way} missing in: {err}");
        }
    }

    #[test]
    fn root_is_told_to_run_as_an_ordinary_user_and_others_get_a_plan() {
        let scratch = Scratch::new();
        let bin = scratch.binaries("bin", &["initdb", "pg_ctl"], true);
        let path = bin.display().to_string();
        let err = plan(&host(&path, Path::new("/nonexistent"), 0), "localhost:5432")
            .unwrap_err()
            .to_string();
        assert!(err.contains("as root"), "{err}");
        assert!(err.contains("run the demo as an ordinary user"), "{err}");
        let planned = plan(&host(&path, Path::new("/nonexistent"), 1000), "x").unwrap();
        assert_eq!(planned.binaries.initdb, bin.join("initdb"));
        assert_eq!(
            planned.dir,
            Path::new("/home/ann/.local/state/tributary/demo-postgres")
        );
    }

    #[test]
    fn failures_quote_the_tail_and_shell_words_are_quoted() {
        let text: String = (1..=30).map(|i| format!("line {i}\n\n")).collect();
        let quoted = tail(&text);
        assert!(quoted.starts_with("\n  line 11\n"), "{quoted}");
        assert!(quoted.ends_with("\n  line 30"), "{quoted}");
        assert_eq!(tail(""), "");
        let err = run(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("`sh -c 'echo oops >&2; exit 3'` failed"),
            "{err}"
        );
        assert!(err.ends_with("\n  oops"), "{err}");
        let scratch = Scratch::new();
        let log = scratch.0.join("server.log");
        std::fs::write(&log, "an earlier start\n").unwrap();
        let script = format!("echo 'FATAL: no' >> {}; echo failed; exit 1", log.display());
        let err = run(Command::new("sh").args(["-c", &script]), Some(&log))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("\n  FATAL: no\n  failed"), "{err}");
        assert!(!err.contains("earlier"), "{err}");
        assert_eq!(sh_quote("/tmp/it's here"), r"'/tmp/it'\''s here'");
    }
}
