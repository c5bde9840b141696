//! HTTP Basic credentials, as the Aimsio fake and aircalc's token endpoint read them.

/// The decoded `user:password` of an `Authorization: Basic …` header value.
pub(crate) fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    decode_base64(token.trim())
}

/// Standard base64 (padding optional); `None` for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_suffix("==").or_else(|| text.strip_suffix('='));
    let digits = digits.unwrap_or(text);
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for byte in digits.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A lone trailing digit carries no whole byte.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use crate::basic_auth::{basic_credentials, decode_base64};

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(
            decode_base64("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(decode_base64("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode_base64("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode_base64("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
        for bad in ["Y", "YQ=x", "a b", "YQ===", "ü"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
        let header = "basic  c2ltLXVzZXI6c2ltLXBhc3N3b3Jk";
        assert_eq!(
            basic_credentials(header).as_deref(),
            Some(&b"sim-user:sim-password"[..])
        );
        assert_eq!(basic_credentials("Bearer c2ltLXVzZXI6"), None);
        assert_eq!(basic_credentials("Basic"), None);
    }
}
