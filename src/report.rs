//! Output of commands: the per-stream sync summary and the exit code it means, `status`,
//! and plain text tables.

use std::fmt::Write;
use std::process::ExitCode;

use crate::db::runs::{LastRun, RunStatus};
use crate::status::Status;
use crate::sync::SourceReport;

/// Renders rows under headers, columns padded; numbers (by header) right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| is_number(&r[i])))
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if numeric[i] {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// "12", "0.5" and durations like "1.25s" count as numbers.
fn is_number(cell: &str) -> bool {
    cell.trim_end_matches('s').parse::<f64>().is_ok()
}

/// The per-stream summary of sync passes, then the errors of failed streams.
pub fn summary(reports: &[SourceReport]) -> String {
    let mut rows = Vec::new();
    let mut errors = String::new();
    for report in reports {
        if report.streams.is_empty() && report.status == RunStatus::Succeeded {
            let _ = writeln!(
                errors,
                "{}: synced by another process (run {}) while this one waited; nothing left to do",
                report.source, report.run_id
            );
        }
        for s in &report.streams {
            let t = s.counts.total();
            rows.push(vec![
                report.source.to_string(),
                s.stream.to_string(),
                s.status.as_str().to_string(),
                s.counts.fetched.to_string(),
                t.inserted.to_string(),
                t.updated.to_string(),
                t.unchanged.to_string(),
                t.deleted.to_string(),
                s.counts.rejected.to_string(),
                s.counts.requests.to_string(),
                format!("{:.2}s", s.duration.as_secs_f64()),
            ]);
            if let Some(e) = &s.error {
                let _ = writeln!(
                    errors,
                    "{} {} (run {}): {e}",
                    report.source, s.stream, s.run_id
                );
            }
        }
    }
    let mut out = table(
        &[
            "source",
            "stream",
            "status",
            "fetched",
            "inserted",
            "updated",
            "unchanged",
            "deleted",
            "rejected",
            "requests",
            "duration",
        ],
        &rows,
    );
    if !errors.is_empty() {
        out.push('\n');
        out.push_str(&errors);
    }
    out
}

/// `tributary status`: the latest run per source and stream, the request budgets, and the
/// sources' backlogs.
pub fn status(status: &Status) -> String {
    let (runs, budgets) = (&status.runs, &status.budgets);
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let sources: Vec<Vec<String>> = status
        .sources
        .iter()
        .map(|s| {
            vec![
                s.source.to_string(),
                if s.enabled { "yes" } else { "no" }.to_string(),
                s.schedule.clone(),
                if s.enabled {
                    when(s.next_run)
                } else {
                    "-".into()
                },
                s.last_status.clone().unwrap_or_else(|| "-".into()),
                when(s.last_success_at),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "source",
            "enabled",
            "schedule (UTC)",
            "next run",
            "last pass",
            "last success",
        ],
        &sources,
    );
    out.push('\n');
    out.push_str(&runs_table(runs));
    if status.tables.iter().any(|t| t.live + t.soft_deleted > 0) {
        let rows: Vec<Vec<String>> = status
            .tables
            .iter()
            .filter(|t| t.live + t.soft_deleted > 0)
            .map(|t| {
                vec![
                    t.table.clone(),
                    t.live.to_string(),
                    t.soft_deleted.to_string(),
                    t.history_rows.to_string(),
                    size(t.history_bytes),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "table",
                "rows",
                "soft-deleted",
                "history versions",
                "history size",
            ],
            &rows,
        ));
    }
    if !status.schema_changes.is_empty() {
        let types = |t: &Option<Vec<String>>| t.as_ref().map_or("-".into(), |t| t.join("|"));
        let rows: Vec<Vec<String>> = status
            .schema_changes
            .iter()
            .map(|c| {
                vec![
                    c.changed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    c.source.clone(),
                    c.stream.clone(),
                    c.kind.clone(),
                    c.path.clone(),
                    format!("{} → {}", types(&c.old_types), types(&c.new_types)),
                ]
            })
            .collect();
        out.push_str(&format!(
            "\nschema changes (last {} days, newest first; all in tributary.schema_changes):\n",
            crate::status::RECENT_SCHEMA_CHANGE_DAYS
        ));
        out.push_str(&table(
            &["noticed", "source", "stream", "change", "field", "types"],
            &rows,
        ));
    }
    for a in &status.backlogs {
        out.push_str(&format!(
            "\n{}: {} {} due for a refresh; at {} requests per {}s all are refreshed by {}\n",
            a.source,
            a.pending,
            a.what,
            a.requests_per_window,
            a.window_secs,
            a.all_refreshed_by.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if !budgets.is_empty() {
        let rows: Vec<Vec<String>> = budgets
            .iter()
            .map(|b| {
                vec![
                    b.source.clone(),
                    format!("{} per {}s", b.limit, b.window_secs),
                    b.used.to_string(),
                    b.remaining.to_string(),
                    b.next_slot_frees_at
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_else(|| "now".into()),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "source",
                "budget",
                "used in window",
                "remaining",
                "next slot frees",
            ],
            &rows,
        ));
    }
    out
}

fn runs_table(runs: &[LastRun]) -> String {
    if runs.is_empty() {
        return "no runs recorded yet; run `tributary sync`\n".to_string();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.source.clone(),
                r.stream.clone().unwrap_or_else(|| "(pass)".into()),
                r.id.to_string(),
                r.status.clone(),
                r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                r.finished_at
                    .map(|f| {
                        format!(
                            "{:.1}s",
                            (f - r.started_at).num_milliseconds() as f64 / 1000.0
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                r.records_fetched.to_string(),
                (r.rows_inserted + r.rows_updated + r.rows_deleted).to_string(),
                r.rows_rejected.to_string(),
                r.requests.to_string(),
                r.throttled.to_string(),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "source", "stream", "run", "status", "started", "took", "fetched", "written",
            "rejected", "requests", "429s", "error",
        ],
        &rows,
    )
}

/// 1 when any pass failed, else 130 when one was stopped by a signal, else 3 when one ran
/// out of request budget, else 0.
pub fn exit_code(reports: &[SourceReport]) -> ExitCode {
    if reports.iter().any(|r| r.status == RunStatus::Failed) {
        ExitCode::FAILURE
    } else if reports.iter().any(|r| r.status == RunStatus::Cancelled) {
        ExitCode::from(130)
    } else if reports
        .iter()
        .any(|r| r.status == RunStatus::BudgetExhausted)
    {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// A size in bytes as people read it: `8.0 kB`, `1.5 MB` (powers of 1024, as PostgreSQL's
/// `pg_size_pretty`).
fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_like_pg_size_pretty() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(8192), "8.0 kB");
        assert_eq!(size(3 * 1024 * 1024 / 2), "1.5 MB");
    }
}
