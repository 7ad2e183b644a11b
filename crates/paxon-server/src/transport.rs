//! Peer transport over TCP: one outgoing connection per peer, length-
//! prefixed frames, reconnect with backoff, bounded queues (a full queue
//! drops the frame: Paxos survives lost messages, a slow peer must not
//! stall the leader). A peer that sends garbage is disconnected. An
//! `https` peer URL is dialled and served over TLS (`crate::tls`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use paxon_core::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::config::Url;
use crate::join::{self, JoinReply, JOIN_MAGIC};
use crate::peer::PeerFrame;
use crate::tls::{self, PeerTls};

/// Bytes every connection starts with.
const MAGIC: &[u8; 8] = b"PAXONP01";
/// Largest frame accepted from a peer. Snapshots travel in chunks
/// (`crate::catchup`); the largest frames are batches of client commands.
pub const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A frame's buffer grows by at most this much per read, so that a length
/// prefix alone never makes us allocate `FRAME_BYTES_MAX`.
const READ_CHUNK_BYTES: usize = 1 << 20;
/// Frames queued for one peer before new ones are dropped.
const QUEUE_FRAMES_MAX: usize = 8192;
/// Longest wait between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Longest wait for a peer's hello (and its TLS handshake).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the transport hands to the member.
#[derive(Debug)]
pub enum Inbound {
    /// A frame from a peer.
    Frame(NodeId, PeerFrame),
    /// A peer introduced itself: its client URLs.
    Hello(NodeId, String),
    /// A newcomer with these peer URLs asks for its seat (`crate::join`).
    Join {
        /// Its peer URLs, sorted.
        peer_urls: Vec<String>,
        /// Where the answer goes.
        reply: JoinReply,
    },
}

/// The members whose connections the accept loop takes: the transport's
/// peers, updated as the configuration changes.
pub type Admitted = Arc<RwLock<BTreeSet<NodeId>>>;

/// Sends frames to peers.
pub struct Transport {
    identity: Identity,
    tls: Option<PeerTls>,
    queues: BTreeMap<NodeId, (Url, mpsc::Sender<Bytes>)>,
    admitted: Admitted,
}

/// Who we are, as told to peers in the handshake.
#[derive(Clone)]
pub struct Identity {
    /// Our member id.
    pub me: NodeId,
    /// The cluster id every member computed.
    pub cluster_id: u64,
    /// Our client URLs, comma-separated.
    pub client_urls: String,
}

impl Transport {
    /// A transport with no peer yet (see [`Transport::set_peers`]); `tls`
    /// is needed for `https` peer URLs.
    pub fn new(identity: Identity, tls: Option<PeerTls>) -> Transport {
        Transport {
            identity,
            tls,
            queues: BTreeMap::new(),
            admitted: Admitted::default(),
        }
    }

    /// Who the accept loop lets in.
    pub fn admitted(&self) -> Admitted {
        Arc::clone(&self.admitted)
    }

    /// Talks to exactly `peers` from now on: a sender task per new peer
    /// (or per peer whose URL changed), and the tasks of the others end.
    /// Connections are accepted from `peers` and from `admitted` too (a
    /// member removed or not yet known to be added may still need to be
    /// taught, see [`Transport::dial`]).
    pub fn set_peers(&mut self, peers: BTreeMap<NodeId, Url>, admitted: BTreeSet<NodeId>) {
        self.queues
            .retain(|id, (url, _)| peers.get(id) == Some(url));
        for (id, url) in &peers {
            self.dial(*id, url);
        }
        let mut all = self.admitted.write().expect("admitted lock");
        *all = peers.into_keys().chain(admitted).collect();
    }

    /// Whether a sender task for `to` runs.
    pub fn talks_to(&self, to: NodeId) -> bool {
        self.queues.contains_key(&to)
    }

