//! Parses a request body as JSON, refusing what a plain parser would accept
//! silently but a security decision must not: duplicate keys (different
//! parsers keep different ones), nesting deeper than the limit (stack and
//! time on every later pass), and integers that do not fit in 64 bits (they
//! would be rounded, so not passed through as sent). Errors name the problem,
//! the line and the column.

use std::borrow::Cow;
use std::collections::HashSet;

/// Deepest nesting of objects and arrays accepted by default. Login requests
/// nest five or six levels; metadata rarely more than a dozen.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The deepest nesting accepted at all: below the JSON parser's own
/// recursion limit, so that the limit is always reported by this module.
pub const MAX_DEPTH_LIMIT: usize = 100;

/// A body that is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at line {line} column {column}")]
pub struct BadJson {
    /// What is wrong.
    pub problem: String,
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column.
    pub column: usize,
}

/// Parses `bytes` as one JSON document nested at most `max_depth` deep.
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<serde_json::Value, BadJson> {
    Guard {
        bytes,
        max_depth: max_depth.min(MAX_DEPTH_LIMIT),
        at: 0,
        stack: Vec::new(),
    }
    .run()?;
    serde_json::from_slice(bytes).map_err(|error| {
        let message = error.to_string();
        let problem = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        BadJson {
            problem,
            line: error.line(),
            // The parser says column 0 for an error before the first byte.
            column: error.column().max(1),
        }
    })
}

/// An open object (the keys seen so far, and whether a key comes next) or
/// array.
enum Open<'a> {
    Object { keys: KeySet<'a>, key_next: bool },
    Array,
}

/// Objects with at most this many keys are checked for duplicates by a
/// linear scan, which beats hashing at the sizes login requests have.
const FEW_KEYS: usize = 16;

