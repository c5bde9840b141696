//! Values: checking a source value against its column type and rendering it in
//! PostgreSQL's COPY text format (exact decimals, local times converted with the source's
//! zone, dates, epoch milliseconds), and what PostgreSQL cannot store at all.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, SecondsFormat, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};

use super::table::{ColType, Table};

/// Why PostgreSQL could not store `value` (in `raw jsonb` or a column), if it could not: a
/// NUL character in a string or key, or a number beyond `numeric`. `path` names where.
/// Every value of every record passes here, so the path is only spelled out for a problem.
pub fn unstorable(value: &Value, path: &str) -> Option<String> {
    let mut trail = Vec::new();
    let problem = find_unstorable(value, &mut trail)?;
    let mut at = path.to_string();
    let mut parent = at.clone();
    for step in &trail {
        parent.clone_from(&at);
        match step {
            Step::Key(k) if at.is_empty() => at.push_str(k),
            Step::Key(k) => {
                at.push('.');
                at.push_str(k);
            }
            Step::Index(i) => at.push_str(&format!("[{i}]")),
        }
    }
    Some(match problem {
        Problem::Nul => format!("`{at}` contains a NUL character, which PostgreSQL cannot store"),
        Problem::NulKey => {
            format!("a key in `{parent}` contains a NUL character, which PostgreSQL cannot store")
        }
        Problem::Number(n) => format!(
            "`{at}` is the number {}, beyond what PostgreSQL's numeric can hold",
            excerpt(n)
        ),
    })
}

/// A step of the way from a record to one of its values.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

enum Problem<'a> {
    Nul,
    NulKey,
    Number(&'a str),
}

/// The first unstorable value in `value`, with the way to it in `trail`.
fn find_unstorable<'a>(value: &'a Value, trail: &mut Vec<Step<'a>>) -> Option<Problem<'a>> {
    match value {
        Value::String(s) if s.contains('\0') => Some(Problem::Nul),
        Value::Number(n) if !storable_number(n.as_str()) => Some(Problem::Number(n.as_str())),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            trail.push(Step::Index(i));
            let found = find_unstorable(v, trail);
            if found.is_none() {
                trail.pop();
            }
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            trail.push(Step::Key(k));
            let found = if k.contains('\0') {
                Some(Problem::NulKey)
            } else {
                find_unstorable(v, trail)
            };
            if found.is_none() {
                trail.pop();
            }
            found
        }),
        _ => None,
    }
}

/// Whether PostgreSQL's `numeric` (and so `jsonb`) accepts the JSON number `text`: an
/// exponent within ±1000, at most 131072 digits before the point and 16383 after.
pub fn storable_number(text: &str) -> bool {
    let unsigned = text.trim_start_matches('-');
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => match unsigned[at + 1..].parse::<i64>() {
            Ok(e) => (&unsigned[..at], e),
            Err(_) => return false,
        },
        None => (unsigned, 0),
    };
    if !(-1000..=1000).contains(&exponent) {
        return false;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int_digits = int.trim_start_matches('0').len() as i64 + exponent;
    let frac_digits = frac.len() as i64 - exponent;
    int_digits <= 131_072 && frac_digits <= 16_383
}

fn excerpt(text: &str) -> String {
    if text.len() <= 40 {
        text.to_string()
    } else {
        format!("{}… ({} characters)", &text[..40], text.len())
    }
}

/// One staged row in COPY text format: the key values, the table's columns read from `obj`,
/// `raw` (serialized as JSON) and the row's `_hash`. Each value is written into the line as
/// it is converted: the bytes are those of converting, escaping and joining the values.
pub fn row_line<'k, R: Serialize + ?Sized>(
    table: &Table,
    key: impl IntoIterator<Item = &'k String>,
    obj: &Map<String, Value>,
    raw: &R,
    tz: Tz,
) -> Result<String, String> {
    let mut line = String::with_capacity(512);
    for k in key {
        push_field(&mut line, Some(k));
    }
    for column in &table.columns {
        let written = match column.lookup(obj) {
            Some((field, v)) => render(column.ty, v, tz, &mut Text::copy(&mut line))
                .map_err(|e| format!("field `{field}`: {e}"))?,
            None => false,
        };
        if !written {
            line.push_str("\\N");
        }
        line.push('\t');
    }
    push_json(&mut line, raw, true)?;
    line.push('\t');
    let hash = content_hash(&line);
    line.push_str(itoa::Buffer::new().format(hash));
    line.push('\n');
    Ok(line)
}

