//! Reading Prometheus' text exposition format in tests: enough to compare exported numbers.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Sample {
    let (name_end, mut labels) = match line.find('{') {
        Some(i) => (i, BTreeMap::new()),
        None => (line.find(' ').expect("sample has a value"), BTreeMap::new()),
    };
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    if rest.starts_with('{') {
        let mut chars = rest[1..].char_indices();
        let mut key = String::new();
        let mut val = String::new();
        let mut in_val = false;
        let mut end = 0;
        while let Some((i, c)) = chars.next() {
            if in_val {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => val.push('\n'),
                        Some(c) => val.push(c),
                        None => {}
                    },
                    '"' => {
                        labels.insert(std::mem::take(&mut key), std::mem::take(&mut val));
                        in_val = false;
                    }
                    c => val.push(c),
                }
            } else {
                match c {
                    '}' => {
                        end = i + 2;
                        break;
                    }
                    '=' => {
                        chars.next(); // opening quote
                        in_val = true;
                    }
                    ',' => {}
                    c => key.push(c),
                }
            }
        }
        rest = &rest[end..];
    }
    let value = rest.split_whitespace().next().expect("value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or(f64::NAN),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// The value of the one sample with this name and (at least) these labels.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let hits: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        hits.len() <= 1,
        "{name} {labels:?} matches {} samples",
        hits.len()
    );
    hits.first().map(|s| s.value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_escaped_labels() {
        let s = super::parse(
            "# HELP x y\nm{a=\"q\\\"x\\\\\",b=\"2\"} 3\nn 4.5\nh_bucket{le=\"+Inf\"} 7\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels["a"], "q\"x\\");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(super::value(&s, "n", &[]), Some(4.5));
        assert_eq!(super::value(&s, "h_bucket", &[("le", "+Inf")]), Some(7.0));
    }
}
