//! Writing a Prometheus text exposition page (format 0.0.4): families with their help and type,
//! samples with escaped label values. Shared by the exporter's and the merger's `/metrics`.

use std::fmt::Write;

/// Appends a label value with the exposition format's escapes.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A page being written.
#[derive(Debug, Default)]
pub struct Page {
    pub out: String,
}

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    /// `# HELP` and `# TYPE` of a family; its samples follow.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut p = Page::new();
        p.family("x_total", "counter", "Things.");
        p.sample("x_total", &[("a", "q\"b\\c\nd"), ("e", "f")], 3);
        p.sample("y", &[], 1.5);
        assert_eq!(
            p.out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"b\\\\c\\nd\",e=\"f\"} 3\ny 1.5\n"
        );
    }
}