/// The `_hash` of a row: a 64-bit hash of its COPY text (key, columns and raw). Stable
/// across versions and processes (xxh3), so a stored hash can be compared with a new one.
pub fn content_hash(line: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(line.as_bytes()) as i64
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts one source value to the text of its column type (`None` is NULL).
pub fn convert(ty: ColType, value: &Value, tz: Tz) -> Result<Option<String>, String> {
    let mut text = String::new();
    let written = render(
        ty,
        value,
        tz,
        &mut Text {
            out: &mut text,
            copy: false,
        },
    )?;
    Ok(written.then_some(text))
}

/// Where a converted value is written: a COPY line (`copy`: escaped) or plain text.
struct Text<'a> {
    out: &'a mut String,
    copy: bool,
}

impl<'a> Text<'a> {
    fn copy(out: &'a mut String) -> Self {
        Text { out, copy: true }
    }

    /// Text that may hold characters COPY escapes.
    fn push(&mut self, s: &str) {
        if self.copy {
            push_escaped(self.out, s);
        } else {
            self.out.push_str(s);
        }
    }

    fn json(&mut self, value: &Value) -> Result<(), String> {
        push_json(self.out, value, self.copy)
    }
}

/// Writes `value` as the text of its column type; `false` (and nothing written) for NULL.
/// Digits, signs, dates and times need no escaping and are written as they are.
fn render(ty: ColType, value: &Value, tz: Tz, text: &mut Text) -> Result<bool, String> {
    if value.is_null() {
        return Ok(false);
    }
    let bad = |what: &str| Err(format!("{value} is not {what}"));
    match ty {
        ColType::Text => match value {
            Value::String(s) => text.push(s),
            other => text.json(other)?,
        },
        ColType::Int => {
            let int = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) if s.trim().is_empty() => return Ok(false),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match int {
                Some(i) => text.out.push_str(itoa::Buffer::new().format(i)),
                None => return bad("an integer"),
            }
        }
        ColType::Numeric => match value {
            Value::Number(n) if is_decimal(n.as_str()) => text.out.push_str(n.as_str()),
            Value::String(s) if s.trim().is_empty() => return Ok(false),
            Value::String(s) if is_decimal(s.trim()) => text.out.push_str(s.trim()),
            _ => return bad("a decimal number"),
        },
        ColType::Bool => {
            let b = match value {
                Value::Bool(b) => *b,
                Value::Number(n) if n.as_i64() == Some(0) => false,
                Value::Number(n) if n.as_i64() == Some(1) => true,
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "" => return Ok(false),
                    "true" | "t" | "1" | "yes" => true,
                    "false" | "f" | "0" | "no" => false,
                    _ => return bad("a boolean"),
                },
                _ => return bad("a boolean"),
            };
            text.out.push_str(if b { "true" } else { "false" });
        }
        ColType::EpochMillis => {
            let millis = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) if s.trim().is_empty() => return Ok(false),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match millis.and_then(DateTime::<Utc>::from_timestamp_millis) {
                Some(t) if (1..=9999).contains(&t.year()) => text
                    .out
                    .push_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                _ => return bad("epoch milliseconds"),
            }
        }
        ColType::Json => text.json(value)?,
        ColType::Date => match value.as_str().map(str::trim) {
            Some("" | "0000-00-00") => return Ok(false),
            Some(s) => match parse_date(s) {
                Some(d) => push_date(text.out, d),
                None => return bad("a date (YYYY-MM-DD, years 1 to 9999)"),
            },
            None => return bad("a date (YYYY-MM-DD)"),
        },
        ColType::LocalTimestamp => match value.as_str().map(str::trim) {
            Some("" | "0000-00-00 00:00:00" | "0000-00-00") => return Ok(false),
            Some(s) => match parse_timestamp(s, tz).filter(|t| (1..=9999).contains(&t.year())) {
                Some(t) => push_timestamp(text.out, t),
                None => return bad("a timestamp (YYYY-MM-DD HH:MM:SS, years 1 to 9999)"),
            },
            None => return bad("a timestamp (YYYY-MM-DD HH:MM:SS)"),
        },
    }
    Ok(true)
}

