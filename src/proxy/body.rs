//! Where a message body ends (RFC 9112 section 6): `Content-Length`, the chunked coding, or
//! the close. Bodies pass through as they are; the chunked framing is scanned so the next
//! message is found, and taken off for an HTTP/1.0 client, which cannot read it.

use super::http::HeadError;

/// Where a body ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: the scanner finds its end.
    Chunked(Chunked),
    /// Until the sender closes.
    UntilClose,
}

impl Body {
    /// Of the next bytes `data`, how many belong to the body, and whether it ends with them.
    pub fn scan(&mut self, data: &[u8]) -> Result<(usize, bool), HeadError> {
        self.feed(data, None)
    }

    /// The same, with the body's content appended to `out`: the bytes themselves, or a
    /// chunked body's data without its framing (sizes, extensions, trailers).
    pub fn decode(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), HeadError> {
        self.feed(data, Some(out))
    }

    fn feed(&mut self, data: &[u8], out: Option<&mut Vec<u8>>) -> Result<(usize, bool), HeadError> {
        let (n, done) = match self {
            Body::Length(left) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                (n as usize, *left == 0)
            }
            Body::Chunked(c) => return c.feed(data, out),
            Body::UntilClose => (data.len(), false),
        };
        if let Some(out) = out {
            out.extend_from_slice(&data[..n]);
        }
        Ok((n, done))
    }

    /// Whether the body has ended.
    pub fn done(&self) -> bool {
        match self {
            Body::Length(n) => *n == 0,
            Body::Chunked(c) => c.state == Chunk::Done,
            Body::UntilClose => false,
        }
    }
}

/// The chunked framing's state, fed bytes in pieces of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: Chunk,
    /// Bytes of the current line (size, extension or trailer), against a cap.
    line: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: Chunk::Size(0, false),
            line: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Size digits: the value so far, and whether there was a digit.
    Size(u64, bool),
    /// After the size, up to CR: an extension.
    Ext(u64),
    /// The LF of the size line.
    SizeLf(u64),
    /// Data bytes left.
    Data(u64),
    /// CR, then LF, after the data.
    DataCr,
    DataLf,
    /// At the start of a trailer line or the last empty line.
    LineStart,
    /// In a trailer line, then its LF.
    Trailer,
    TrailerLf,
    /// The LF of the last line.
    EndLf,
    /// Ended.
    Done,
}

/// The longest size, extension or trailer line.
const MAX_LINE: usize = 8192;

/// The largest chunk size that may take another digit: a size past 64 bits is refused
/// rather than overflowing (RFC 9112 section 7.1), and leading zeros cost nothing.
const MAX_SIZE_BEFORE_DIGIT: u64 = u64::MAX >> 4;

impl Chunked {
    fn feed(&mut self, data: &[u8], mut out: Option<&mut Vec<u8>>) -> Result<(usize, bool), HeadError> {
        const BAD: HeadError = HeadError::Malformed("has broken chunked framing");
        let mut i = 0;
        while i < data.len() {
            if let Chunk::Data(left) = self.state {
                let n = left.min((data.len() - i) as u64) as usize;
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(&data[i..i + n]);
                }
                i += n;
                self.state = if n as u64 == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - n as u64)
                };
                continue;
            }
            if self.state == Chunk::Done {
                break;
            }
            let b = data[i];
            i += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(BAD);
            }
            self.state = match (self.state, b) {
                (Chunk::Size(v, _), _) if b.is_ascii_hexdigit() => {
                    if v > MAX_SIZE_BEFORE_DIGIT {
                        return Err(HeadError::Malformed("has a chunk size past 64 bits"));
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    Chunk::Size(v << 4 | d, true)
                }
                (Chunk::Size(_, false), _) => return Err(BAD),
                (Chunk::Size(v, true), b'\r') | (Chunk::Ext(v), b'\r') => Chunk::SizeLf(v),
                (Chunk::Size(v, true), b';' | b' ' | b'\t') => Chunk::Ext(v),
                (Chunk::Ext(_), b'\n') => return Err(BAD),
                (Chunk::Ext(v), _) => Chunk::Ext(v),
                (Chunk::SizeLf(v), b'\n') => {
                    self.line = 0;
                    if v == 0 { Chunk::LineStart } else { Chunk::Data(v) }
                }
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => {
                    self.line = 0;
                    Chunk::Size(0, false)
                }
                (Chunk::LineStart, b'\r') => Chunk::EndLf,
                (Chunk::LineStart, b'\n') => return Err(BAD),
                (Chunk::LineStart, _) | (Chunk::Trailer, _) if b != b'\r' => Chunk::Trailer,
                (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
                (Chunk::TrailerLf, b'\n') => {
                    self.line = 0;
                    Chunk::LineStart
                }
                (Chunk::EndLf, b'\n') => Chunk::Done,
                _ => return Err(BAD),
            };
        }
        Ok((i, self.state == Chunk::Done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: a\r\n\r\nNEXT";

    #[test]
    fn chunked_bodies_end_where_they_end_fed_in_any_pieces() {
        for step in 1..BODY.len() {
            let mut b = Body::Chunked(Chunked::default());
            let (mut used, mut done, mut data) = (0, false, Vec::new());
            for piece in BODY.chunks(step) {
                if done {
                    break;
                }
                let (n, d) = b.decode(piece, &mut data).expect("valid");
                used += n;
                done = d;
            }
            assert!(done, "step {step}");
            assert_eq!(used, BODY.len() - 4, "step {step}");
            assert_eq!(data, b"Wikipedia", "step {step}: the data without its framing");
        }
        let mut b = Body::Chunked(Chunked::default());
        assert!(b.scan(b"zz\r\n").is_err());
    }

    #[test]
    fn a_chunk_size_past_64_bits_is_refused_and_leading_zeros_are_not() {
        for (size, ok) in [
            ("11111111111111111111", false),
            ("10000000000000000", false),
            ("ffffffffffffffff", true),
            ("00000000000000000000001", true),
        ] {
            let mut b = Body::Chunked(Chunked::default());
            let got = b.scan(format!("{size}\r\n").as_bytes());
            assert_eq!(got.is_ok(), ok, "{size}: {got:?}");
        }
        let mut b = Body::Chunked(Chunked::default());
        assert_eq!(b.scan(b"0000\r\n\r\n"), Ok((8, true)));
    }

    #[test]
    fn lengths_and_closes_pass_through_whole() {
        let mut out = Vec::new();
        let mut b = Body::Length(3);
        assert_eq!(b.decode(b"abcdef", &mut out), Ok((3, true)));
        assert_eq!(out, b"abc");
        let mut b = Body::UntilClose;
        assert_eq!(b.scan(b"abcdef"), Ok((6, false)));
    }
}
