//! Value helpers the Aimsio and aircalc fakes share: exact JSON numbers and epoch
//! milliseconds kept off the whole second.

use rust_decimal::Decimal;
use serde_json::Number;

/// `ms`, moved one millisecond later if it falls on a whole second.
pub(crate) fn nonzero_ms(ms: i64) -> i64 {
    if ms % 1_000 == 0 { ms + 1 } else { ms }
}

/// The JSON number `units × 10^-scale`, written with exactly `scale` decimals (serde_json's
/// `arbitrary_precision` keeps the literal: `number(12550, 2)` is served as `125.50`).
pub(crate) fn number(units: i64, scale: u32) -> Number {
    Decimal::new(units, scale)
        .to_string()
        .parse()
        .expect("a decimal is a JSON number")
}
