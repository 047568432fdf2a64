//! The request body decoders, length-delimited and chunked (RFC 9112 §6, §7): sans-IO, bytes
//! in, body bytes out, so the connection feeds them whatever has arrived and they are tested
//! without sockets, byte by byte.

use http::HeaderMap;

use crate::error::{self, Reject};
use crate::grammar;

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Decodes a request body from the bytes after the head.
#[derive(Debug)]
pub(crate) enum Decoder {
    Length { remaining: u64 },
    Chunked(Chunked),
}

/// Progress of a decode call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Input bytes used.
    pub(crate) consumed: usize,
    /// The body is complete.
    pub(crate) done: bool,
}

impl Decoder {
    pub(crate) fn new(framing: Framing, max_meta: usize) -> Decoder {
        match framing {
            Framing::Empty => Decoder::Length { remaining: 0 },
            Framing::Length(n) => Decoder::Length { remaining: n },
            Framing::Chunked => Decoder::Chunked(Chunked {
                state: ChunkState::Size,
                meta_left: max_meta,
                trailers: HeaderMap::new(),
            }),
        }
    }

    /// Moves body bytes from `input` to `out`, refusing bodies over `max_body` in total.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<Progress, Reject> {
        match self {
            Decoder::Length { remaining } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if out.len() + take > max_body {
                    return Err(error::BODY_TOO_LARGE);
                }
                out.extend_from_slice(&input[..take]);
                *remaining -= take as u64;
                Ok(Progress {
                    consumed: take,
                    done: *remaining == 0,
                })
            }
            Decoder::Chunked(c) => c.decode(input, out, max_body),
        }
    }

    /// The trailers of a finished chunked body.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        match self {
            Decoder::Chunked(c) if !c.trailers.is_empty() => Some(std::mem::take(&mut c.trailers)),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// Budget left for chunk extensions and trailers together.
    meta_left: usize,
    trailers: HeaderMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Expecting trailer lines or the final empty line.
    Trailers,
    Done,
}