/// `YYYY-MM-DD` of a date in years 1 to 9999, as its `Display` writes it.
fn push_date(out: &mut String, d: NaiveDate) {
    push_digits(out, d.year().unsigned_abs(), 4);
    out.push('-');
    push_digits(out, d.month(), 2);
    out.push('-');
    push_digits(out, d.day(), 2);
}

/// A UTC time in RFC 3339 with `Z`, its fraction only where it has one, as
/// `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it.
fn push_timestamp(out: &mut String, t: DateTime<Utc>) {
    if t.nanosecond() != 0 {
        out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        return;
    }
    push_date(out, t.date_naive());
    out.push('T');
    push_digits(out, t.hour(), 2);
    out.push(':');
    push_digits(out, t.minute(), 2);
    out.push(':');
    push_digits(out, t.second(), 2);
    out.push('Z');
}

/// `n` in exactly `width` decimal digits (`n` is below 10^width).
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
}

/// Appends `value` serialized as JSON; escaped for COPY when `copy`. serde_json escapes
/// every control character, so only a backslash can need COPY's escaping.
fn push_json<R: Serialize + ?Sized>(
    line: &mut String,
    value: &R,
    copy: bool,
) -> Result<(), String> {
    let start = line.len();
    // SAFETY: serde_json writes valid UTF-8 only (its own `to_string` relies on this), in
    // pieces that end on character boundaries, so even a failed write leaves `line` valid;
    // it is cut back to `start` anyway.
    let bytes = unsafe { line.as_mut_vec() };
    if let Err(e) = serde_json::to_writer(&mut *bytes, value) {
        bytes.truncate(start);
        return Err(e.to_string());
    }
    if copy && memchr::memchr(b'\\', &bytes[start..]).is_some() {
        let json = String::from_utf8(bytes.split_off(start)).map_err(|e| e.to_string())?;
        push_escaped(line, &json);
    }
    Ok(())
}

/// A date, or the date of a date-time; years 1 to 9999 (what PostgreSQL and chrono agree on).
fn parse_date(s: &str) -> Option<NaiveDate> {
    if let Some(date) = plain_date(s.as_bytes()) {
        return (1..=9999).contains(&date.year()).then_some(date);
    }
    let date = if s.len() == 10 {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?
    } else {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?
            .date()
    };
    (1..=9999).contains(&date.year()).then_some(date)
}

/// `[+-]digits[.digits][e[+-]digits]`, as PostgreSQL's numeric reads it exactly, with at most
/// 1000 digits and an exponent of at most 1000 either way (far inside numeric's range).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && int.len() + frac.len() <= 1000;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.len() <= 4 && digits(e) && e.parse::<u32>().is_ok_and(|n| n <= 1000)
    });
    mantissa_ok && exponent_ok
}

/// A local wall-clock time in `tz` (or any RFC 3339 time) as UTC. A time that does not
/// exist (spring-forward gap) is read with the offset in force before the gap; an ambiguous
/// one (fall-back) as its first occurrence.
pub fn parse_timestamp(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let plain = match s.as_bytes() {
        [date @ .., b' ' | b'T', h1, h2, b':', m1, m2, b':', s1, s2] if date.len() == 10 => {
            plain_date(date).and_then(|d| {
                d.and_hms_opt(digits(*h1, *h2)?, digits(*m1, *m2)?, digits(*s1, *s2)?)
            })
        }
        _ => None,
    };
    let naive = match plain {
        Some(naive) => naive,
        None => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => return Some(t.with_timezone(&Utc)),
            Err(_) => parse_naive(s)?,
        },
    };
    Some(match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::days(1)))
                .fix();
            (naive - chrono::Duration::seconds(before.local_minus_utc().into())).and_utc()
        }
    })
}

