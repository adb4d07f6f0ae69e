//! Stream connections: on the HashiCorp wire, Go bytes on the socket and
//! serf-rs bytes to memberlist-core; on serf-rs's own wire, bytes untouched.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use memberlist_proto::{ProtoReader, ProtoWriter};
use serf::transport::{Connection, Transport};

use super::sniff::{is_go_stream, Reported, SNIFF_LEN};
use super::wire::{GoWire, MAX_STREAM_MESSAGE};
use super::Inner;
use serfer_wire::error::WireError;

type InnerConn = <Inner as Transport>::Connection;
type InnerReader = <InnerConn as Connection>::Reader;
type InnerWriter = <InnerConn as Connection>::Writer;

/// Bytes asked of the socket per read.
const CHUNK: usize = 16 * 1024;

fn invalid(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A TCP connection of a node. Only the reading half translates, and only on
/// the HashiCorp wire: memberlist-core writes through [`Transport::write`],
/// which the transport overrides, so the writing half (and
/// [`Connection::write_all`]) passes bytes through untouched.
pub struct NodeConn {
    reader: NodeReader,
    writer: InnerWriter,
}

impl NodeConn {
    /// Wraps a connection with `from` at the other end; `wire` is the
    /// translation when the node speaks the HashiCorp wire.
    pub(super) fn new(conn: InnerConn, wire: Option<Arc<GoWire>>, from: SocketAddr) -> Self {
        let (reader, writer) = conn.split();
        let reader = match wire {
            Some(wire) => NodeReader::Go(GoReader {
                inner: reader,
                wire,
                from,
                raw: Vec::new(),
                out: Vec::new(),
                pos: 0,
            }),
            None => NodeReader::Plain(reader),
        };
        NodeConn { reader, writer }
    }
}

impl NodeConn {
    /// Wraps an accepted connection on serf-rs's wire after a look at its
    /// first bytes (bounded by [`SNIFF_WAIT`]), reporting a peer that speaks
    /// Go's wire. The bytes stay in the connection for memberlist-core.
    pub(super) async fn sniffing(conn: InnerConn, from: SocketAddr, reported: &Reported) -> Self {
        let (mut reader, writer) = conn.split();
        let mut first = [0u8; SNIFF_LEN];
        if let Ok(Ok(n)) = tokio::time::timeout(SNIFF_WAIT, reader.peek(&mut first)).await {
            if is_go_stream(&first[..n]) {
                reported.go_peer(from);
            }
        }
        NodeConn {
            reader: NodeReader::Plain(reader),
            writer,
        }
    }
}

/// How long an accepted connection may take to send its first bytes before it
/// is handed on unexamined. Peers write as soon as they connect.
const SNIFF_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The reading half of a [`NodeConn`].
pub enum NodeReader {
    /// serf-rs's own wire: the socket's bytes as they are.
    Plain(InnerReader),
    /// The HashiCorp wire: translated Go messages.
    Go(GoReader),
}

impl ProtoReader for NodeReader {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NodeReader::Plain(r) => r.read(buf).await,
            NodeReader::Go(r) => r.read(buf).await,
        }
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            NodeReader::Plain(r) => r.read_exact(buf).await,
            NodeReader::Go(r) => r.read_exact(buf).await,
        }
    }

    async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NodeReader::Plain(r) => r.peek(buf).await,
            NodeReader::Go(r) => r.peek(buf).await,
        }
    }

    async fn peek_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            NodeReader::Plain(r) => r.peek_exact(buf).await,
            NodeReader::Go(r) => r.peek_exact(buf).await,
        }
    }
}

/// The reading half: reads whole Go stream messages (decrypting and
/// decompressing them) and serves their serf-rs translation.
///
/// memberlist 0.2.2 sends one message per direction per connection and waits
/// for the answer, so the reader cannot wait for the end of the stream; it
/// decodes what it has after every read, and a decoder that reports a
/// truncation means "read more". Bytes after a decoded message are dropped:
/// no Go node sends any.
pub struct GoReader {
    inner: InnerReader,
    wire: Arc<GoWire>,
    from: SocketAddr,
    /// Go bytes read but not yet a whole message.
    raw: Vec<u8>,
    /// serf-rs bytes translated and not yet read.
    out: Vec<u8>,
    /// How much of `out` was read.
    pos: usize,
}

impl GoReader {
    fn available(&self) -> &[u8] {
        &self.out[self.pos..]
    }

    /// Makes at least `want` translated bytes available, or all there will
    /// ever be if the peer closes first.
    async fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.available().len() < want {
            if !self.next_message().await? {
                break;
            }
        }
        Ok(())
    }

    /// Reads and translates one Go message; false at a clean end of stream.
    async fn next_message(&mut self) -> io::Result<bool> {
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if let Some(msg) = self.wire.decode_stream(&self.raw).map_err(invalid)? {
                self.raw.clear();
                let rs = self.wire.stream_to_rs(msg, self.from).map_err(invalid)?;
                self.out.drain(..self.pos);
                self.pos = 0;
                self.out.extend_from_slice(&rs);
                return Ok(true);
            }
            if self.raw.len() > MAX_STREAM_MESSAGE {
                return Err(invalid(WireError::TooLong {
                    what: "stream message",
                    len: self.raw.len(),
                    max: MAX_STREAM_MESSAGE,
                }));
            }
            let n = ProtoReader::read(&mut self.inner, &mut chunk).await?;
            if n == 0 {
                if self.raw.is_empty() {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} closed the stream {} bytes into a Go message",
                        self.from,
                        self.raw.len()
                    ),
                ));
            }
            self.raw.extend_from_slice(&chunk[..n]);
        }
    }
}

fn eof(want: usize, have: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended with {have} of {want} bytes"),
    )
}

impl ProtoReader for GoReader {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill(1).await?;
        let n = buf.len().min(self.available().len());
        buf[..n].copy_from_slice(&self.available()[..n]);
        self.pos += n;
        Ok(n)
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.peek_exact(buf).await?;
        self.pos += buf.len();
        Ok(())
    }

    async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill(1).await?;
        let n = buf.len().min(self.available().len());
        buf[..n].copy_from_slice(&self.available()[..n]);
        Ok(n)
    }

    async fn peek_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.fill(buf.len()).await?;
        let have = self.available().len();
        if have < buf.len() {
            return Err(eof(buf.len(), have));
        }
        buf.copy_from_slice(&self.available()[..buf.len()]);
        Ok(())
    }
}

impl Connection for NodeConn {
    type Reader = NodeReader;
    type Writer = InnerWriter;

    fn split(self) -> (Self::Reader, Self::Writer) {
        (self.reader, self.writer)
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        ProtoReader::read(&mut self.reader, buf).await
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        ProtoReader::read_exact(&mut self.reader, buf).await
    }

    async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        ProtoReader::peek(&mut self.reader, buf).await
    }

    async fn peek_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        ProtoReader::peek_exact(&mut self.reader, buf).await
    }

    async fn write_all(&mut self, payload: &[u8]) -> io::Result<()> {
        ProtoWriter::write_all(&mut self.writer, payload).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        ProtoWriter::flush(&mut self.writer).await
    }

    async fn close(&mut self) -> io::Result<()> {
        ProtoWriter::close(&mut self.writer).await
    }
}
