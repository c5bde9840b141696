//! The standard Prometheus process metrics (`process_resident_memory_bytes`,
//! `process_cpu_seconds_total`, `process_open_fds`, `process_start_time_seconds`), read
//! from `/proc` at each scrape as the official clients' process collectors do. Linux only:
//! elsewhere `read` answers `None` and the metrics are left out.

#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::exposition::Exposition;

/// What `/proc` says about this process.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Process {
    resident_memory_bytes: Option<f64>,
    cpu_seconds: Option<f64>,
    open_fds: Option<f64>,
    start_time_seconds: Option<f64>,
}

impl Process {
    pub(super) fn write(&self, out: &mut Exposition) {
        let families = [
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_memory_bytes,
            ),
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                self.open_fds,
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
        ];
        for (name, kind, help, value) in families {
            if let Some(value) = value {
                out.family_named(name, kind, help);
                out.sample_named(name, &[], value);
            }
        }
    }
}

/// Clock ticks per second of the times in `/proc/<pid>/stat` (USER_HZ). It is 100 on every
/// Linux architecture, which is why Prometheus' own procfs library fixes it too rather than
/// asking `sysconf(_SC_CLK_TCK)`.
const USER_HZ: f64 = 100.0;

#[cfg(target_os = "linux")]
pub(super) fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let boot = std::fs::read_to_string("/proc/stat").ok();
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as f64);
    let stat = stat.as_deref().and_then(parse_stat);
    Some(Process {
        resident_memory_bytes: status.as_deref().and_then(vm_rss_bytes),
        cpu_seconds: stat.map(|s| s.cpu_ticks as f64 / USER_HZ),
        open_fds: fds,
        start_time_seconds: stat
            .zip(boot.as_deref().and_then(boot_time))
            .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / USER_HZ),
    })
}

#[cfg(not(target_os = "linux"))]
pub(super) fn read() -> Option<Process> {
    None
}

/// The fields of `/proc/self/stat` used here, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    /// utime + stime.
    cpu_ticks: u64,
    /// When the process started, after boot.
    start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`: `pid (comm) state ppid …`, where comm may hold spaces and
/// parentheses, so the fields are counted from the last `)`. utime and stime are fields 14
/// and 15, starttime field 22 (proc(5), counting from 1).
fn parse_stat(text: &str) -> Option<Stat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after comm.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
    })
}

/// `VmRSS:   12345 kB` of `/proc/<pid>/status`, in bytes.
fn vm_rss_bytes(text: &str) -> Option<f64> {
    let line = text.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut parts = line.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(value * 1024.0),
        _ => None,
    }
}

/// `btime` of `/proc/stat`: when the system booted, in Unix seconds.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::metrics::process::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // comm with a space and a parenthesis; utime 250, stime 150, starttime 123456.
        let line = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 \
                    9 0 123456 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                cpu_ticks: 400,
                start_ticks: 123_456
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn resident_memory_and_boot_time_are_read() {
        let status = "Name:\ttributary\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_bytes(status), Some(2048.0 * 1024.0));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_measured() {
        let p = read().expect("Linux has /proc");
        assert!(p.resident_memory_bytes.is_some_and(|b| b > 0.0), "{p:?}");
        assert!(p.cpu_seconds.is_some(), "{p:?}");
        assert!(p.open_fds.is_some_and(|n| n >= 3.0), "{p:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = p.start_time_seconds.expect("a start time");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{p:?}"
        );
    }
}
