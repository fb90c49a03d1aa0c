//! JSON text checked without building a tree: a Worker's result is printed
//! as its own JSON text, so nothing limits how deeply it nests (serde_json
//! refuses more than 128 levels) and lone surrogates (`"\ud800"`, which
//! JavaScript's `JSON.stringify` writes and serde_json refuses) come back
//! exactly as the Worker returned them.

/// Why a text is not one JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    what: &'static str,
    offset: usize,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

/// What the checker expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (after `[`, `,` in an array, `:`, or at the start).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrEnd,
    /// A key or `}` (just after `{`).
    KeyOrEnd,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the end of the innermost container, or of the text.
    Next,
}

/// `text` as one JSON value (RFC 8259) without insignificant whitespace;
/// strings, numbers and escapes are copied unchanged. Iterative: any depth.
///
/// # Errors
///
/// What is wrong and where.
pub fn compact(text: &str) -> Result<String, JsonError> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut open: Vec<u8> = Vec::new();
    let mut expect = Expect::Value;
    let mut pos = 0;
    loop {
        while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            pos += 1;
        }
        let error = |what| JsonError { what, offset: pos };
        let Some(&b) = bytes.get(pos) else {
            return if expect == Expect::Next && open.is_empty() {
                Ok(out)
            } else {
                Err(error("unexpected end"))
            };
        };
        if expect == Expect::Next && open.is_empty() {
            return Err(error("text after the value"));
        }
        match (expect, b) {
            (Expect::Next, b',') => {
                expect = if open.last() == Some(&b'{') {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            (Expect::Next | Expect::ValueOrEnd, b']') | (Expect::Next | Expect::KeyOrEnd, b'}') => {
                let opener = if b == b']' { b'[' } else { b'{' };
                if open.pop() != Some(opener) {
                    return Err(error("mismatched bracket"));
                }
                expect = Expect::Next;
            }
            (Expect::Colon, b':') => expect = Expect::Value,
            (Expect::Key | Expect::KeyOrEnd, b'"') => {
                let end = string_end(bytes, pos).ok_or_else(|| error("invalid string"))?;
                out.push_str(&text[pos..end]);
                pos = end;
                expect = Expect::Colon;
                continue;
            }
            (Expect::Value | Expect::ValueOrEnd, b'[' | b'{') => {
                open.push(b);
                expect = if b == b'[' {
                    Expect::ValueOrEnd
                } else {
                    Expect::KeyOrEnd
                };
            }
            (Expect::Value | Expect::ValueOrEnd, _) => {
                let end = scalar_end(bytes, pos).ok_or_else(|| error("invalid value"))?;
                out.push_str(&text[pos..end]);
                pos = end;
                expect = Expect::Next;
                continue;
            }
            _ => return Err(error("unexpected character")),
        }
        out.push(char::from(b));
        pos += 1;
    }
}

/// The end of the string, number or literal starting at `start`.
fn scalar_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes[start] {
        b'"' => string_end(bytes, start),
        b'-' | b'0'..=b'9' => number_end(bytes, start),
        _ => ["true", "false", "null"]
            .iter()
            .find(|word| bytes[start..].starts_with(word.as_bytes()))
            .map(|word| start + word.len()),
    }
}

/// The end (after the closing quote) of the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start + 1;
    loop {
        match *bytes.get(pos)? {
            b'"' => return Some(pos + 1),
            b'\\' => match *bytes.get(pos + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                b'u' => {
                    let hex = bytes.get(pos + 2..pos + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    pos += 6;
                }
                _ => return None,
            },
            0x00..=0x1F => return None,
            _ => pos += 1,
        }
    }
}

/// The end of the number starting at `start`:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits = |from: usize| {
        let count = bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        (count > 0).then_some(from + count)
    };
    let mut pos = start + usize::from(bytes[start] == b'-');
    pos = if bytes.get(pos) == Some(&b'0') {
        pos + 1
    } else {
        digits(pos)?
    };
    if bytes.get(pos) == Some(&b'.') {
        pos = digits(pos + 1)?;
    }
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(bytes.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        pos = digits(pos)?;
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn json_values_are_checked_and_compacted() {
        for (text, compacted) in [
            ("1", "1"),
            (" [1, \"a\" , {\"b\" : null}] ", "[1,\"a\",{\"b\":null}]"),
            ("\"\\ud800\"", "\"\\ud800\""),
            ("{}", "{}"),
            ("[]", "[]"),
            ("-0.5e+10", "-0.5e+10"),
            ("\"a b\\n\\u00e9\"", "\"a b\\n\\u00e9\""),
        ] {
            assert_eq!(compact(text).as_deref(), Ok(compacted), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(compact(&deep).map(|t| t.len()), Ok(200_000));
        for bad in [
            "",
            "[",
            "]",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "{1:2}",
            "01",
            "1.",
            ".5",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "tru",
            "1 2",
            "[1}",
            "{]",
            "\"\u{1}\"",
            "nul",
            "+1",
            "[,1]",
        ] {
            assert!(compact(bad).is_err(), "{bad:?}");
        }
    }
}
