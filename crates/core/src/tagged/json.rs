//! JSON, as earlier releases stored Olm pickles, converted to tagged values.

use zeroize::Zeroizing;

use super::{
    fill_count, put_unsigned, reserve_count, TaggedError, FALSE, MAP, MAX_DEPTH, NEGATIVE, NULL,
    SEQUENCE, STRING, TRUE,
};

/// The tagged bytes of one JSON value (RFC 8259) whose numbers are all integers of 64
/// bits; the output is wiped on drop, as it holds whatever secrets the JSON held.
pub fn from_json(json: &[u8]) -> Result<Zeroizing<Vec<u8>>, TaggedError> {
    let mut out = Zeroizing::new(Vec::with_capacity(json.len()));
    let mut converter = Converter {
        json,
        at: 0,
        out: &mut out,
    };
    converter.value(0)?;
    converter.skip_space();
    if converter.at != json.len() {
        return Err(TaggedError::TrailingBytes);
    }
    Ok(out)
}

struct Converter<'a> {
    json: &'a [u8],
    at: usize,
    out: &'a mut Vec<u8>,
}

impl Converter<'_> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, TaggedError> {
        let byte = self.peek().ok_or(TaggedError::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), TaggedError> {
        self.skip_space();
        let at = self.at;
        if self.next()? == byte {
            Ok(())
        } else {
            Err(TaggedError::Malformed(at))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), TaggedError> {
        if depth == MAX_DEPTH {
            return Err(TaggedError::TooDeep);
        }
        self.skip_space();
        let at = self.at;
        match self.peek().ok_or(TaggedError::Truncated)? {
            b'{' => self.members(MAP, b'}', depth),
            b'[' => self.members(SEQUENCE, b']', depth),
            b'"' => self.string(),
            b't' => self.literal(b"true", TRUE),
            b'f' => self.literal(b"false", FALSE),
            b'n' => self.literal(b"null", NULL),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => Err(TaggedError::Malformed(at)),
        }
    }

    /// An object's members or an array's elements, up to `close`.
    fn members(&mut self, tag: u8, close: u8, depth: usize) -> Result<(), TaggedError> {
        self.at += 1;
        let count_at = reserve_count(self.out, tag);
        let mut count = 0;
        self.skip_space();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                if tag == MAP {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        return Err(TaggedError::Malformed(self.at));
                    }
                    self.string()?;
                    self.expect(b':')?;
                }
                self.value(depth + 1)?;
                count += 1;
                self.skip_space();
                let at = self.at;
                match self.next()? {
                    b',' => continue,
                    byte if byte == close => break,
                    _ => return Err(TaggedError::Malformed(at)),
                }
            }
        }
        fill_count(self.out, count_at, count)
    }

    fn literal(&mut self, word: &[u8], tag: u8) -> Result<(), TaggedError> {
        let end = self.at + word.len();
        if self.json.get(self.at..end) != Some(word) {
            return Err(TaggedError::Malformed(self.at));
        }
        self.at = end;
        self.out.push(tag);
        Ok(())
    }

    fn integer(&mut self) -> Result<(), TaggedError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or(TaggedError::NotAnInteger)?;
            self.at += 1;
        }
        if self.at == start {
            return Err(TaggedError::Malformed(start));
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(TaggedError::NotAnInteger);
        }
        match (negative, value) {
            (false, value) | (true, value @ 0) => put_unsigned(self.out, value),
            (true, magnitude) if magnitude <= 1 << 63 => {
                self.out.push(NEGATIVE);
                self.out.extend_from_slice(&(magnitude - 1).to_be_bytes());
            }
            _ => return Err(TaggedError::NotAnInteger),
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), TaggedError> {
        self.at += 1;
        let count_at = reserve_count(self.out, STRING);
        let start = self.out.len();
        loop {
            let at = self.at;
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = self.escape()?;
                    self.out
                        .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                byte if byte < 0x20 => return Err(TaggedError::Malformed(at)),
                byte => self.out.push(byte),
            }
        }
        let len = self.out.len() - start;
        if std::str::from_utf8(self.out.get(start..).unwrap_or_default()).is_err() {
            return Err(TaggedError::Malformed(self.at));
        }
        fill_count(self.out, count_at, len)
    }

    fn escape(&mut self) -> Result<char, TaggedError> {
        let at = self.at;
        Ok(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&first) {
                    if self.next()? != b'\\' || self.next()? != b'u' {
                        return Err(TaggedError::Malformed(at));
                    }
                    let second = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&second) {
                        return Err(TaggedError::Malformed(at));
                    }
                    0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                } else {
                    first
                };
                char::from_u32(code).ok_or(TaggedError::Malformed(at))?
            }
            _ => return Err(TaggedError::Malformed(at)),
        })
    }

    fn hex4(&mut self) -> Result<u32, TaggedError> {
        let at = self.at;
        let digits = self.json.get(at..at + 4).ok_or(TaggedError::Truncated)?;
        self.at += 4;
        digits.iter().try_fold(0, |code, digit| {
            let value = char::from(*digit).to_digit(16);
            value
                .map(|value| code << 4 | value)
                .ok_or(TaggedError::Malformed(at))
        })
    }
}