impl Chunked {
    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<Progress, Reject> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            let used = match self.state {
                ChunkState::Done => None,
                ChunkState::Size => self.size_line(rest, out.len(), max_body)?,
                ChunkState::Data(left) => self.data(rest, left, out, max_body)?,
                ChunkState::DataEnd => self.data_end(rest)?,
                ChunkState::Trailers => self.trailer_line(rest)?,
            };
            match used {
                Some(n) => pos += n,
                None => {
                    return Ok(Progress {
                        consumed: pos,
                        done: self.state == ChunkState::Done,
                    })
                }
            }
        }
    }

    /// A chunk-size line: `1*HEXDIG [ chunk-ext ] CRLF`. `Some(bytes used)`, or `None` until
    /// the line is complete.
    fn size_line(
        &mut self,
        rest: &[u8],
        body_len: usize,
        max_body: usize,
    ) -> Result<Option<usize>, Reject> {
        let Some(line) = self.line(rest)? else {
            return Ok(None);
        };
        // Whitespace right after the size, a bare `;` or a bad extension token is an error.
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let (size, ext) = line.split_at(digits);
        let significant = size.iter().skip_while(|&&b| b == b'0').count();
        if size.is_empty() || significant > 16 {
            return Err(Reject::bad("invalid chunk size"));
        }
        if !grammar::is_chunk_ext(ext) {
            return Err(Reject::bad("invalid chunk extension"));
        }
        self.spend(ext.len(), Reject::bad("chunk extensions too long"))?;
        let size = u64::from_str_radix(std::str::from_utf8(size).expect("hex digits"), 16)
            .map_err(|_| Reject::bad("invalid chunk size"))?;
        if (body_len as u64).saturating_add(size) > max_body as u64 {
            return Err(error::BODY_TOO_LARGE);
        }
        self.state = if size == 0 {
            ChunkState::Trailers
        } else {
            ChunkState::Data(size)
        };
        Ok(Some(line.len() + 2))
    }

    /// Chunk data, as much as has arrived.
    fn data(
        &mut self,
        rest: &[u8],
        left: u64,
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<Option<usize>, Reject> {
        if rest.is_empty() {
            return Ok(None);
        }
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
        if out.len() + take > max_body {
            return Err(error::BODY_TOO_LARGE);
        }
        out.extend_from_slice(&rest[..take]);
        let left = left - take as u64;
        self.state = if left == 0 {
            ChunkState::DataEnd
        } else {
            ChunkState::Data(left)
        };
        Ok(Some(take))
    }

    /// The CRLF after chunk data.
    fn data_end(&mut self, rest: &[u8]) -> Result<Option<usize>, Reject> {
        if rest.len() < 2 {
            if rest.first().is_some_and(|&b| b != b'\r') {
                return Err(Reject::bad("chunk data not followed by CRLF"));
            }
            return Ok(None);
        }
        if &rest[..2] != b"\r\n" {
            return Err(Reject::bad("chunk data not followed by CRLF"));
        }
        self.state = ChunkState::Size;
        Ok(Some(2))
    }

    /// A trailer field line, or the empty line that ends the body.
    fn trailer_line(&mut self, rest: &[u8]) -> Result<Option<usize>, Reject> {
        let Some(line) = self.line(rest)? else {
            return Ok(None);
        };
        if line.is_empty() {
            self.state = ChunkState::Done;
            return Ok(Some(2));
        }
        self.spend(
            line.len(),
            Reject::new(
                http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "trailers too large",
            ),
        )?;
        let (name, value) = split_field(line).ok_or(Reject::bad("invalid trailer field"))?;
        self.trailers.append(name, value);
        Ok(Some(line.len() + 2))
    }

    /// The next CRLF-terminated line of `rest` (without the CRLF), `None` if incomplete. A bare
    /// LF is an error here (unlike in the head), as is a line longer than the metadata budget.
    fn line<'a>(&self, rest: &'a [u8]) -> Result<Option<&'a [u8]>, Reject> {
        match rest.iter().position(|&b| b == b'\n') {
            Some(0) => Err(Reject::bad("bare LF in chunked framing")),
            Some(i) if rest[i - 1] != b'\r' => Err(Reject::bad("bare LF in chunked framing")),
            Some(i) => {
                let line = &rest[..i - 1];
                if line.contains(&b'\r') {
                    return Err(Reject::bad("bare CR in chunked framing"));
                }
                Ok(Some(line))
            }
            // A size line is at most 16 hex digits plus extensions (within the budget).
            None if rest.len() > self.meta_left + 18 => Err(Reject::bad("chunk line too long")),
            None => Ok(None),
        }
    }

    fn spend(&mut self, n: usize, err: Reject) -> Result<(), Reject> {
        self.meta_left = self.meta_left.checked_sub(n).ok_or(err)?;
        Ok(())
    }
}

