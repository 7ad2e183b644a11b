//! Joining a running cluster: `paxon serve --initial-cluster-state
//! existing` on an empty data directory.
//!
//! An operator first adds the member (`etcdctl member add`), which makes
//! its id and peer URLs part of a configuration decree and of the member
//! directory. The newcomer knows only the peer URLs of `--initial-cluster`,
//! so it asks them, on the peer port, for the seat of the member with its
//! own peer URLs (etcd asks its peers for the member list the same way,
//! over HTTP): its id, the cluster id, the configuration the ledger starts
//! with, and the roll of members. A member answers from the configurations
//! it has applied, so one that has not yet learned of the addition says so
//! and the newcomer asks the next.
//!
//! On the wire, after [`JOIN_MAGIC`]: the request is `len u32` and the
//! newcomer's sorted peer URLs joined by commas; the answer is `len u32`,
//! then `0` and the seat (`crate::seat`) or `1` and a UTF-8 reason.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::config::Url;
use crate::seat::Seat;
use crate::tls::PeerTls;
use crate::transport::{self, Inbound};

/// Bytes a join request starts with (a peer connection starts with
/// `transport::MAGIC`).
pub const JOIN_MAGIC: &[u8; 8] = b"PAXONJ01";
/// Largest request or answer accepted.
const MESSAGE_BYTES_MAX: usize = 1 << 20;
/// Longest wait for one member's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer a member gives a newcomer.
pub type JoinReply = oneshot::Sender<Result<Seat, String>>;

/// The request body for a member with peer URLs `own`.
fn request(own: &[Url]) -> Vec<u8> {
    let mut urls: Vec<String> = own.iter().map(Url::to_url_string).collect();
    urls.sort();
    urls.join(",").into_bytes()
}

/// Asks the members at `peers`, in turn and again, for the seat of the
/// member whose peer URLs are `own`, until one gives it or `patience` is
/// spent; the error then says what each member answered last.
pub async fn ask(
    peers: &[Url],
    own: &[Url],
    tls: Option<&PeerTls>,
    patience: Duration,
) -> Result<Seat, String> {
    let body = request(own);
    let deadline = Instant::now() + patience;
    let mut answers = Vec::new();
    loop {
        answers.clear();
        for url in peers {
            let tls = tls.filter(|_| url.tls);
            let asked = tokio::time::timeout(ANSWER_TIMEOUT, ask_one(url, tls, &body)).await;
            match asked {
                Ok(Ok(Ok(seat))) => return Ok(seat),
                Ok(Ok(Err(refused))) => answers.push(format!("{}: {refused}", url.to_url_string())),
                Ok(Err(error)) => answers.push(format!("{}: {error}", url.to_url_string())),
                Err(_) => answers.push(format!("{}: no answer", url.to_url_string())),
            }
        }
        if Instant::now() >= deadline {
            return Err(answers.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn ask_one(
    url: &Url,
    tls: Option<&PeerTls>,
    body: &[u8],
) -> std::io::Result<Result<Seat, String>> {
    let stream = TcpStream::connect(&url.host_port).await?;
    match tls {
        None => exchange(stream, body).await,
        Some(tls) => exchange(transport::dial_tls(tls, url, stream).await?, body).await,
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    body: &[u8],
) -> std::io::Result<Result<Seat, String>> {
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(JOIN_MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    stream.flush().await?;
    let answer = read_message(&mut stream).await?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    match answer.first() {
        Some(0) => Seat::decode(answer.slice(1..))
            .map(Ok)
            .map_err(|e| invalid(&e.to_string())),
        Some(1) => Ok(Err(String::from_utf8_lossy(&answer[1..]).into_owned())),
        _ => Err(invalid("not a join answer")),
    }
}

async fn read_message<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Bytes> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MESSAGE_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a join message of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(Bytes::from(body))
}

/// Answers a newcomer on a connection whose [`JOIN_MAGIC`] was read: the
/// member's driver says which seat, if any, those peer URLs have.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    inbox: &mpsc::Sender<Inbound>,
) -> Result<(), String> {
    let request = read_message(&mut stream).await.map_err(|e| e.to_string())?;
    let urls = String::from_utf8(request.to_vec()).map_err(|_| "peer URLs not UTF-8")?;
    let peer_urls = urls.split(',').map(str::to_string).collect();
    let (reply, answered) = oneshot::channel();
    inbox
        .send(Inbound::Join { peer_urls, reply })
        .await
        .map_err(|_| "member stopped")?;
    let seat = answered.await.map_err(|_| "member stopped")?;
    let mut body = BytesMut::new();
    match seat {
        Ok(seat) => {
            body.put_u8(0);
            seat.encode(&mut body);
        }
        Err(reason) => {
            body.put_u8(1);
            body.put_slice(reason.as_bytes());
        }
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())
}
