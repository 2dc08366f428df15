//! Where celadon serves: the sockets it listens on (every interface on IPv4
//! and IPv6 by default, named addresses, or a unix socket), HTTPS over
//! them, and who each request came from (`client`).
//!
//! [`Listeners`] is axum's `Listener`: it accepts from every socket, and,
//! with HTTPS, hands out connections whose handshake is done. Handshakes
//! run beside the accepting (a slow client never holds up the others), in
//! a `JoinSet` it owns, bounded and timed out.

pub mod client;
pub mod tls;

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    task::Poll,
    time::Duration,
};

use anyhow::Context;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, UnixListener},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use crate::config::Listen;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; more connections wait in the kernel's
/// backlog.
pub const MAX_HANDSHAKES: usize = 256;

/// A connection, over TCP or a unix socket, in clear or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Who connected: their address (none over a unix socket) and whether the
/// connection is HTTPS. axum hands it to handlers as `ConnectInfo<Peer>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub addr: Option<SocketAddr>,
    pub https: bool,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listeners>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listeners>) -> Self {
        *stream.remote_addr()
    }
}

enum Sockets {
    Tcp(Vec<TcpListener>),
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
}

type Handshake = (
    io::Result<tokio_rustls::server::TlsStream<Box<dyn Io>>>,
    Peer,
);

/// The bound sockets, with HTTPS when configured.
pub struct Listeners {
    sockets: Sockets,
    tls: Option<TlsAcceptor>,
    handshakes: JoinSet<Handshake>,
}

impl From<TcpListener> for Listeners {
    fn from(listener: TcpListener) -> Listeners {
        Listeners {
            sockets: Sockets::Tcp(vec![listener]),
            tls: None,
            handshakes: JoinSet::new(),
        }
    }
}

/// Binds what `listen` asks for: its unix socket, else its address (every
/// interface when empty) and port, serving HTTPS with its certificate.
pub async fn bind(listen: &Listen) -> anyhow::Result<Listeners> {
    let tls = match &listen.https {
        Some(https) => Some(TlsAcceptor::from(tls::server_config(https)?)),
        None => None,
    };
    let sockets = match &listen.unix_socket {
        Some(path) => Sockets::Unix {
            listener: bind_unix(path)?,
            path: path.clone(),
        },
        None => Sockets::Tcp(bind_tcp(&listen.address, listen.port).await?),
    };
    Ok(Listeners {
        sockets,
        tls,
        handshakes: JoinSet::new(),
    })
}

impl Listeners {
    /// Where it listens, as URLs: `http://127.0.0.1:5555`,
    /// `https://[::]:5555`, `http+unix:///run/celadon.sock`.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match &self.sockets {
            Sockets::Tcp(listeners) => listeners
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .map(|a| format!("{scheme}://{a}"))
                .collect(),
            Sockets::Unix { path, .. } => vec![format!("{scheme}+unix://{}", path.display())],
        }
    }

    /// The TCP port it listens on, if any.
    pub fn port(&self) -> Option<u16> {
        match &self.sockets {
            Sockets::Tcp(listeners) => listeners.first()?.local_addr().ok().map(|a| a.port()),
            Sockets::Unix { .. } => None,
        }
    }
}

