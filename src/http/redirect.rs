//! The redirect policy: redirects are followed only within the same scheme, host and port
//! (at most 5), because the credentials travel in headers that must never reach another
//! host. A refused redirect says why, naming hosts but never credentials.

/// Why a redirect was not followed (names hosts, never credentials).
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Redirects are followed only within the same scheme, host and port (at most 5): the
/// credentials travel in headers that must never reach another host.
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = &attempt.previous()[0];
        let same = attempt.url().scheme() == origin.scheme()
            && attempt.url().host_str() == origin.host_str()
            && attempt.url().port_or_known_default() == origin.port_or_known_default();
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same {
            attempt.follow()
        } else {
            let host = attempt.url().host_str().unwrap_or("no host").to_string();
            let target = match attempt.url().port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            let error = RedirectRefused(format!(
                "the redirect to another host ({target}) was refused: the credentials stay with {}",
                origin.host_str().unwrap_or("the configured host")
            ));
            attempt.error(error)
        }
    })
}