/// `YYYY-MM-DD` exactly, read without a format string (the common case: a value of every
/// row); anything else (or a date that does not exist) is `None`, for the general parse.
fn plain_date(b: &[u8]) -> Option<NaiveDate> {
    match *b {
        [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] => NaiveDate::from_ymd_opt(
            i32::try_from(digits(y1, y2)? * 100 + digits(y3, y4)?).ok()?,
            digits(m1, m2)?,
            digits(d1, d2)?,
        ),
        _ => None,
    }
}

/// Two ASCII digits as a number.
fn digits(tens: u8, ones: u8) -> Option<u32> {
    (tens.is_ascii_digit() && ones.is_ascii_digit())
        .then(|| u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
}

/// A local date-time in one of the other forms sources send.
fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// One COPY text line of non-null values.
pub fn copy_line(values: &[String]) -> String {
    let mut line = String::new();
    for v in values {
        push_field(&mut line, Some(v));
    }
    line.pop();
    line.push('\n');
    line
}

/// Appends one COPY text field and a tab.
fn push_field(line: &mut String, value: Option<&str>) {
    match value {
        None => line.push_str("\\N"),
        Some(v) => push_escaped(line, v),
    }
    line.push('\t');
}

/// Appends `v` in COPY's text format. The characters it escapes are ASCII: the runs between
/// them are copied as they are.
fn push_escaped(line: &mut String, v: &str) {
    let mut from = 0;
    for (at, b) in v.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            _ => continue,
        };
        line.push_str(&v[from..at]);
        line.push_str(escaped);
        from = at + 1;
    }
    line.push_str(&v[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;
    use serde_json::json;

    #[test]
    fn plain_dates_and_times_read_as_the_general_parse_reads_them() {
        for s in [
            "2026-03-29 02:30:00",
            "2026-10-25 02:30:00",
            "2026-01-01T10:00:00",
            "2024-02-29 23:59:59",
            "2025-02-29 10:00:00",
            "2026-01-01 24:00:00",
            "2026-12-31 23:59:60",
            "0001-01-01 00:00:00",
            "2026-1x-01 10:00:00",
        ] {
            let general = parse_naive(s).map(|n| {
                Berlin
                    .from_local_datetime(&n)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            });
            match general {
                Some(Some(t)) => assert_eq!(parse_timestamp(s, Berlin), Some(t), "{s}"),
                Some(None) => assert!(parse_timestamp(s, Berlin).is_some(), "{s}"),
                None => assert_eq!(parse_timestamp(s, Berlin), None, "{s}"),
            }
        }
        for s in [
            "2026-02-28",
            "2024-02-29",
            "2025-02-29",
            "0000-01-01",
            "2026-13-01",
            "2026-1-011",
        ] {
            let general = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()));
            assert_eq!(parse_date(s), general, "{s}");
        }
    }

    /// The line as it is specified: each column converted, then escaped, `raw` serialized
    /// and escaped, then the hash of all that. Stored hashes depend on these exact bytes.
    #[test]
    fn a_row_line_is_its_fields_converted_then_escaped_then_its_hash() {
        use crate::sync::table::Column;
        let table = Table {
            name: "t.things",
            key: vec![Column::new("id", ColType::Text)],
            inherited: 0,
            columns: vec![
                Column::new("note", ColType::Text),
                Column::new("shape", ColType::Text),
                Column::new("extra", ColType::Json),
                Column::new("amount", ColType::Numeric),
                Column::new("count", ColType::Int),
                Column::new("done", ColType::Bool),
                Column::new("day", ColType::Date),
                Column::new("at", ColType::LocalTimestamp),
                Column::new("seen", ColType::EpochMillis),
                Column::new("missing", ColType::Text),
                Column::new("empty", ColType::Int),
            ],
            children: vec![],
            recursive: None,
        };
        let record: Value = serde_json::from_str(
            r#"{"note": "tab\there\nnew\rret\\back", "shape": {"a": "x\\y"},
                "extra": {"q": "say \"hi\"\n", "n": [1, 2.50]}, "amount": "12.50",
                "count": " 42 ", "done": "yes", "day": "2025-08-15 10:00:00",
                "at": "2025-03-30 02:30:00", "seen": 1731234567891, "empty": "",
                "äö": "\\N"}"#,
        )
        .unwrap();
        let obj = record.as_object().unwrap();
        let key = vec!["k\t1".to_string()];
        let line = row_line(&table, &key, obj, &record, Berlin).unwrap();

        let mut expected = String::new();
        push_field(&mut expected, Some(&key[0]));
        for column in &table.columns {
            let text = obj
                .get(column.name)
                .and_then(|v| convert(column.ty, v, Berlin).unwrap());
            push_field(&mut expected, text.as_deref());
        }
        push_field(
            &mut expected,
            Some(&serde_json::to_string(&record).unwrap()),
        );
        let hash = content_hash(&expected);
        expected.push_str(&format!("{hash}\n"));
        assert_eq!(line, expected);
        assert!(line.starts_with("k\\t1\ttab\\there\\nnew\\rret\\\\back\t"));
        assert!(line.contains("\t12.50\t42\ttrue\t2025-08-15\t2025-03-30T01:30:00Z\t"));
        assert!(line.contains("\t2024-11-10T10:29:27.891Z\t\\N\t\\N\t"));
    }

    #[test]
    fn dates_and_times_are_written_as_chrono_writes_them() {
        let mut day = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        let mut out = String::new();
        while day.year() <= 9999 {
            out.clear();
            push_date(&mut out, day);
            assert_eq!(out, day.to_string());
            day = day + chrono::Days::new(97);
        }
        for (secs, nanos) in [
            (-62_135_596_800, 0),
            (0, 0),
            (1_743_298_200, 0),
            (1_743_298_200, 500_000_000),
            (1_743_298_200, 1_000),
            (253_402_300_799, 0),
        ] {
            let t = DateTime::<Utc>::from_timestamp(secs, nanos).unwrap();
            out.clear();
            push_timestamp(&mut out, t);
            assert_eq!(out, t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }

    #[test]
    fn copy_text_escapes_backslash_newline_return_and_tab_and_nothing_else() {
        let values = [
            "a\\b\tc\nd\re".to_string(),
            "äö€ \"x\" \\N".to_string(),
            String::new(),
            "\t".to_string(),
        ];
        assert_eq!(
            copy_line(&values),
            "a\\\\b\\tc\\nd\\re\täö€ \"x\" \\\\N\t\t\\t\n"
        );
    }

    fn utc(s: &str) -> String {
        parse_timestamp(s, Berlin).unwrap().to_rfc3339()
    }

    #[test]
    fn local_times_convert_across_daylight_saving() {
        assert_eq!(utc("2025-09-20 08:00:00"), "2025-09-20T06:00:00+00:00");
        assert_eq!(utc("2025-01-20 08:00:00"), "2025-01-20T07:00:00+00:00");
        // 02:30 does not exist on 2025-03-30 in Berlin: read with the winter offset.
        assert_eq!(utc("2025-03-30 02:30:00"), "2025-03-30T01:30:00+00:00");
        // 02:30 happens twice on 2025-10-26: the first (summer time) is taken.
        assert_eq!(utc("2025-10-26 02:30:00"), "2025-10-26T00:30:00+00:00");
        assert_eq!(
            utc("2025-10-26T02:30:00+01:00"),
            "2025-10-26T01:30:00+00:00"
        );
    }

    #[test]
    fn decimals_are_kept_exactly_and_garbage_is_refused() {
        for ok in ["8500.00", "1.850", "-0.5", ".5", "12", "1e3", "+7.25"] {
            assert_eq!(
                convert(ColType::Numeric, &json!(ok), Berlin),
                Ok(Some(ok.to_string()))
            );
        }
        for bad in ["abc", "1,50", "1.2.3", "", "e5", "1e", "NaN", "1_000"] {
            let r = convert(ColType::Numeric, &json!(bad), Berlin);
            if bad.is_empty() {
                assert_eq!(r, Ok(None));
            } else {
                assert!(r.is_err(), "{bad} accepted");
            }
        }
        assert_eq!(
            convert(ColType::Numeric, &json!(2), Berlin),
            Ok(Some("2".into()))
        );
    }

    #[test]
    fn dates_ints_bools_and_zero_dates() {
        assert_eq!(
            convert(ColType::Date, &json!("2025-08-15"), Berlin),
            Ok(Some("2025-08-15".into()))
        );
        assert_eq!(
            convert(ColType::Date, &json!("0000-00-00"), Berlin),
            Ok(None)
        );
        assert!(convert(ColType::Date, &json!("15.08.2025"), Berlin).is_err());
        for bad in ["2025-8-1", "0000-01-01", "2025-08-15x", "2025-08-1"] {
            assert!(
                convert(ColType::Date, &json!(bad), Berlin).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            convert(ColType::Date, &json!("2025-08-15 10:00:00"), Berlin),
            Ok(Some("2025-08-15".into()))
        );
        assert!(
            convert(
                ColType::LocalTimestamp,
                &json!("0001-01-01 00:00:00"),
                Berlin
            )
            .is_err()
        );
        let long = format!("0.{}", "1".repeat(1001));
        assert!(convert(ColType::Numeric, &json!(long), Berlin).is_err());
        assert!(convert(ColType::Numeric, &json!("1e-9999"), Berlin).is_err());
        let exact: Value =
            serde_json::from_str("[8500.10, 123456789012345678901234567890]").unwrap();
        assert_eq!(
            convert(ColType::Numeric, &exact[0], Berlin),
            Ok(Some("8500.10".into()))
        );
        assert_eq!(
            convert(ColType::Numeric, &exact[1], Berlin),
            Ok(Some("123456789012345678901234567890".into()))
        );
        assert_eq!(
            convert(ColType::Int, &json!("42"), Berlin),
            Ok(Some("42".into()))
        );
        assert!(convert(ColType::Int, &json!(1.5), Berlin).is_err());
        assert_eq!(
            convert(ColType::Bool, &json!(0), Berlin),
            Ok(Some("false".into()))
        );
        assert_eq!(
            convert(ColType::EpochMillis, &json!(1_731_234_567_891_i64), Berlin),
            Ok(Some("2024-11-10T10:29:27.891Z".into()))
        );
        assert!(convert(ColType::EpochMillis, &json!("soon"), Berlin).is_err());
        assert_eq!(
            convert(ColType::Json, &json!({"a": [1, "x"]}), Berlin),
            Ok(Some(r#"{"a":[1,"x"]}"#.into()))
        );
    }
}

#[cfg(test)]
mod storable_tests {
    use super::*;

    #[test]
    fn numbers_beyond_numeric_and_nul_are_unstorable() {
        let v: Value = serde_json::from_str(r#"{"a":[1,{"b":1e999999}],"c":"x"}"#).unwrap();
        let problem = unstorable(&v, "").expect("unstorable");
        assert!(problem.contains("`a[1].b`"), "{problem}");
        for ok in ["1", "-12.50", "1e1000", "1E-1000", "0.000001"] {
            assert!(storable_number(ok), "{ok}");
        }
        for bad in ["1e1001", "1e999999", "-1E-999999", "1e-9223372036854775808"] {
            assert!(!storable_number(bad), "{bad}");
        }
        let nul: Value = serde_json::from_str(r#"{"k":"a\u0000b"}"#).unwrap();
        assert!(unstorable(&nul, "").unwrap().contains("NUL"));
        assert_eq!(
            unstorable(&v, "detail").unwrap(),
            "`detail.a[1].b` is the number 1e+999999, beyond what PostgreSQL's numeric can hold"
        );
        let key: Value = serde_json::from_str(r#"{"ok":1,"x":[{"y":{"a\u0000":1}}]}"#).unwrap();
        assert_eq!(
            unstorable(&key, "").unwrap(),
            "a key in `x[0].y` contains a NUL character, which PostgreSQL cannot store"
        );
        assert_eq!(
            unstorable(&serde_json::json!({"a": [1, "b", {"c": 2.5}]}), ""),
            None
        );
    }
}
