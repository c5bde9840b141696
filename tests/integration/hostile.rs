//! Hostile answers from a source, served by small local HTTP servers written here: an endless
//! error body, an HTML page instead of JSON, a redirect to another host, an object id `..`,
//! and a password inside `base_url`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tributary::db::runs::RunStatus;
use tributary::sources::{self, aimsio};
use tributary::sync::{SourceReport, SyncOptions, sync_source};

use crate::common::{TestApp, text};

/// Reads one request's head and answers its path (None when the client went away).
async fn request_path(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split(' ').nth(1).map(str::to_string)
}

/// A server that answers every request with `answer(path)` (the whole response), logging
/// the paths asked.
async fn serve(
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let paths = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&paths);
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
            tokio::spawn(async move {
                while let Some(path) = request_path(&mut socket).await {
                    log.lock().unwrap().push(path.clone());
                    if socket.write_all(answer(&path).as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, paths)
}

/// PlanningNow at `base_url` (one of the servers here), one attempt per request.
async fn planningnow_app(base_url: &str) -> TestApp {
    TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true")
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", base_url)
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "sim-token")
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__REQUESTS_PER_SECOND",
            "100",
        )
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__RETRY__MAX_ATTEMPTS", "1")
        .spawn()
        .await
}

fn errors(report: &SourceReport) -> Vec<String> {
    report
        .streams
        .iter()
        .filter_map(|s| s.error.clone())
        .collect()
}

/// Peak resident memory of this process so far (nextest runs each test in its own process).
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test]
async fn an_endless_error_body_is_read_only_a_few_kb() {
    // Each connection: a 500 whose chunked body never ends (stopped by the server at 256 MiB
    // so that the old code, which read it all, fails the test instead of the machine).
    const SERVER_CAP: u64 = 256 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let most_written = Arc::new(Mutex::new(0u64));
    let seen = Arc::clone(&most_written);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                if request_path(&mut socket).await.is_none() {
                    return;
                }
                let head = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut chunk = b"10000\r\n".to_vec();
                chunk.extend(std::iter::repeat_n(b'x', 0x10000));
                chunk.extend_from_slice(b"\r\n");
                let mut written = 0u64;
                while written < SERVER_CAP && socket.write_all(&chunk).await.is_ok() {
                    written += 0x10000;
                    let mut most = seen.lock().unwrap();
                    *most = (*most).max(written);
                }
            });
        }
    });
    let app = planningnow_app(&url).await;
    let before = vm_hwm_kib();
    let report = tokio::time::timeout(Duration::from_secs(60), app.sync(false))
        .await
        .expect("the sync ends although the error body does not");
    let grown_mib = (vm_hwm_kib() - before) / 1024;
    let errors = errors(&report);
    assert!(!errors.is_empty(), "{report:?}");
    for error in &errors {
        assert!(error.contains("500"), "{error}");
        assert!(error.chars().count() < 1000, "{error}");
    }
    let most = *most_written.lock().unwrap();
    println!("server wrote at most {most} bytes on one connection; peak RSS grew {grown_mib} MiB");
    assert!(
        most < 16 << 20,
        "the client kept reading the error body: {most} bytes"
    );
    assert!(grown_mib < 100, "peak RSS grew {grown_mib} MiB");
    app.stop().await;
}

#[tokio::test]
async fn an_html_page_answered_200_is_named_non_json() {
    let page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>";
    let (url, _) = serve(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{page}",
            page.len()
        )
    })
    .await;
    let app = planningnow_app(&url).await;
    let report = app.sync(false).await;
    let errors = errors(&report);
    assert!(!errors.is_empty(), "{report:?}");
    for error in &errors {
        assert!(
            error.contains("non-JSON") && error.contains("text/html"),
            "{error}"
        );
        assert!(error.contains("<!DOCTYPE html>"), "{error}");
        assert!(!error.contains("expected value"), "{error}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refused_cross_host_redirect_says_why_and_names_the_host() {
    let (url, _) = serve(|_| {
        "HTTP/1.1 302 Found\r\nLocation: http://someone:hunter2xyz@elsewhere.invalid:8081/steal\r\n\
         Content-Length: 0\r\n\r\n"
            .to_string()
    })
    .await;
    let app = planningnow_app(&url).await;
    let report = app.sync(false).await;
    let errors = errors(&report);
    assert!(!errors.is_empty(), "{report:?}");
    for error in &errors {
        assert!(
            error.contains("redirect to another host (elsewhere.invalid:8081) was refused"),
            "{error}"
        );
        assert!(!error.contains("hunter2xyz"), "{error}");
        assert!(!error.contains("302 Found:"), "{error}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_aimsio_id_dot_dot_never_fetches_another_resource() {
    const LIST: &str = "/rest/api/standard/v1/JobOrder";
    let (url, paths) = serve(|path| {
        let body = if path == LIST {
            r#"[{"dtype": "JobOrder", "guid": "..", "updatedAt": 1700000000000},
                {"dtype": "JobOrder", "guid": ".", "updatedAt": 1700000000000}]"#
        } else {
            // What the list or the API root would answer, were the request to climb there.
            r#"{"guid": "root", "dtype": "JobOrder", "updatedAt": 1700000000000}"#
        };
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    })
    .await;
    let app = TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__AIMSIO__ENABLED", "true")
        .env("TRIBUTARY__SOURCES__AIMSIO__BASE_URL", url)
        .env("TRIBUTARY__SOURCES__AIMSIO__USERNAME", "sim-user")
        .env("TRIBUTARY__SOURCES__AIMSIO__PASSWORD", "sim-password")
        .env("TRIBUTARY__SOURCES__AIMSIO__ENTITIES", "JobOrder")
        .env("TRIBUTARY__SOURCES__AIMSIO__RETRY__MAX_ATTEMPTS", "1")
        .spawn()
        .await;
    let settings = app.settings();
    let source = sources::build(&settings, &[aimsio::NAME], app.pool()).expect("source");
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    let report = sync_source(app.pool(), &settings.sync, &source[0], &options)
        .await
        .expect("run records");
    let asked = paths.lock().unwrap().clone();
    assert!(
        asked.iter().all(|p| p == LIST),
        "a detail request reached another resource: {asked:?}"
    );
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let rejected: Vec<String> = sqlx::query_scalar(
        "SELECT record_key FROM tributary.rejects WHERE error LIKE '%cannot be asked for%' ORDER BY 1",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(rejected, [".", ".."], "set aside, the stream goes on");
    app.stop().await;
}

#[tokio::test]
async fn a_password_in_base_url_is_never_echoed() {
    let mut app = planningnow_app("http://127.0.0.1:9/api").await;
    // Not a URL (the port is out of range): a configuration error that quotes the value.
    // Then a valid one that nothing answers: a connection error.
    for base_url in [
        "https://user:hunter2xyz@127.0.0.1:99999",
        "http://user:hunter2xyz@127.0.0.1:9/api",
    ] {
        app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL", base_url);
        for command in ["check", "sync"] {
            let out = app.tributary(&[command]).await;
            let all = text(&out);
            assert!(!out.status.success(), "{command} {base_url}: {all}");
            assert!(!all.contains("hunter2xyz"), "{command} {base_url}: {all}");
            if base_url.contains("99999") {
                assert!(all.contains("user:***@127.0.0.1:99999"), "{command}: {all}");
            }
        }
    }
    app.stop().await;
}
