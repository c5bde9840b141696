//! Request paths: an id as one URL path segment, and the refusal of `.` and `..` segments,
//! which the URL standard would turn into a request for another resource.

/// An id as one URL path segment (unreserved characters kept, the rest percent-encoded).
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path that the URL parser would rewrite: a `.` or `..` segment (also percent-encoded, as
/// `%2E`) is removed or climbs one level by the URL standard, so the request would reach
/// another resource than the one asked for — and its answer would be stored as this one's.
pub fn dot_segment(path: &str) -> Option<&str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').find(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        matches!(decoded.as_str(), "." | "..")
    })
}

#[cfg(test)]
mod tests {
    use crate::http::path::*;

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(path_segment("a b/ä"), "a%20b%2F%C3%A4");
    }

    #[test]
    fn dot_ids_are_never_sent() {
        // The URL standard takes `..` and `%2E%2E` alike for a move up: the final URL would
        // reach the list's parent, which is why such a path is refused rather than sent.
        for id in ["..", "%2E%2E", ".%2e"] {
            let url = reqwest::Url::parse(&format!("http://h/api/jobs/{id}")).unwrap();
            assert_eq!(url.path(), "/api/", "{id}");
        }
        for id in [".", ".."] {
            let path = format!("/api/jobs/{}", path_segment(id));
            assert!(dot_segment(&path).is_some(), "{path}");
        }
        for path in ["/jobs/%2E%2E", "/jobs/%2e", "/jobs/./x", "/a/.%2E/b"] {
            assert!(dot_segment(path).is_some(), "{path}");
        }
        for path in [
            "/jobs/a.b",
            "/jobs/...",
            "/users?ids=.,..",
            "/jobs/%2E%2E%2E",
        ] {
            assert_eq!(dot_segment(path), None, "{path}");
        }
    }
}