/// The decoded keys of one object: a key without escapes is its raw bytes,
/// borrowed from the body.
enum KeySet<'a> {
    Few(Vec<Cow<'a, [u8]>>),
    Many(HashSet<Cow<'a, [u8]>>),
}

impl<'a> KeySet<'a> {
    /// Adds `key`, or hands it back when it is already there.
    fn insert(&mut self, key: Cow<'a, [u8]>) -> Result<(), Cow<'a, [u8]>> {
        let present = match self {
            KeySet::Few(keys) => keys.contains(&key),
            KeySet::Many(keys) => keys.contains(&key),
        };
        if present {
            return Err(key);
        }
        match self {
            KeySet::Few(keys) if keys.len() < FEW_KEYS => keys.push(key),
            KeySet::Few(keys) => {
                let mut many: HashSet<_> = keys.drain(..).collect();
                many.insert(key);
                *self = KeySet::Many(many);
            }
            KeySet::Many(keys) => {
                keys.insert(key);
            }
        }
        Ok(())
    }
}

/// A scan over the bytes for the three problems above. It assumes nothing
/// about validity: on anything malformed it stops and leaves the error to
/// the parser, which reports syntax precisely.
struct Guard<'a> {
    bytes: &'a [u8],
    max_depth: usize,
    at: usize,
    stack: Vec<Open<'a>>,
}

impl<'a> Guard<'a> {
    fn run(&mut self) -> Result<(), BadJson> {
        while let Some(&byte) = self.bytes.get(self.at) {
            match byte {
                b'{' | b'[' => {
                    if self.stack.len() == self.max_depth {
                        return Err(
                            self.error(format!("nesting deeper than {} levels", self.max_depth))
                        );
                    }
                    self.stack.push(if byte == b'{' {
                        Open::Object {
                            keys: KeySet::Few(Vec::new()),
                            key_next: true,
                        }
                    } else {
                        Open::Array
                    });
                    self.at += 1;
                }
                b'}' | b']' => {
                    self.stack.pop();
                    self.at += 1;
                }
                b',' => {
                    if let Some(Open::Object { key_next, .. }) = self.stack.last_mut() {
                        *key_next = true;
                    }
                    self.at += 1;
                }
                b'"' => {
                    let start = self.at;
                    let Some(end) = self.string_end() else {
                        return Ok(());
                    };
                    self.check_key(start, end)?;
                    self.at = end;
                }
                b'-' | b'0'..=b'9' => self.check_number()?,
                _ => self.at += 1,
            }
        }
        Ok(())
    }

    /// The offset just past the string starting at `self.at`, if it ends.
    fn string_end(&self) -> Option<usize> {
        let mut at = self.at + 1;
        loop {
            match self.bytes.get(at)? {
                b'"' => return Some(at + 1),
                b'\\' => at += 2,
                _ => at += 1,
            }
        }
    }

    /// Records the string at `start..end` if it is an object key, refusing a
    /// key seen before in the same object.
    fn check_key(&mut self, start: usize, end: usize) -> Result<(), BadJson> {
        let Some(Open::Object { keys, key_next }) = self.stack.last_mut() else {
            return Ok(());
        };
        if !*key_next {
            return Ok(());
        }
        *key_next = false;
        let quoted = &self.bytes[start..end];
        let key = if quoted.contains(&b'\\') {
            match serde_json::from_slice::<String>(quoted) {
                Ok(decoded) => Cow::Owned(decoded.into_bytes()),
                Err(_) => return Ok(()),
            }
        } else {
            Cow::Borrowed(&quoted[1..quoted.len() - 1])
        };
        if let Err(key) = keys.insert(key) {
            self.at = start;
            return Err(self.error(format!("duplicate key {}", shown_key(&key))));
        }
        Ok(())
    }

    /// Refuses an integer literal that fits neither `i64` nor `u64`. Only a
    /// well-formed integer (`-` then digits, not followed by a fraction or
    /// exponent) is judged; anything else is left to the parser.
    fn check_number(&mut self) -> Result<(), BadJson> {
        let start = self.at;
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        let digits_start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        let is_integer = self.at > digits_start
            && !matches!(
                self.bytes.get(self.at),
                Some(b'.' | b'e' | b'E' | b'-' | b'+')
            );
        if !is_integer {
            // Skip the rest of the literal, so that its fraction or exponent
            // is not judged as an integer of its own.
            while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes.get(self.at)
            {
                self.at += 1;
            }
            return Ok(());
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
        if text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
            self.at = start;
            return Err(self.error(format!("integer {text} does not fit in 64 bits")));
        }
        Ok(())
    }

    fn error(&self, problem: String) -> BadJson {
        let before = &self.bytes[..self.at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        BadJson {
            problem,
            line,
            column: self.at - line_start + 1,
        }
    }
}

/// Longest part of a key quoted in an error.
const SHOWN_KEY_CHARS: usize = 64;

/// `key` quoted for an error message, cut short when long.
fn shown_key(key: &[u8]) -> String {
    let key = String::from_utf8_lossy(key);
    if key.chars().count() <= SHOWN_KEY_CHARS {
        return format!("{key:?}");
    }
    let start: String = key.chars().take(SHOWN_KEY_CHARS).collect();
    format!(
        "{start:?} (cut at {SHOWN_KEY_CHARS} of {} characters)",
        key.chars().count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> BadJson {
        parse(text.as_bytes(), DEFAULT_MAX_DEPTH).unwrap_err()
    }

    #[test]
    fn accepts_ordinary_json_with_large_but_64_bit_numbers() {
        let value = parse(
            br#"{"a": [1, -9223372036854775808, 18446744073709551615, 1.5e300, "x\"y"]}"#,
            8,
        )
        .unwrap();
        assert_eq!(value["a"][2], serde_json::json!(18446744073709551615u64));
    }

    #[test]
    fn refuses_duplicate_keys_naming_them() {
        let error = problem("{\"user\": {\"user_id\": \"a\",\n \"user_id\": \"b\"}}");
        assert_eq!(error.problem, "duplicate key \"user_id\"");
        assert_eq!((error.line, error.column), (2, 2));
        assert!(
            problem(r#"{"a": 1, "\u0061": 2}"#)
                .problem
                .contains("duplicate"),
            "escapes are compared decoded"
        );
    }

    #[test]
    fn finds_duplicates_in_objects_with_many_keys() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let distinct = format!("{{{}}}", keys.join(", "));
        assert!(parse(distinct.as_bytes(), 8).is_ok());
        let repeated = format!("{{{}, \"k\\u0033\": 0}}", keys.join(", "));
        assert_eq!(problem(&repeated).problem, "duplicate key \"k3\"");
    }

    #[test]
    fn the_same_key_in_sibling_objects_is_fine() {
        assert!(parse(br#"[{"a": {"a": 1}}, {"a": 2}]"#, 8).is_ok());
    }

    #[test]
    fn refuses_nesting_past_the_limit() {
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert_eq!(problem(&deep).problem, "nesting deeper than 64 levels");
        let fine = "[".repeat(64) + &"]".repeat(64);
        assert!(parse(fine.as_bytes(), DEFAULT_MAX_DEPTH).is_ok());
    }

    #[test]
    fn refuses_integers_beyond_64_bits() {
        assert!(
            problem(r#"{"n": 18446744073709551616}"#)
                .problem
                .contains("does not fit in 64 bits")
        );
        assert!(
            problem(r#"{"n": -9223372036854775809}"#)
                .problem
                .contains("64 bits")
        );
        assert!(
            parse(br#"{"n": 1.5e99999999999999999999}"#, 8)
                .is_err_and(|e| !e.problem.contains("64 bits"))
        );
        assert!(parse(br#"[1e-99999999999999999999]"#, 8).is_ok());
    }

    #[test]
    fn malformed_numbers_are_syntax_errors() {
        for text in [r#"{"n": [1-2]}"#, r#"{"n": --1}"#, r#"{"n": -}"#] {
            let error = problem(text);
            assert!(!error.problem.contains("64 bits"), "{text}: {error}");
        }
    }

    #[test]
    fn long_duplicate_keys_are_cut_short_in_the_error() {
        let key = "k".repeat(10_000);
        let error = problem(&format!(r#"{{"{key}": 1, "{key}": 2}}"#));
        assert!(error.problem.len() < 200, "{}", error.problem);
        assert!(error.problem.contains("cut at 64 of 10000 characters"));
    }

    #[test]
    fn an_empty_body_is_reported_at_column_1() {
        assert_eq!(problem("").column, 1);
    }

    #[test]
    fn reports_syntax_errors_and_bad_escapes_with_their_position() {
        let error = problem("{\n  \"a\": \"\\x\"\n}");
        assert_eq!(error.line, 2);
        assert!(error.problem.contains("escape"), "{error}");
        assert!(problem("").problem.contains("EOF"));
        assert!(problem("{\"a\" 1}").problem.contains("expected"));
    }

    #[test]
    fn malformed_input_never_panics() {
        for text in [
            "\"",
            "\"\\",
            "{\"",
            "-",
            "[-",
            "}}}",
            "{\"a\":1,",
            "\u{fffd}",
            "1e",
            "--1",
        ] {
            let _ = parse(text.as_bytes(), 4);
        }
    }
}