    /// Starts a sender task for `id` at `url`, unless one runs: for a
    /// peer of the configuration, or a stranger the core must answer (a
    /// retiring member asking its successors, a laggard outside every
    /// configuration known here).
    pub fn dial(&mut self, id: NodeId, url: &Url) {
        if self.queues.contains_key(&id) {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES_MAX);
        let tls = self.tls.clone().filter(|_| url.tls);
        tokio::spawn(send_loop(self.identity.clone(), url.clone(), tls, rx));
        tracing::debug!(%id, url = %url.to_url_string(), "talking to a peer");
        self.queues.insert(id, (url.clone(), tx));
        self.admitted.write().expect("admitted lock").insert(id);
    }

    /// Queues a frame for `to`; drops it if the queue is full.
    pub fn send(&self, to: NodeId, frame: &PeerFrame) {
        if let Some((_, queue)) = self.queues.get(&to) {
            if queue.try_send(frame.encode()).is_err() {
                tracing::debug!(%to, "peer queue full or closed: frame dropped");
            }
        }
    }
}

async fn send_loop(
    identity: Identity,
    url: Url,
    tls: Option<PeerTls>,
    mut rx: mpsc::Receiver<Bytes>,
) {
    let addr = url.to_url_string();
    let mut backoff = Duration::from_millis(20);
    loop {
        match TcpStream::connect(&url.host_port).await {
            Ok(stream) => {
                backoff = Duration::from_millis(20);
                let _ = stream.set_nodelay(true);
                let sent = match &tls {
                    None => write_frames(&identity, stream, &mut rx).await,
                    Some(tls) => match dial_tls(tls, &url, stream).await {
                        Ok(stream) => write_frames(&identity, stream, &mut rx).await,
                        Err(error) => Err(error),
                    },
                };
                if let Err(error) = sent {
                    tracing::debug!(%addr, %error, "peer connection closed");
                }
                if rx.is_closed() {
                    return;
                }
            }
            Err(error) => tracing::trace!(%addr, %error, "peer not reachable"),
        }
        // Frames queued while disconnected are stale: drop them.
        while rx.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The TLS handshake with a peer we dialled: its certificate must be
/// signed by `--peer-trusted-ca-file` for the host of its URL.
pub(crate) async fn dial_tls(
    tls: &PeerTls,
    url: &Url,
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = tls::server_name(url.host()).map_err(std::io::Error::other)?;
    let handshake = tls.connector.connect(name, stream);
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

async fn write_frames<S: AsyncWrite + Unpin>(
    identity: &Identity,
    stream: S,
    rx: &mut mpsc::Receiver<Bytes>,
) -> std::io::Result<()> {
    let mut writer = BufWriter::with_capacity(256 * 1024, stream);
    let mut hello = Vec::with_capacity(64);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&identity.cluster_id.to_le_bytes());
    hello.extend_from_slice(&identity.me.0.to_le_bytes());
    let urls = identity.client_urls.as_bytes();
    hello.extend_from_slice(&(urls.len() as u32).to_le_bytes());
    hello.extend_from_slice(urls);
    writer.write_all(&hello).await?;
    writer.flush().await?;
    while let Some(frame) = rx.recv().await {
        write_frame(&mut writer, &frame).await?;
        while let Ok(more) = rx.try_recv() {
            write_frame(&mut writer, &more).await?;
        }
        writer.flush().await?;
    }
    Ok(())
}

async fn write_frame<S: AsyncWrite + Unpin>(
    writer: &mut BufWriter<S>,
    frame: &Bytes,
) -> std::io::Result<()> {
    writer
        .write_all(&(frame.len() as u32).to_le_bytes())
        .await?;
    writer.write_all(frame).await
}

/// Accepts peer connections and hands their frames to `inbox`; a peer from
/// another cluster, a member not `admitted` or a malformed frame is cut
/// off. A newcomer's join request is answered (`crate::join`).
/// With `tls` (an `https` listener) every connection must complete a TLS
/// handshake first.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<PeerTls>,
    identity: Identity,
    admitted: Admitted,
    inbox: mpsc::Sender<Inbound>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (identity, admitted, inbox) = (identity.clone(), admitted.clone(), inbox.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let read = match tls {
                None => read_peer(stream, addr, &identity, &admitted, &inbox).await,
                Some(tls) => match accept_tls(&tls, stream).await {
                    Ok(stream) => read_peer(stream, addr, &identity, &admitted, &inbox).await,
                    Err(error) => Err(format!("TLS handshake failed: {error}")),
                },
            };
            if let Err(error) = read {
                tracing::debug!(%addr, %error, "peer connection dropped");
            }
        });
    }
}