impl Drop for Listeners {
    /// A unix socket's file goes with it.
    fn drop(&mut self) {
        if let Sockets::Unix { path, .. } = &self.sockets {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl axum::serve::Listener for Listeners {
    type Io = Box<dyn Io>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Box<dyn Io>, Peer) {
        loop {
            let Some(acceptor) = self.tls.clone() else {
                match accept_plain(&self.sockets).await {
                    Ok((io, addr)) => return (io, Peer { addr, https: false }),
                    Err(e) => accept_failed(e).await,
                }
                continue;
            };
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = accept_plain(&self.sockets), if room => match accepted {
                    Ok((io, addr)) => {
                        let peer = Peer { addr, https: true };
                        self.handshakes.spawn(async move {
                            let shaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io))
                                .await
                                .unwrap_or_else(|_| Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "the TLS handshake took too long",
                                )));
                            (shaken, peer)
                        });
                    }
                    Err(e) => accept_failed(e).await,
                },
                Some(done) = self.handshakes.join_next() => match done {
                    Ok((Ok(stream), peer)) => return (Box::new(stream), peer),
                    Ok((Err(e), peer)) => tracing::debug!(
                        client = %peer.addr.map_or("unix socket".into(), |a| a.to_string()),
                        "TLS handshake failed: {e}"
                    ),
                    Err(e) => tracing::warn!("a TLS handshake task failed: {e}"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        let addr = match &self.sockets {
            Sockets::Tcp(listeners) => Some(
                listeners
                    .first()
                    .ok_or_else(|| io::Error::other("no socket"))?
                    .local_addr()?,
            ),
            Sockets::Unix { .. } => None,
        };
        Ok(Peer {
            addr,
            https: self.tls.is_some(),
        })
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("urls", &self.urls())
            .finish_non_exhaustive()
    }
}

/// The next connection from any of `sockets`, in clear.
async fn accept_plain(sockets: &Sockets) -> io::Result<(Box<dyn Io>, Option<SocketAddr>)> {
    match sockets {
        Sockets::Tcp(listeners) => {
            let (stream, addr) = std::future::poll_fn(|cx| {
                for listener in listeners {
                    if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                        return Poll::Ready(accepted);
                    }
                }
                Poll::Pending
            })
            .await?;
            // As axum does: small writes (websocket frames) go out now.
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream), Some(canonical(addr))))
        }
        Sockets::Unix { listener, .. } => {
            let (stream, _) = listener.accept().await?;
            Ok((Box::new(stream), None))
        }
    }
}

/// As axum's own listeners: a failed connection is skipped; anything else
/// (out of file descriptors) is logged and waited out.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// An IPv4 client of a dual-stack socket as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Flower's binding: an empty address is every interface, IPv4 and IPv6
/// (one dual-stack socket; IPv4 alone where the host has no IPv6); a name
/// is every address it resolves to, on one port (the first one's, when
/// `port` is 0).
async fn bind_tcp(address: &str, port: u16) -> anyhow::Result<Vec<TcpListener>> {
    if address.is_empty() {
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        return match bind_one(any6, false) {
            Ok(listener) => Ok(vec![listener]),
            Err(e) if no_ipv6(&e) => {
                let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
                Ok(vec![
                    bind_one(any4, true).with_context(|| format!("cannot listen on {any4}"))?,
                ])
            }
            Err(e) => Err(e).with_context(|| format!("cannot listen on port {port}")),
        };
    }
    let host = address.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve --address={address}"))?
        .collect();
    addrs.dedup();
    let mut listeners: Vec<TcpListener> = Vec::new();
    for mut addr in addrs {
        if let Some(first) = listeners.first() {
            addr.set_port(first.local_addr()?.port());
        }
        match bind_one(addr, true) {
            Ok(listener) => listeners.push(listener),
            // A name with an IPv6 address on a host without IPv6.
            Err(e) if addr.is_ipv6() && no_ipv6(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
        }
    }
    anyhow::ensure!(
        !listeners.is_empty(),
        "--address={address} names no address to listen on"
    );
    Ok(listeners)
}

/// Whether binding an IPv6 address failed for want of IPv6 on this host
/// (not because the port is taken or not ours to take).
fn no_ipv6(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
    )
}

/// One listening socket; an IPv6 one takes IPv4 clients too unless
/// `v6_only`.
fn bind_one(addr: SocketAddr, v6_only: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(v6_only)?;
    }
    // As tokio's own `bind`: a restarted celadon gets its port back at once.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Tornado's `bind_unix_socket`, as Flower uses it: a stale socket file is
/// replaced, anything else at the path is not; the socket is the owner's
/// alone (0600).
fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot replace the socket {}", path.display()))?,
        Ok(_) => anyhow::bail!(
            "--unix-socket={}: a file that is not a socket is there already",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("--unix-socket={}", path.display())),
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot listen on the unix socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests;
