//! The Thrift binary protocol, as much as TCLIService needs: a generic value tree, so that
//! responses are read leniently (unknown fields skipped) and every length is bounded before
//! anything is allocated.

use std::fmt;

pub const T_STOP: u8 = 0;
pub const T_BOOL: u8 = 2;
pub const T_BYTE: u8 = 3;
pub const T_DOUBLE: u8 = 4;
pub const T_I16: u8 = 6;
pub const T_I32: u8 = 8;
pub const T_I64: u8 = 10;
pub const T_STRING: u8 = 11;
pub const T_STRUCT: u8 = 12;
pub const T_MAP: u8 = 13;
pub const T_SET: u8 = 14;
pub const T_LIST: u8 = 15;

pub const CALL: u8 = 1;
pub const REPLY: u8 = 2;
pub const EXCEPTION: u8 = 3;

/// Bounds on what a peer may make us allocate.
pub const MAX_STRING: usize = 256 << 20;
pub const MAX_ELEMENTS: usize = 64 << 20;
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    Binary(Vec<u8>),
    Struct(Vec<(i16, Value)>),
    Map(u8, u8, Vec<(Value, Value)>),
    List(u8, Vec<Value>),
    Set(u8, Vec<Value>),
}

impl Value {
    pub fn type_id(&self) -> u8 {
        match self {
            Value::Bool(_) => T_BOOL,
            Value::Byte(_) => T_BYTE,
            Value::I16(_) => T_I16,
            Value::I32(_) => T_I32,
            Value::I64(_) => T_I64,
            Value::Double(_) => T_DOUBLE,
            Value::Binary(_) => T_STRING,
            Value::Struct(_) => T_STRUCT,
            Value::Map(..) => T_MAP,
            Value::List(..) => T_LIST,
            Value::Set(..) => T_SET,
        }
    }

    pub fn str(s: &str) -> Value {
        Value::Binary(s.as_bytes().to_vec())
    }

    /// A struct's field by id.
    pub fn field(&self, id: i16) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(f, _)| *f == id).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::I32(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Binary(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(_, v) | Value::Set(_, v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed (a message split across reads).
    Incomplete,
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DecodeError::Incomplete => f.write_str("incomplete message"),
            DecodeError::Invalid(m) => f.write_str(m),
        }
    }
}

/// A message: method name, type, sequence id and its argument or result struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub name: String,
    pub kind: u8,
    pub seq: i32,
    pub body: Value,
}

pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&(0x8001_0000u32 | m.kind as u32).to_be_bytes());
    out.extend_from_slice(&(m.name.len() as i32).to_be_bytes());
    out.extend_from_slice(m.name.as_bytes());
    out.extend_from_slice(&m.seq.to_be_bytes());
    write_value(&mut out, &m.body);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Byte(b) => out.push(*b as u8),
        Value::I16(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::I32(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::I64(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::Double(d) => out.extend_from_slice(&d.to_bits().to_be_bytes()),
        Value::Binary(b) => {
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Value::Struct(fields) => {
            for (id, f) in fields {
                out.push(f.type_id());
                out.extend_from_slice(&id.to_be_bytes());
                write_value(out, f);
            }
            out.push(T_STOP);
        }
        Value::Map(k, v, entries) => {
            out.push(*k);
            out.push(*v);
            out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
            for (a, b) in entries {
                write_value(out, a);
                write_value(out, b);
            }
        }
        Value::List(t, items) | Value::Set(t, items) => {
            out.push(*t);
            out.extend_from_slice(&(items.len() as i32).to_be_bytes());
            for i in items {
                write_value(out, i);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(DecodeError::Incomplete);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self, max: usize, what: &str) -> Result<usize, DecodeError> {
        let n = self.i32()?;
        if n < 0 || n as usize > max {
            return Err(DecodeError::Invalid(format!(
                "{what} length {n} out of bounds"
            )));
        }
        Ok(n as usize)
    }

    fn value(&mut self, t: u8, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::Invalid("nesting too deep".into()));
        }
        Ok(match t {
            T_BOOL => Value::Bool(self.u8()? != 0),
            T_BYTE => Value::Byte(self.u8()? as i8),
            T_I16 => Value::I16(self.i16()?),
            T_I32 => Value::I32(self.i32()?),
            T_I64 => Value::I64(self.i64()?),
            T_DOUBLE => Value::Double(f64::from_bits(self.i64()? as u64)),
            T_STRING => {
                let n = self.len(MAX_STRING, "string")?;
                Value::Binary(self.take(n)?.to_vec())
            }
            T_STRUCT => {
                let mut fields = Vec::new();
                loop {
                    let ft = self.u8()?;
                    if ft == T_STOP {
                        break;
                    }
                    let id = self.i16()?;
                    fields.push((id, self.value(ft, depth + 1)?));
                }
                Value::Struct(fields)
            }
            T_MAP => {
                let (k, v) = (self.u8()?, self.u8()?);
                let n = self.len(MAX_ELEMENTS, "map")?;
                // Each entry takes at least a byte: a count beyond the buffer is a lie or a wait.
                let mut entries = Vec::with_capacity(n.min(self.buf.len() - self.pos));
                for _ in 0..n {
                    entries.push((self.value(k, depth + 1)?, self.value(v, depth + 1)?));
                }
                Value::Map(k, v, entries)
            }
            T_LIST | T_SET => {
                let et = self.u8()?;
                let n = self.len(MAX_ELEMENTS, "list")?;
                let mut items = Vec::with_capacity(n.min(self.buf.len() - self.pos));
                for _ in 0..n {
                    items.push(self.value(et, depth + 1)?);
                }
                if t == T_LIST {
                    Value::List(et, items)
                } else {
                    Value::Set(et, items)
                }
            }
            other => return Err(DecodeError::Invalid(format!("unknown Thrift type {other}"))),
        })
    }
}

/// Decodes one strict binary-protocol message from the start of `buf`; returns it and the
/// number of bytes it took.
pub fn decode_message(buf: &[u8]) -> Result<(Message, usize), DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let header = r.i32()? as u32;
    if header & 0xffff_0000 != 0x8001_0000 {
        return Err(DecodeError::Invalid(format!(
            "not a strict Thrift binary message (header {header:#010x})"
        )));
    }
    let kind = (header & 0xff) as u8;
    let n = r.len(1024, "method name")?;
    // Thrift strings are UTF-8; a name that is not is refused, not replaced (a lossy copy
    // would be a different name, longer than the bound it was checked against).
    let name = String::from_utf8(r.take(n)?.to_vec())
        .map_err(|_| DecodeError::Invalid("method name is not UTF-8".into()))?;
    let seq = r.i32()?;
    let body = r.value(T_STRUCT, 0)?;
    Ok((
        Message {
            name,
            kind,
            seq,
            body,
        },
        r.pos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let m = Message {
            name: "OpenSession".into(),
            kind: CALL,
            seq: 7,
            body: Value::Struct(vec![(
                1,
                Value::Struct(vec![
                    (1, Value::I32(9)),
                    (2, Value::str("hive")),
                    (
                        4,
                        Value::Map(T_STRING, T_STRING, vec![(Value::str("a"), Value::str("b"))]),
                    ),
                ]),
            )]),
        };
        let bytes = encode_message(&m);
        let (back, used) = decode_message(&bytes).unwrap();
        assert_eq!((back, used), (m, bytes.len()));
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_message(&bytes[..cut]).unwrap_err(),
                DecodeError::Incomplete,
                "cut at {cut}"
            );
        }
        // A string claiming 2 GiB is refused before any allocation.
        let mut evil = bytes[..bytes.len() - 1].to_vec();
        evil.truncate(4 + 4 + 11 + 4);
        evil.extend_from_slice(&[T_STRING, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        assert!(
            matches!(decode_message(&evil), Err(DecodeError::Invalid(m)) if m.contains("out of bounds"))
        );
        assert!(matches!(
            decode_message(b"\x00\x00\x00\x01garbage"),
            Err(DecodeError::Invalid(_))
        ));
        // Found by the fuzzer (fuzz/regressions/thrift_message): a method name of 1,024 bytes
        // that are not UTF-8 decoded lossily to 3,072 bytes, which no longer encoded back.
        let mut lossy = vec![0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x04, 0x00];
        lossy.extend(std::iter::repeat_n(0xbd, 1024));
        lossy.extend_from_slice(&[0, 0, 0, 0, T_STOP]);
        assert_eq!(
            decode_message(&lossy).unwrap_err(),
            DecodeError::Invalid("method name is not UTF-8".into())
        );
    }
}