/// The TLS handshake with a peer that dialled us (with
/// `--peer-client-cert-auth`, its certificate is checked here).
async fn accept_tls(
    tls: &PeerTls,
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream))
        .await
        .map_err(|_| std::io::Error::other("timed out"))?
}

async fn read_peer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    identity: &Identity,
    admitted: &Admitted,
    inbox: &mpsc::Sender<Inbound>,
) -> Result<(), String> {
    let mut head = [0u8; 28];
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut head[..8]));
    read.await
        .map_err(|_| "handshake timed out")?
        .map_err(|e| e.to_string())?;
    if &head[..8] == JOIN_MAGIC {
        let answered = join::answer(stream, inbox);
        return tokio::time::timeout(HANDSHAKE_TIMEOUT, answered)
            .await
            .map_err(|_| "join request timed out")?;
    }
    if &head[..8] != MAGIC {
        return Err(format!("{addr} is not a paxon peer"));
    }
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut head[8..]));
    read.await
        .map_err(|_| "handshake timed out")?
        .map_err(|e| e.to_string())?;
    let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    if word(8) != identity.cluster_id {
        return Err(format!("{addr} belongs to another cluster ({:x})", word(8)));
    }
    let from = NodeId(word(16));
    let known = admitted.read().expect("admitted lock").contains(&from);
    if from == identity.me || !known {
        return Err(format!("{addr} claims to be {from}, not a peer"));
    }
    let urls_len = u32::from_le_bytes(head[24..28].try_into().expect("4 bytes")) as usize;
    if urls_len > 4096 {
        return Err("client URLs too long".into());
    }
    let mut urls = vec![0u8; urls_len];
    stream
        .read_exact(&mut urls)
        .await
        .map_err(|e| e.to_string())?;
    let urls = String::from_utf8(urls).map_err(|_| "client URLs not UTF-8")?;
    inbox
        .send(Inbound::Hello(from, urls))
        .await
        .map_err(|_| "member stopped")?;
    read_frames(stream, from, inbox).await
}

async fn read_frames<S: AsyncRead + Unpin>(
    stream: S,
    from: NodeId,
    inbox: &mpsc::Sender<Inbound>,
) -> Result<(), String> {
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, stream);
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > FRAME_BYTES_MAX {
            return Err(format!("{from} sent a frame of {len} bytes"));
        }
        let body = read_body(&mut reader, len).await?;
        let frame = PeerFrame::decode(body.freeze()).map_err(|e| format!("{from}: {e}"))?;
        inbox
            .send(Inbound::Frame(from, frame))
            .await
            .map_err(|_| "member stopped")?;
    }
}

/// Reads a frame body of `len` bytes, growing the buffer as bytes arrive.
async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, len: usize) -> Result<BytesMut, String> {
    let mut body = BytesMut::with_capacity(len.min(READ_CHUNK_BYTES));
    while body.len() < len {
        let want = (len - body.len()).min(READ_CHUNK_BYTES);
        body.reserve(want);
        let read = (&mut *reader)
            .take(want as u64)
            .read_buf(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("connection closed inside a frame".into());
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_larger_than_a_read_chunk_arrives_whole() {
        let sent: Vec<u8> = (0..3 * READ_CHUNK_BYTES + 5)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut reader = &sent[..];
        let body = read_body(&mut reader, sent.len())
            .await
            .expect("whole frame");
        assert_eq!(&body[..], &sent[..]);
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error() {
        let sent = [7u8; 100];
        let mut reader = &sent[..];
        let error = read_body(&mut reader, 200).await.expect_err("cut short");
        assert_eq!(error, "connection closed inside a frame");
    }
}
