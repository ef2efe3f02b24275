//! A hand-made HTTP/2 GET, for request heads no client library sends: `http::Uri` holds at most
//! 64 KiB, and curl (nghttp2) and Go refuse to send a head over the server's
//! SETTINGS_MAX_HEADER_LIST_SIZE. Tests use it to see what a server answers a client that sends
//! one anyway: a status, or a reset stream or connection.
//!
//! The head is HPACK without Huffman coding or indexing (RFC 7541 6.2.2), split into frames of
//! `frame_bytes`.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response HEADERS frame on the stream, with its `:status` (0 if it could not be read).
    Status(u16),
    /// RST_STREAM on the stream, with its error code.
    StreamReset(u32),
    /// GOAWAY, with its error code: the whole connection is gone.
    GoAway(u32),
    /// The connection closed (or went silent for 10 s) without any of the above.
    Closed,
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with a `prefix`-bit prefix (RFC 7541 5.1), first byte or-ed with `high`.
fn integer(out: &mut Vec<u8>, high: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(high | value as u8);
        return;
    }
    out.push(high | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A literal field without indexing, its name from the static table (RFC 7541 6.2.2).
fn literal(out: &mut Vec<u8>, name_index: usize, value: &[u8]) {
    integer(out, 0x00, 4, name_index);
    integer(out, 0x00, 7, value.len());
    out.extend_from_slice(value);
}

/// A literal field without indexing with a new name.
fn literal_named(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    integer(out, 0x00, 7, name.len());
    out.extend_from_slice(name);
    integer(out, 0x00, 7, value.len());
    out.extend_from_slice(value);
}

/// The `:status` of a response header block: an indexed field of the static table, or a literal
/// (raw or Huffman-coded digits).
fn status(block: &[u8]) -> u16 {
    match block.first() {
        Some(0x88) => return 200,
        Some(0x89) => return 204,
        Some(0x8a) => return 206,
        Some(0x8b) => return 304,
        Some(0x8c) => return 400,
        Some(0x8d) => return 404,
        Some(0x8e) => return 500,
        _ => {}
    }
    // A literal whose name is `:status` (static index 8..=14), with or without indexing.
    let (Some(&first), Some(&len)) = (block.first(), block.get(1)) else {
        return 0;
    };
    if !matches!(first & 0x3f, 8..=14) && !matches!(first & 0x0f, 8..=14) {
        return 0;
    }
    let bytes = block
        .get(2..2 + usize::from(len & 0x7f))
        .unwrap_or_default();
    let digits = if len & 0x80 == 0 {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        huffman_digits(bytes)
    };
    digits.parse().unwrap_or(0)
}

/// Decodes Huffman-coded digits (RFC 7541 appendix B: '0'-'2' are 5 bits, '3'-'9' 6 bits).
fn huffman_digits(bytes: &[u8]) -> String {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut at = 0;
    let read = |from: usize, n: usize| -> Option<u32> {
        bits.get(from..from + n)
            .map(|s| s.iter().fold(0u32, |acc, b| acc << 1 | u32::from(*b)))
    };
    while let Some(five) = read(at, 5) {
        if five <= 2 {
            out.push(char::from(b'0' + five as u8));
            at += 5;
            continue;
        }
        match read(at, 6) {
            Some(six @ 0x19..=0x1f) => {
                out.push(char::from(b'3' + (six - 0x19) as u8));
                at += 6;
            }
            _ => break,
        }
    }
    out
}

async fn read_frame<S: AsyncRead + Unpin>(io: &mut S) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    io.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], stream, payload))
}

/// Sends one GET of `path` to `authority` (plus `headers`) on stream 1 of a fresh HTTP/2
/// connection `io` (TLS with ALPN h2, or h2c with prior knowledge), the head split into frames of
/// `frame_bytes`, and reports how the server answered.
pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    scheme: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    frame_bytes: usize,
) -> std::io::Result<Outcome> {
    let mut block = vec![0x82]; // :method GET
    literal(&mut block, 6, scheme.as_bytes()); // :scheme
    literal(&mut block, 1, authority.as_bytes()); // :authority
    literal(&mut block, 4, path.as_bytes()); // :path
    for (name, value) in headers {
        literal_named(&mut block, name.as_bytes(), value.as_bytes());
    }
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    let chunks: Vec<&[u8]> = block.chunks(frame_bytes.max(1)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let (kind, mut flags) = if i == 0 {
            (HEADERS, END_STREAM)
        } else {
            (CONTINUATION, 0)
        };
        if last {
            flags |= END_HEADERS;
        }
        out.extend(frame(kind, flags, 1, chunk));
    }
    io.write_all(&out).await?;
    io.flush().await?;
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some((kind, flags, stream, payload)) = read_frame(&mut io).await {
            match kind {
                SETTINGS if flags & 0x1 == 0 => {
                    let _ = io.write_all(&frame(SETTINGS, 0x1, 0, &[])).await;
                }
                HEADERS if stream == 1 => return Outcome::Status(status(&payload)),
                RST_STREAM if stream == 1 => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |c| u32::from_be_bytes(c.try_into().unwrap_or_default()));
                    return Outcome::StreamReset(code);
                }
                GOAWAY => {
                    let code = payload
                        .get(4..8)
                        .map_or(0, |c| u32::from_be_bytes(c.try_into().unwrap_or_default()));
                    return Outcome::GoAway(code);
                }
                _ => {}
            }
        }
        Outcome::Closed
    })
    .await
    .unwrap_or(Outcome::Closed);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_statuses() {
        let mut out = Vec::new();
        integer(&mut out, 0, 7, 10);
        integer(&mut out, 0, 7, 1337);
        assert_eq!(out, [10, 127, 0xba, 0x09]);
        assert_eq!(status(&[0x8d]), 404);
        assert_eq!(status(b"\x48\x03431"), 431);
        assert_eq!(status(&[0x48, 0x83, 0x69, 0x90, 0xff]), 431);
        assert_eq!(status(&[0x08, 0x83, 0x68, 0x2d, 0x7f]), 414);
    }
}
