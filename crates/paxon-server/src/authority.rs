//! A lenient `:authority`, as etcd's gRPC server (grpc-go) has.
//!
//! Some of etcd's own clients send an HTTP/2 `:authority` that is no URI
//! authority: `etcdctl endpoint status --cluster` sends the member's
//! client URL (`http://127.0.0.1:2379`), clientv3 3.5.0 sent
//! `#initially=[…]`, and clientv3 before 3.5.10 with several endpoints sent
//! other such values (etcd issue 13192, pull requests 13359 and 16324).
//! grpc-go ignores the header; the `h2` crate under tonic refuses the
//! request with `PROTOCOL_ERROR`. [`Lenient`] sits between a client
//! connection and the server and rewrites the header before `h2` reads it:
//! `http://host:port` becomes `host:port`, anything else that is still no
//! authority is dropped (the header is optional).
//!
//! It reads the client's frames (RFC 9113 §4) and passes all but header
//! blocks through untouched. Each header block (a `HEADERS` frame and its
//! `CONTINUATION`s) is decoded with HPACK (RFC 7541) as the client encoded
//! it and encoded again for the server by an encoder of the connection's
//! own, so the server's dynamic table follows that encoder, never the
//! client's. A connection that does not start with the HTTP/2 preface
//! (HTTP/1.1: the status page, `/metrics`) passes through untouched, and so
//! does everything after a frame this module cannot make sense of: the
//! server then judges the bytes itself.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of a frame header.
const FRAME_HEADER_BYTES: usize = 9;
/// `SETTINGS_MAX_FRAME_SIZE`'s initial value: the largest frame a server
/// accepts unless it said otherwise (h2 keeps it).
const FRAME_BYTES_MAX: usize = 16_384;
/// The most a client may send in one frame before we stop rewriting (the
/// largest `SETTINGS_MAX_FRAME_SIZE` allowed).
const FRAME_BYTES_LIMIT: usize = (1 << 24) - 1;
/// A header block larger than this is passed through as it is.
const BLOCK_BYTES_MAX: usize = 1 << 20;

const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// A client connection whose HTTP/2 `:authority` headers are made
/// acceptable; writes go straight through.
pub struct Lenient<IO> {
    inner: IO,
    mode: Mode,
    /// Bytes read from the client, not yet looked at.
    input: BytesMut,
    /// Bytes ready for the server.
    output: BytesMut,
    /// A header block being gathered: its stream, flags and priority
    /// fields from the `HEADERS` frame, and the fragments so far.
    block: Option<Block>,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    eof: bool,
}

enum Mode {
    /// Reading the preface; the bytes matched so far are in `input`.
    Preface,
    /// HTTP/2 frames, header blocks rewritten.
    Frames,
    /// Everything passes through.
    Passthrough,
}

struct Block {
    stream: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    fragments: BytesMut,
    /// The frames as received, in case the block cannot be decoded.
    raw: BytesMut,
}

impl<IO> Lenient<IO> {
    /// Wraps an accepted connection.
    pub fn new(inner: IO) -> Lenient<IO> {
        Lenient {
            inner,
            mode: Mode::Preface,
            input: BytesMut::new(),
            output: BytesMut::new(),
            block: None,
            decoder: Decoder::new(),
            encoder: Encoder::new(),
            eof: false,
        }
    }

