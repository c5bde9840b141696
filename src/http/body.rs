//! Reading answer bodies within limits: at most so many bytes (the rest is never read, so an
//! endless body costs no memory), an excerpt of an error body for messages, and the JSON a
//! successful answer should be — or why it is not.

use super::error::{HttpErrorKind, error_chain};

/// The most of an error body ever read: an excerpt needs 300 characters, and a source that
/// answers an endless body must not fill the memory (the rest is never read; dropping the
/// response closes the connection).
pub const ERROR_BODY_LIMIT: usize = 4096;

/// The most of an answer `check` reads (one listing, to prove the credentials).
pub const CHECK_BODY_LIMIT: usize = 1 << 30;

/// The first 300 characters of an error body, on one line, reading at most
/// [`ERROR_BODY_LIMIT`] bytes of it.
pub async fn body_excerpt(mut resp: reqwest::Response) -> String {
    let (bytes, _) = read_at_most(&mut resp, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    drop(resp);
    excerpt(&bytes, 300)
}

/// At most `max` bytes of an answer's body, and whether it has more. The rest is never read:
/// dropping the answer closes its connection, so an endless body costs no memory.
pub async fn read_at_most(
    resp: &mut reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((bytes, true));
        }
    }
    Ok((bytes, false))
}

/// The JSON body of a successful answer, reading at most `max_bytes` of it. One that is too
/// large or not one storable JSON value is `Unreadable` (a record to set aside); one that
/// is no JSON at all (a proxy's page) or breaks off is a `Request` error.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    resp: &mut reqwest::Response,
    max_bytes: usize,
) -> Result<T, HttpErrorKind> {
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (body, more) = read_at_most(resp, max_bytes)
        .await
        .map_err(|e| HttpErrorKind::Request {
            message: format!("unreadable body: {}", error_chain(&e)),
        })?;
    if more {
        return Err(HttpErrorKind::Unreadable {
            message: format!("the answer is larger than its limit of {max_bytes} bytes"),
            head: body,
        });
    }
    serde_json::from_slice(&body).map_err(|e| {
        let message = undecodable(content_type.as_deref(), &body, &e);
        if json_like(content_type.as_deref(), &body) {
            HttpErrorKind::Unreadable {
                message,
                head: body,
            }
        } else {
            HttpErrorKind::Request { message }
        }
    })
}

/// The first `chars` characters of `bytes` (lossy UTF-8), whitespace collapsed to one line.
fn excerpt(bytes: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// Why a successful answer cannot be decoded: a body that is not JSON at all (an HTML login
/// page, a proxy's error page) is named as such, with its content type and first bytes.
fn undecodable(content_type: Option<&str>, body: &[u8], error: &serde_json::Error) -> String {
    if json_like(content_type, body) {
        return format!("unreadable JSON body: {error}");
    }
    let head = &body[..body.len().min(200)];
    format!(
        "answered non-JSON (content-type {}, {} bytes): {}",
        content_type.unwrap_or("not given"),
        body.len(),
        excerpt(head, 120)
    )
}

/// Whether an answer means to be JSON: a JSON (or no) content type and a body that starts
/// like a JSON value. One that does not (a proxy's page, an empty body) is not a record.
fn json_like(content_type: Option<&str>, body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let looks_like_json = matches!(
        first,
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    );
    looks_like_json && content_type.is_none_or(|t| t.to_ascii_lowercase().contains("json"))
}

#[cfg(test)]
mod tests {
    use crate::http::body::*;

    #[test]
    fn non_json_answers_are_named_with_their_first_bytes() {
        let body = b"<!DOCTYPE html><html><body>Sign in</body></html>";
        let err = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        let text = undecodable(Some("text/html; charset=utf-8"), body, &err);
        assert!(
            text.contains("non-JSON") && text.contains("text/html"),
            "{text}"
        );
        assert!(text.contains("<!DOCTYPE html>"), "{text}");
        let body = b"{\"a\": }";
        let err = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        let text = undecodable(Some("application/json"), body, &err);
        assert!(text.starts_with("unreadable JSON body"), "{text}");
        let long = vec![b'x'; 100_000];
        let err = serde_json::from_slice::<serde_json::Value>(&long).unwrap_err();
        assert!(undecodable(None, &long, &err).len() < 400);
    }
}