fn split_field(line: &[u8]) -> Option<(http::HeaderName, http::HeaderValue)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = http::HeaderName::from_bytes(&line[..colon]).ok()?;
    let value = http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(framing: Framing, input: &[u8]) -> Result<(Vec<u8>, usize, bool), Reject> {
        let mut d = Decoder::new(framing, 64);
        let mut out = Vec::new();
        let p = d.decode(input, &mut out, 100)?;
        Ok((out, p.consumed, p.done))
    }

    #[test]
    fn chunked_table() {
        type Row = (
            &'static str,
            &'static [u8],
            Result<(&'static [u8], usize, bool), u16>,
        );
        let rows: &[Row] = &[
            ("simple", b"3\r\nabc\r\n0\r\n\r\n", Ok((b"abc", 13, true))),
            ("two chunks", b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n", Ok((b"abc", 18, true))),
            ("uppercase hex", b"A\r\n0123456789\r\n0\r\n\r\n", Ok((b"0123456789", 20, true))),
            ("extension", b"3;x=y\r\nabc\r\n0\r\n\r\n", Ok((b"abc", 17, true))),
            ("trailers", b"1\r\na\r\n0\r\nX-T: v\r\n\r\n", Ok((b"a", 19, true))),
            ("pipelined rest untouched", b"1\r\na\r\n0\r\n\r\nGET", Ok((b"a", 11, true))),
            ("partial size", b"3", Ok((b"", 0, false))),
            ("partial data", b"3\r\nab", Ok((b"ab", 5, false))),
            ("partial crlf", b"3\r\nabc\r", Ok((b"abc", 6, false))),
            ("bare LF after size", b"3\nabc\r\n0\r\n\r\n", Err(400)),
            ("bare LF after data", b"3\r\nabc\n0\r\n\r\n", Err(400)),
            ("bare LF in trailer", b"0\r\nX: v\n\r\n", Err(400)),
            ("missing crlf after data", b"3\r\nabcd\r\n", Err(400)),
            ("not hex", b"g\r\n", Err(400)),
            ("negative", b"-1\r\n", Err(400)),
            ("empty size", b"\r\n", Err(400)),
            ("size overflow", b"11111111111111111\r\n", Err(400)),
            ("too large", b"65\r\n", Err(413)),
            ("ext over budget", b"1;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", Err(400)),
            ("trailer over budget", b"0\r\nX: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n", Err(431)),
            ("bad trailer", b"0\r\nnocolon\r\n\r\n", Err(400)),
            ("leading zeros", b"0000000000000000003\r\nabc\r\n0\r\n\r\n", Ok((b"abc", 31, true))),
            ("extension with BWS", b"3 ; a = \"b c\"\r\nabc\r\n0\r\n\r\n", Ok((b"abc", 25, true))),
            ("space after size", b"3 \r\nabc\r\n0\r\n\r\n", Err(400)),
            ("tab after size", b"3\t\r\nabc\r\n", Err(400)),
            ("bare semicolon", b"3;\r\nabc\r\n", Err(400)),
            ("extension name not a token", b"3;a@b\r\nabc\r\n", Err(400)),
            ("extension value missing", b"3;a=\r\nabc\r\n", Err(400)),
            ("space inside size", b"1 0\r\n", Err(400)),
            ("size prefix 0x", b"0x3\r\nabc\r\n", Err(400)),
            ("control in extension", b"3;a=\"\x01\"\r\nabc\r\n", Err(400)),
            ("obs-fold trailer", b"0\r\nA: 1\r\n b\r\n\r\n", Err(400)),
            ("trailer name with space", b"0\r\nA B: 1\r\n\r\n", Err(400)),
        ];
        for (name, input, want) in rows {
            let got = decode_all(Framing::Chunked, input).map_err(|r| r.status.as_u16());
            let got = got
                .as_ref()
                .map(|(o, c, d)| (o.as_slice(), *c, *d))
                .map_err(|s| *s);
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn chunked_body_over_the_limit_is_413() {
        let mut d = Decoder::new(Framing::Chunked, 64);
        let mut out = Vec::new();
        let input = format!("65\r\n{}\r\n0\r\n\r\n", "a".repeat(101));
        let err = d.decode(input.as_bytes(), &mut out, 100).unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
    }

    #[test]
    fn chunked_decodes_byte_by_byte() {
        let input = b"5;e\r\nhello\r\n6\r\n world\r\n0\r\nA: 1\r\nB: 2\r\n\r\n";
        let mut d = Decoder::new(Framing::Chunked, 64);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut done = false;
        for &b in input.iter() {
            buf.push(b);
            let p = d.decode(&buf, &mut out, 100).expect("valid");
            buf.drain(..p.consumed);
            done = p.done;
        }
        assert!(done);
        assert_eq!(out, b"hello world");
        let trailers = d.take_trailers().expect("trailers");
        assert_eq!(trailers["a"], "1");
        assert_eq!(trailers["b"], "2");
    }

    #[test]
    fn length_decoder() {
        assert_eq!(
            decode_all(Framing::Length(3), b"abcdef").unwrap(),
            (b"abc".to_vec(), 3, true)
        );
        assert_eq!(
            decode_all(Framing::Length(5), b"ab").unwrap(),
            (b"ab".to_vec(), 2, false)
        );
        assert_eq!(
            decode_all(Framing::Length(101), b"ab").unwrap(),
            (b"ab".to_vec(), 2, false)
        );
    }
}
