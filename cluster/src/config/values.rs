//! The value types of the file: globs, sizes, durations, metastore URLs and secrets, each
//! parsed and printed one way.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de;
use serde::Deserialize;

use crate::error::{Error, Result};

/// `*` matches any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A size in bytes: a number, or a number with B, KiB, MiB, GiB, TiB (also KB, MB, GB, TB, which
/// Hadoop operators mean as powers of 1024 too: `dfs.blocksize 128m` is 128 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> std::result::Result<ByteSize, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = (s[..split].trim(), s[split..].trim());
        let value: f64 = num.parse().map_err(|_| {
            format!("{s:?} is not a size (expected e.g. 134217728, 128MiB or 128MB)")
        })?;
        let mult: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "{s:?}: unknown size unit {unit:?} (use B, KiB, MiB, GiB, TiB)"
                ))
            }
        };
        let bytes = value * mult as f64;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(format!("{s:?} is not a positive size"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 134217728, 128MiB or 128MB")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<ByteSize, E> {
                if v == 0 {
                    return Err(E::custom("size must be positive"));
                }
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<ByteSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("size must be positive"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as Prometheus does: `90s`, `30m`, `1h`, `1h30m`, `2d`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(s: &str) -> std::result::Result<HumanDuration, String> {
        let bad = || format!("{s:?} is not a duration (expected e.g. 90s, 30m, 1h30m, 2d)");
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            total += match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                "d" => Duration::from_secs(n * 86400),
                "w" => Duration::from_secs(n * 7 * 86400),
                _ => return Err(bad()),
            };
        }
        if total.is_zero() {
            return Err(format!("{s:?}: duration must be positive"));
        }
        Ok(HumanDuration(total))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(de::Error::custom)
    }
}

/// A metastore database address. The password never lives here: see [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetastoreUrl {
    pub kind: MetastoreKind,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// A password written into the URL itself (discouraged; kept out of every message).
    pub inline_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetastoreKind {
    Mysql,
    Postgres,
}

impl MetastoreUrl {
    pub fn parse(s: &str) -> std::result::Result<MetastoreUrl, String> {
        let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        let kind = match u.scheme() {
            "mysql" | "mariadb" => MetastoreKind::Mysql,
            "postgres" | "postgresql" => MetastoreKind::Postgres,
            other => {
                return Err(format!(
                    "scheme {other:?} is not supported (use mysql:// or postgresql://)"
                ))
            }
        };
        let host = u.host_str().ok_or("the URL has no host")?.to_string();
        let database = u.path().trim_start_matches('/').to_string();
        if database.is_empty() {
            return Err("the URL names no database (…/metastore)".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Ok(MetastoreUrl {
            kind,
            port: u.port().unwrap_or(match kind {
                MetastoreKind::Mysql => 3306,
                MetastoreKind::Postgres => 5432,
            }),
            user: if u.username().is_empty() {
                "hive".into()
            } else {
                decode(u.username())
            },
            inline_password: u.password().map(decode),
            database: decode(&database),
            host,
        })
    }

    /// The address as it may appear in logs and errors.
    pub fn redacted(&self) -> String {
        let scheme = match self.kind {
            MetastoreKind::Mysql => "mysql",
            MetastoreKind::Postgres => "postgresql",
        };
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

/// A secret value. Its Debug and Display never show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Reads a secret from a file (trailing newline stripped) or an environment variable.
    pub fn resolve(file: Option<&Path>, env: Option<&str>) -> Result<Option<Secret>> {
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|e| Error::Secret {
                source_name: f.display().to_string(),
                reason: e.kind().to_string(),
            })?;
            return Ok(Some(Secret(
                text.trim_end_matches(['\r', '\n']).to_string(),
            )));
        }
        if let Some(var) = env {
            let v = std::env::var(var).map_err(|_| Error::Secret {
                source_name: format!("environment variable {var}"),
                reason: "not set".into(),
            })?;
            return Ok(Some(Secret(v)));
        }
        Ok(None)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
