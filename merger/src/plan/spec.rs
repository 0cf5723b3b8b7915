//! One partition as a typed value: its keys (the metastore's spelling) and a value for each.
//! Both `PARTITION (…)` and `WHERE …` are rendered from this value, never from each other's
//! text, so a value holding `, `, `'`, `=` or ` AND ` cannot change what a statement selects.
//!
//! The partition *name* (`k=v/k2=v2`, as `PARTITIONS.PART_NAME` and the directory names hold
//! it) is escaped as Hive's `FileUtils.escapePathName` does: the characters below become `%XX`
//! (upper-case hex); everything else, commas, spaces and non-ASCII included, stays as it is. A
//! NULL or empty value is written as `__HIVE_DEFAULT_PARTITION__`.

use super::{quote_ident, quote_string, PlanError};

/// What Hive writes for a NULL (or empty) partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Characters Hive escapes in partition names on every platform (Hadoop's `Path` forbids `/`
/// and `:`, `=` separates key and value, `%` is the escape itself).
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{1}'
            ..='\u{1f}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7f}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// Hive's escaping of a key or value in a partition name.
pub fn escape_path_name(s: &str) -> String {
    if s.is_empty() {
        return DEFAULT_PARTITION.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Hive's unescaping (`FileUtils.unescapePathName`): `%XX` with two hex digits is the character
/// of that code; anything else stays as it is.
pub fn unescape_path_name(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '%' && i + 2 < chars.len() {
            if let (Some(h), Some(l)) = (chars[i + 1].to_digit(16), chars[i + 2].to_digit(16)) {
                if let Some(c) = char::from_u32(h * 16 + l) {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The value of one partition key, typed by the key's column type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyValue {
    /// `__HIVE_DEFAULT_PARTITION__`: rows whose key is NULL.
    Null,
    /// A key of an integer type, in its canonical form.
    Int(i64),
    Text(String),
}

impl KeyValue {
    /// The HiveQL literal of the value (`NULL` has none).
    pub fn literal(&self) -> Option<String> {
        match self {
            KeyValue::Null => None,
            KeyValue::Int(n) => Some(n.to_string()),
            KeyValue::Text(s) => Some(quote_string(s)),
        }
    }

    /// The value as Hive writes it into the partition name.
    pub fn path_text(&self) -> String {
        match self {
            KeyValue::Null => DEFAULT_PARTITION.to_string(),
            KeyValue::Int(n) => n.to_string(),
            KeyValue::Text(s) => escape_path_name(s),
        }
    }
}

fn is_integer_type(t: &str) -> bool {
    matches!(
        t.trim().to_ascii_lowercase().as_str(),
        "tinyint" | "smallint" | "int" | "integer" | "bigint"
    )
}

/// One partition: every key of the table, in order, with its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionSpec {
    pub values: Vec<(String, KeyValue)>,
}

impl PartitionSpec {
    /// Parses a partition name (`dt=2024-01-01/city=Paris, TX`) against the table's keys
    /// (`(name, type)` in order), unescaping as Hive does.
    pub fn parse(name: &str, keys: &[(String, String)]) -> Result<PartitionSpec, PlanError> {
        let bad = |why: String| PlanError::PartitionName {
            name: name.to_string(),
            why,
        };
        // `/` inside a key or value is always escaped, so it separates the keys.
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() != keys.len() {
            return Err(bad(format!(
                "it names {} keys, the table has {}",
                parts.len(),
                keys.len()
            )));
        }
        let mut values = Vec::with_capacity(keys.len());
        for (kv, (key, ty)) in parts.iter().zip(keys) {
            // `=` inside a key or value is always escaped: the first one separates them.
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(format!("{kv:?} is not key=value")))?;
            let k = unescape_path_name(k);
            if !k.eq_ignore_ascii_case(key) {
                return Err(bad(format!("expected key {key}, found {k}")));
            }
            let value = if v == DEFAULT_PARTITION {
                KeyValue::Null
            } else if v.is_empty() {
                // Hive never writes one (an empty value is the NULL partition); a literal ''
                // would select other rows than the directory holds.
                return Err(bad(format!("key {key} has an empty value")));
            } else {
                let text = unescape_path_name(v);
                if is_integer_type(ty) {
                    match text.parse::<i64>() {
                        Ok(n) if n.to_string() == text => KeyValue::Int(n),
                        // `05` or `x` under an int key: a literal would select another
                        // partition (Hive casts `'05'` to 5), so there is no safe spec.
                        _ => {
                            return Err(bad(format!(
                                "value {text:?} of {ty} key {key} is not a canonical integer"
                            )))
                        }
                    }
                } else {
                    KeyValue::Text(text)
                }
            };
            values.push((key.clone(), value));
        }
        Ok(PartitionSpec { values })
    }

    /// The partition name Hive writes for these values.
    pub fn name(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{}={}", escape_path_name(k), v.path_text()))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether a key is NULL (`__HIVE_DEFAULT_PARTITION__`).
    pub fn has_null(&self) -> bool {
        self.values.iter().any(|(_, v)| *v == KeyValue::Null)
    }

    /// `PARTITION (`k`='v', `n`=1)`. A NULL key has no static spec: Hive and Spark read
    /// `k='__HIVE_DEFAULT_PARTITION__'` as a string, which selects no rows.
    pub fn partition_clause(&self) -> Result<String, PlanError> {
        let mut items = Vec::with_capacity(self.values.len());
        for (k, v) in &self.values {
            let literal = v
                .literal()
                .ok_or_else(|| PlanError::NullPartition(self.name()))?;
            items.push(format!("{}={literal}", quote_ident(k)));
        }
        Ok(format!("PARTITION ({})", items.join(", ")))
    }

    /// `WHERE `k`='v' AND `n`=1` (`` `k` IS NULL `` for a NULL key): the same rows the
    /// partition holds.
    pub fn where_clause(&self) -> String {
        let conditions: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| match v.literal() {
                Some(l) => format!("{}={l}", quote_ident(k)),
                None => format!("{} IS NULL", quote_ident(k)),
            })
            .collect();
        format!("WHERE {}", conditions.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> Vec<(String, String)> {
        vec![
            ("city".to_string(), "string".to_string()),
            ("hr".to_string(), "int".to_string()),
        ]
    }

    /// Hive writes an empty value as the NULL partition (`FileUtils.escapePathName`), so it
    /// cannot round-trip as text; found by the fuzzer (fuzz/regressions/partition_name).
    #[test]
    fn an_empty_value_is_the_null_partition() {
        assert_eq!(escape_path_name(""), DEFAULT_PARTITION);
        // A name with an empty value is not one Hive writes: refused, never merged as ''.
        assert!(PartitionSpec::parse("city=/hr=1", &keys())
            .unwrap_err()
            .to_string()
            .contains("empty value"));
    }

    #[test]
    fn a_comma_and_space_stay_inside_one_value() {
        let spec = PartitionSpec::parse("city=Paris, TX/hr=5", &keys()).unwrap();
        assert_eq!(
            spec.values[0],
            ("city".into(), KeyValue::Text("Paris, TX".into()))
        );
        assert_eq!(
            spec.partition_clause().unwrap(),
            "PARTITION (`city`='Paris, TX', `hr`=5)"
        );
        assert_eq!(spec.where_clause(), "WHERE `city`='Paris, TX' AND `hr`=5");
    }

    #[test]
    fn escaped_names_as_hive_writes_them() {
        let spec = PartitionSpec::parse("city=it%27s %3D a%2Fb %25 %22q%22 Zürich /hr=-3", &keys())
            .unwrap();
        assert_eq!(
            spec.values[0].1,
            KeyValue::Text("it's = a/b % \"q\" Zürich ".into())
        );
        assert_eq!(
            spec.where_clause(),
            "WHERE `city`='it\\'s = a/b % \"q\" Zürich ' AND `hr`=-3"
        );
        assert_eq!(
            spec.name(),
            "city=it%27s %3D a%2Fb %25 %22q%22 Zürich /hr=-3"
        );
        assert_eq!(escape_path_name("a:b\u{1}"), "a%3Ab%01");
        assert_eq!(unescape_path_name("a%2Fb%3dc%"), "a/b=c%");
        assert_eq!(unescape_path_name("%zz%4"), "%zz%4");
    }

    #[test]
    fn null_keys_select_with_is_null_and_have_no_static_spec() {
        let spec = PartitionSpec::parse("city=__HIVE_DEFAULT_PARTITION__/hr=1", &keys()).unwrap();
        assert!(spec.has_null());
        assert_eq!(spec.where_clause(), "WHERE `city` IS NULL AND `hr`=1");
        assert!(matches!(
            spec.partition_clause(),
            Err(PlanError::NullPartition(_))
        ));
    }

    #[test]
    fn refusals() {
        for bad in [
            "city=a",
            "city=a/hr=1/x=2",
            "town=a/hr=1",
            "city/hr=1",
            "city=a/hr=05",
            "city=a/hr=x",
        ] {
            assert!(
                matches!(
                    PartitionSpec::parse(bad, &keys()),
                    Err(PlanError::PartitionName { .. })
                ),
                "{bad}"
            );
        }
    }

    proptest! {
        /// Any value → Hive's escaping → the partition name → parsed back: the same value, and
        /// so the same SQL literal in both clauses.
        #[test]
        fn names_round_trip(city in "(?s).{0,24}", hr in any::<i32>()) {
            prop_assume!(!city.is_empty() && city != DEFAULT_PARTITION);
            let original = PartitionSpec {
                values: vec![
                    ("city".into(), KeyValue::Text(city.clone())),
                    ("hr".into(), KeyValue::Int(hr as i64)),
                ],
            };
            let name = original.name();
            prop_assert_eq!(name.matches('/').count(), 1, "{}", name);
            let parsed = PartitionSpec::parse(&name, &keys()).unwrap();
            prop_assert_eq!(&parsed, &original);
            prop_assert_eq!(parsed.where_clause(), original.where_clause());
            prop_assert_eq!(parsed.partition_clause().unwrap(), original.partition_clause().unwrap());
            // The literal holds the value whole: one string literal per key.
            let literal = KeyValue::Text(city).literal().unwrap();
            let expected = format!("WHERE `city`={} AND ", literal);
            prop_assert!(parsed.where_clause().starts_with(&expected));
        }

        #[test]
        fn any_name_parses_or_is_refused_without_panic(name in "\\PC{0,40}") {
            let _ = PartitionSpec::parse(&name, &keys());
        }
    }
}