    /// Moves what can be decided from `input` to `output`.
    fn process(&mut self) {
        loop {
            match self.mode {
                Mode::Passthrough => {
                    let all = self.input.split();
                    self.output.unsplit(all);
                    return;
                }
                Mode::Preface => {
                    let seen = self.input.len().min(PREFACE.len());
                    if self.input[..seen] != PREFACE[..seen] {
                        self.mode = Mode::Passthrough;
                        continue;
                    }
                    if seen < PREFACE.len() {
                        return;
                    }
                    let preface = self.input.split_to(PREFACE.len());
                    self.output.unsplit(preface);
                    self.mode = Mode::Frames;
                }
                Mode::Frames => {
                    if !self.next_frame() {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one whole frame of `input`, if there is one; returns whether
    /// it did.
    fn next_frame(&mut self) -> bool {
        if self.input.len() < FRAME_HEADER_BYTES {
            return false;
        }
        let head = &self.input[..FRAME_HEADER_BYTES];
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > FRAME_BYTES_LIMIT {
            self.give_up();
            return true;
        }
        if self.input.len() < FRAME_HEADER_BYTES + len {
            return false;
        }
        let frame = self.input.split_to(FRAME_HEADER_BYTES + len);
        let gathering = self.block.is_some();
        match kind {
            TYPE_HEADERS if !gathering => self.begin_block(frame, flags, stream),
            TYPE_CONTINUATION if gathering => self.continue_block(frame, flags, stream),
            _ if gathering => {
                // RFC 9113 §6.10: nothing may come between; let the server
                // say so.
                self.give_up_with(frame);
            }
            _ => self.output.unsplit(frame),
        }
        true
    }

    fn begin_block(&mut self, frame: BytesMut, flags: u8, stream: u32) {
        let mut payload = &frame[FRAME_HEADER_BYTES..];
        if flags & FLAG_PADDED != 0 {
            let Some((&pad, rest)) = payload.split_first() else {
                return self.give_up_with(frame);
            };
            let Some(unpadded) = rest.len().checked_sub(usize::from(pad)) else {
                return self.give_up_with(frame);
            };
            payload = &rest[..unpadded];
        }
        let mut priority = None;
        if flags & FLAG_PRIORITY != 0 {
            if payload.len() < 5 {
                return self.give_up_with(frame);
            }
            priority = Some(payload[..5].try_into().expect("5 bytes"));
            payload = &payload[5..];
        }
        let fragments = BytesMut::from(payload);
        self.block = Some(Block {
            stream,
            end_stream: flags & FLAG_END_STREAM != 0,
            priority,
            fragments,
            raw: frame,
        });
        if flags & FLAG_END_HEADERS != 0 {
            self.end_block();
        }
    }

    fn continue_block(&mut self, frame: BytesMut, flags: u8, stream: u32) {
        let block = self.block.as_mut().expect("gathering");
        if block.stream != stream || block.fragments.len() > BLOCK_BYTES_MAX {
            return self.give_up_with(frame);
        }
        block
            .fragments
            .extend_from_slice(&frame[FRAME_HEADER_BYTES..]);
        block.raw.unsplit(frame);
        if flags & FLAG_END_HEADERS != 0 {
            self.end_block();
        }
    }

    /// The block is whole: decode it as the client encoded it, mend the
    /// authority, encode it again for the server.
    fn end_block(&mut self) {
        let block = self.block.take().expect("gathering");
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let decoded =
            self.decoder
                .decode_with_cb(&block.fragments, |name: Cow<[u8]>, value: Cow<[u8]>| {
                    fields.push((name.into_owned(), value.into_owned()))
                });
        if decoded.is_err() {
            // The server decodes it too, fails the same way and closes
            // the connection.
            return self.give_up_with(block.raw);
        }
        let fields: Vec<(Vec<u8>, Vec<u8>)> = fields
            .into_iter()
            .filter_map(|(name, value)| match name.as_slice() {
                b":authority" => mend(&value).map(|value| (name, value)),
                _ => Some((name, value)),
            })
            .collect();
        let encoded = self
            .encoder
            .encode(fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        self.emit_block(&block, &encoded);
    }

    /// Writes `encoded` as a `HEADERS` frame and as many `CONTINUATION`s
    /// as the server's frame size needs.
    fn emit_block(&mut self, block: &Block, encoded: &[u8]) {
        let priority_len = if block.priority.is_some() { 5 } else { 0 };
        let first = encoded.len().min(FRAME_BYTES_MAX - priority_len);
        let (head, mut rest) = encoded.split_at(first);
        let mut flags = 0;
        if block.end_stream {
            flags |= FLAG_END_STREAM;
        }
        if block.priority.is_some() {
            flags |= FLAG_PRIORITY;
        }
        if rest.is_empty() {
            flags |= FLAG_END_HEADERS;
        }
        put_frame_header(
            &mut self.output,
            priority_len + head.len(),
            TYPE_HEADERS,
            flags,
            block.stream,
        );
        if let Some(priority) = &block.priority {
            self.output.put_slice(priority);
        }
        self.output.put_slice(head);
        while !rest.is_empty() {
            let (part, after) = rest.split_at(rest.len().min(FRAME_BYTES_MAX));
            rest = after;
            let flags = if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
            put_frame_header(
                &mut self.output,
                part.len(),
                TYPE_CONTINUATION,
                flags,
                block.stream,
            );
            self.output.put_slice(part);
        }
    }

    /// Something this module does not understand: from here on the
    /// server sees the client's bytes as they are.
    fn give_up(&mut self) {
        if let Some(block) = self.block.take() {
            self.output.unsplit(block.raw);
        }
        self.mode = Mode::Passthrough;
    }

    fn give_up_with(&mut self, frame: BytesMut) {
        self.give_up();
        self.output.unsplit(frame);
    }
}

fn put_frame_header(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len as u32;
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
}

/// The authority to give the server for `value`: itself when valid, the
/// authority part of a URL (`http://host:port/…`), or nothing.
fn mend(value: &[u8]) -> Option<Vec<u8>> {
    let valid = |v: &[u8]| http::uri::Authority::try_from(v).is_ok();
    if valid(value) {
        return Some(value.to_vec());
    }
    let text = std::str::from_utf8(value).ok()?;
    let (_, rest) = text.split_once("://")?;
    let authority = rest.split('/').next()?;
    valid(authority.as_bytes()).then(|| authority.as_bytes().to_vec())
}

impl<IO: AsyncRead + Unpin> AsyncRead for Lenient<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output[..n]);
                this.output.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // The client is done: hand over whatever is left.
                    this.eof = true;
                    this.give_up();
                    this.process();
                }
                Poll::Ready(Ok(())) => {
                    this.input.extend_from_slice(read.filled());
                    this.process();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Lenient<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for Lenient<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's bytes: the preface, a SETTINGS frame, then header blocks
    /// encoded by a client-side encoder (sharing its dynamic table across
    /// blocks, as a real client does).
    fn client_bytes(blocks: &[Vec<(&[u8], &[u8])>], split: usize) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_slice(PREFACE);
        put_frame_header(&mut out, 0, 0x4, 0, 0);
        let mut encoder = Encoder::new();
        for (i, fields) in blocks.iter().enumerate() {
            let stream = 1 + 2 * i as u32;
            let encoded = encoder.encode(fields.iter().copied());
            // A HEADERS frame with the first `split` bytes, padded, then a
            // CONTINUATION with the rest.
            let (first, rest) = encoded.split_at(split.min(encoded.len()));
            let flags = FLAG_PADDED | if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
            put_frame_header(&mut out, 1 + first.len() + 3, TYPE_HEADERS, flags, stream);
            out.put_u8(3);
            out.put_slice(first);
            out.put_slice(&[0, 0, 0]);
            if !rest.is_empty() {
                put_frame_header(
                    &mut out,
                    rest.len(),
                    TYPE_CONTINUATION,
                    FLAG_END_HEADERS,
                    stream,
                );
                out.put_slice(rest);
            }
            // A DATA frame, passed through.
            put_frame_header(&mut out, 3, 0x0, FLAG_END_STREAM, stream);
            out.put_slice(b"abc");
        }
        out.to_vec()
    }

    /// Runs `bytes` through the shim in pieces of `piece` bytes.
    fn through(bytes: &[u8], piece: usize) -> Vec<u8> {
        let mut shim = Lenient::new(());
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            shim.input.extend_from_slice(chunk);
            shim.process();
            out.extend_from_slice(&shim.output.split());
        }
        shim.give_up();
        shim.process();
        out.extend_from_slice(&shim.output.split());
        out
    }

    /// A decoded header block.
    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    /// The header blocks a server decodes from `bytes`, and the DATA
    /// payloads.
    fn server_view(bytes: &[u8]) -> (Vec<Fields>, Vec<Vec<u8>>) {
        assert_eq!(&bytes[..24], PREFACE);
        let mut at = 24;
        let mut decoder = Decoder::new();
        let (mut blocks, mut data, mut pending) = (Vec::new(), Vec::new(), Vec::new());
        while at < bytes.len() {
            let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
            let (kind, flags) = (bytes[at + 3], bytes[at + 4]);
            let payload = &bytes[at + 9..at + 9 + len];
            match kind {
                TYPE_HEADERS | TYPE_CONTINUATION => {
                    assert_eq!(flags & FLAG_PADDED, 0);
                    pending.extend_from_slice(payload);
                    if flags & FLAG_END_HEADERS != 0 {
                        blocks.push(decoder.decode(&pending).expect("decodes"));
                        pending.clear();
                    }
                }
                0x0 => data.push(payload.to_vec()),
                _ => {}
            }
            at += 9 + len;
        }
        (blocks, data)
    }

    #[test]
    fn a_url_as_authority_becomes_its_authority_and_the_rest_is_unchanged() {
        let request = |authority: &'static [u8]| -> Vec<(&'static [u8], &'static [u8])> {
            vec![
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":path", b"/etcdserverpb.Maintenance/Status"),
                (b":authority", authority),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
            ]
        };
        let blocks = vec![
            request(b"http://127.0.0.1:2379"),
            request(b"127.0.0.1:2379"),
            request(b"#initially=[http://a:1;http://b:2]"),
            request(b"http://127.0.0.1:2379"),
        ];
        for split in [0, 5, 1000] {
            for piece in [1, 7, 4096] {
                let (seen, data) = server_view(&through(&client_bytes(&blocks, split), piece));
                assert_eq!(data, vec![b"abc".to_vec(); 4]);
                let authorities: Vec<Option<&[u8]>> = seen
                    .iter()
                    .map(|b| {
                        b.iter()
                            .find(|(n, _)| n == b":authority")
                            .map(|(_, v)| &v[..])
                    })
                    .collect();
                let expected: Vec<Option<&[u8]>> = vec![
                    Some(b"127.0.0.1:2379"),
                    Some(b"127.0.0.1:2379"),
                    None,
                    Some(b"127.0.0.1:2379"),
                ];
                assert_eq!(authorities, expected, "split {split} piece {piece}");
                for block in &seen {
                    let paths: Vec<&[u8]> = block
                        .iter()
                        .filter(|(n, _)| n != b":authority")
                        .map(|(_, v)| &v[..])
                        .collect();
                    assert_eq!(paths[2], b"/etcdserverpb.Maintenance/Status");
                    assert_eq!(paths.len(), 5);
                }
            }
        }
    }

    #[test]
    fn http1_and_garbage_pass_through_untouched() {
        let http1 = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        assert_eq!(through(&http1, 3), http1);
        let mut garbage = PREFACE.to_vec();
        garbage.extend_from_slice(&[0xff; 40]);
        assert_eq!(through(&garbage, 5), garbage);
    }

    #[test]
    fn a_block_that_does_not_decode_reaches_the_server_as_it_was() {
        let mut bytes = PREFACE.to_vec();
        let mut frame = BytesMut::new();
        put_frame_header(&mut frame, 2, TYPE_HEADERS, FLAG_END_HEADERS, 1);
        frame.put_slice(&[0xff, 0xff]);
        bytes.extend_from_slice(&frame);
        bytes.extend_from_slice(b"after");
        assert_eq!(through(&bytes, 4), bytes);
    }
}
