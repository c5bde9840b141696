//! Prometheus text format 0.0.4, written family by family: `# HELP` and `# TYPE` lines,
//! then samples with their labels escaped. `tributary_` families and the standard
//! `process_` ones (which have no prefix).

use std::fmt::Write;

/// Prometheus text, written family by family.
#[derive(Default)]
pub(super) struct Exposition {
    pub(super) text: String,
}

impl Exposition {
    /// A `tributary_` family.
    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.family_named(&format!("tributary_{name}"), kind, help);
    }

    /// A sample of a `tributary_` family.
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_named(&format!("tributary_{name}"), labels, value);
    }

    /// A family by its full name (the standard `process_` ones have no prefix).
    pub(super) fn family_named(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub(super) fn sample_named(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.text, "{name}");
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use crate::metrics::exposition::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("x", &[("table", "a\"b\\c\nd")], 1.5);
        assert_eq!(out.text, "tributary_x{table=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    }
}
