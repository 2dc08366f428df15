//! How celadon reaches one Redis deployment (the broker, or the result
//! backend): an [`Endpoint`] is a parsed URL with its TLS clients built
//! and its transport options applied, and [`Endpoint::open`] makes one
//! connection the way kombu would: to the only server, to the first of a
//! failover list that answers, or to the master the sentinels name. Every
//! connection celadon opens starts here (the event reader's, the shared
//! command connection, the pidbox's reply connections), so TLS, logins and
//! Sentinel are handled once.

use std::{io, time::Duration};

use tokio::net::{TcpSocket, UnixStream};

use super::{
    resp::{Frame, RespConn, RespError, Stream},
    sentinel::healthy_master,
    ssl::SslOptions,
    tls::{Tls, TlsError},
    transport::{ConnectOptions, TransportOptions},
    url::{Addr, BrokerUrl, Login, Servers},
};

/// How long opening a connection (TCP, TLS, login) may take, unless
/// `socket_connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a connection to a master found through Sentinel asks the
/// sentinels whether the master moved. A failover promotes a replica while
/// the old master still accepts connections and writes for a while (until
/// Sentinel demotes it), so only asking finds the new one early.
pub const SENTINEL_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("a sentinel:// URL needs master_name in the transport options")]
    NoMasterName,
}

/// Why a connection could not be opened. The text is what the broker
/// status on the pages and the log say.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{0}")]
    Connect(String),
    #[error("connecting to {at} took longer than {after:?}")]
    Timeout { at: Addr, after: Duration },
    #[error("no sentinel named a master for {name:?}: {why}")]
    Sentinel { name: String, why: String },
    #[error("{at} is not the master (its role is {role}); the sentinels will be asked again")]
    NotMaster { at: Addr, role: String },
    #[error("no server of the failover list answered: {0}")]
    AllFailed(String),
}

/// One server to connect to, with what it takes.
#[derive(Debug)]
struct Target {
    addr: Addr,
    login: Login,
    tls: Option<Tls>,
}

#[derive(Debug)]
enum Targets {
    /// Tried in turn, from the first.
    Direct(Vec<Target>),
    Sentinel {
        sentinels: Vec<Target>,
        master_name: String,
        min_other_sentinels: u64,
        /// The master's login and TLS (its address comes from a sentinel).
        master_login: Login,
        master_tls: Option<Tls>,
        /// How long a sentinel may take to answer.
        ask_timeout: Duration,
        connect_timeout: Duration,
    },
}

/// A Redis deployment, ready to connect to.
#[derive(Debug)]
pub struct Endpoint {
    masked: String,
    db: u32,
    targets: Targets,
    connect: ConnectOptions,
}

/// A connection [`Endpoint::open`] opened, logged in and checked.
pub struct Opened {
    pub conn: RespConn,
    /// The server it reached.
    pub at: Addr,
}

impl Endpoint {
    /// Builds the TLS clients (reading the certificate files) for `url`,
    /// with the `*_use_ssl` option's settings and the transport options.
    pub fn new(
        url: &BrokerUrl,
        use_ssl: Option<&SslOptions>,
        options: &TransportOptions,
    ) -> Result<Endpoint, EndpointError> {
        let tls = |ssl: Option<SslOptions>| ssl.as_ref().map(Tls::new).transpose();
        let targets = match &url.servers {
            Servers::Redis(servers) => Targets::Direct(
                servers
                    .iter()
                    .map(|s| {
                        // TLS is for TCP: over a unix socket kombu ignores
                        // broker_use_ssl, and so does celadon (the URL
                        // itself cannot ask for it there).
                        let ssl = match s.addr {
                            Addr::Unix(_) => None,
                            Addr::Tcp { .. } => s.tls.resolve(use_ssl),
                        };
                        Ok(Target {
                            addr: s.addr.clone(),
                            login: s.login.clone(),
                            tls: tls(ssl)?,
                        })
                    })
                    .collect::<Result<_, EndpointError>>()?,
            ),
            Servers::Sentinel {
                sentinels,
                master_login,
                master_tls,
            } => {
                let s = &options.sentinel;
                let sentinel_tls = tls(s.tls.clone())?;
                let connect_timeout = s
                    .socket_connect_timeout
                    .or(options.connect.socket_connect_timeout)
                    .unwrap_or(CONNECT_TIMEOUT);
                Targets::Sentinel {
                    sentinels: sentinels
                        .iter()
                        .map(|addr| Target {
                            addr: addr.clone(),
                            login: s.login.clone(),
                            tls: sentinel_tls.clone(),
                        })
                        .collect(),
                    master_name: s.master_name.clone().ok_or(EndpointError::NoMasterName)?,
                    min_other_sentinels: s.min_other_sentinels,
                    master_login: master_login.clone(),
                    master_tls: tls(master_tls.resolve(use_ssl))?,
                    ask_timeout: s.socket_timeout.unwrap_or(connect_timeout),
                    connect_timeout,
                }
            }
        };
        Ok(Endpoint {
            masked: url.masked(),
            db: url.db,
            targets,
            connect: options.connect.clone(),
        })
    }

    /// The URL, password masked.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    pub fn db(&self) -> u32 {
        self.db
    }

    /// `socket_timeout`, for command connections.
    pub fn response_timeout(&self) -> Option<Duration> {
        self.connect.socket_timeout
    }

    pub fn is_sentinel(&self) -> bool {
        matches!(self.targets, Targets::Sentinel { .. })
    }

    fn connect_timeout(&self) -> Duration {
        self.connect
            .socket_connect_timeout
            .unwrap_or(CONNECT_TIMEOUT)
    }

    /// Which server a connection reached, when the URL alone does not say
    /// (a failover list, Sentinel): for the broker status.
    pub fn describe(&self, at: &Addr) -> Option<String> {
        match &self.targets {
            Targets::Direct(targets) if targets.len() == 1 => None,
            Targets::Direct(_) => Some(format!("connected to {at}")),
            Targets::Sentinel { master_name, .. } => Some(format!(
                "connected to {at}, the sentinels' master of {master_name:?}"
            )),
        }
    }

    /// Opens one connection, logged in.
    pub async fn open(&self) -> Result<Opened, DialError> {
        match &self.targets {
            Targets::Direct(targets) => {
                let mut failures = Vec::new();
                for target in targets {
                    match self.open_target(target, Node::Data).await {
                        Ok(conn) => {
                            return Ok(Opened {
                                conn,
                                at: target.addr.clone(),
                            });
                        }
                        Err(e) if targets.len() == 1 => return Err(e),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                Err(DialError::AllFailed(failures.join("; ")))
            }
            Targets::Sentinel {
                master_login,
                master_tls,
                ..
            } => {
                let at = self.ask_sentinels().await?;
                let target = Target {
                    addr: at.clone(),
                    login: master_login.clone(),
                    tls: master_tls.clone(),
                };
                let conn = self.open_target(&target, Node::Master).await?;
                Ok(Opened { conn, at })
            }
        }
    }

    /// The master the sentinels name now, when it is not `at`: the master
    /// moved. `None` when it did not, or when no sentinel answered (the
    /// connection in hand is kept until it fails by itself).
    pub async fn master_moved(&self, at: &Addr) -> Option<Addr> {
        if !self.is_sentinel() {
            return None;
        }
        match self.ask_sentinels().await {
            Ok(master) if master != *at => Some(master),
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, "no sentinel answered; keeping the connection");
                None
            }
        }
    }

    /// Resolves when the sentinels name another master than `at`; never
    /// for an endpoint without Sentinel.
    pub async fn watch_master(&self, at: &Addr) -> Addr {
        if !self.is_sentinel() {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(SENTINEL_RECHECK).await;
            if let Some(master) = self.master_moved(at).await {
                return master;
            }
        }
    }

    /// Connects to `target` within the connect timeout: TCP or the unix
    /// socket, TLS, AUTH, CLIENT SETNAME, PING, and ROLE for a master, so
    /// that a refused login or a server that is not what was asked for is
    /// found here, with the address in the error.
    async fn open_target(&self, target: &Target, node: Node) -> Result<RespConn, DialError> {
        let after = match &self.targets {
            Targets::Sentinel {
                connect_timeout, ..
            } => *connect_timeout,
            Targets::Direct(_) => self.connect_timeout(),
        };
        let at = &target.addr;
        let opening = async {
            let mut conn = RespConn::new(self.stream(target).await?);
            let name = match node {
                Node::Sentinel => None,
                Node::Data | Node::Master => self.connect.client_name.as_deref(),
            };
            hello(&mut conn, &target.login, name).await?;
            if node == Node::Master {
                let role = role(&mut conn).await?;
                if role != "master" {
                    return Err(Failure::NotMaster(role));
                }
            }
            Ok(conn)
        };
        match tokio::time::timeout(after, opening).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(Failure::NotMaster(role))) => Err(DialError::NotMaster {
                at: at.clone(),
                role,
            }),
            Ok(Err(Failure::Io(error))) => Err(DialError::Connect(explain(target, &error))),
            Ok(Err(Failure::Redis(error))) => Err(DialError::Connect(match error {
                RespError::Io(io) => explain(target, &io),
                RespError::Closed if target.tls.is_none() => format!(
                    "{at} closed the connection at once (does it expect TLS? use rediss://)"
                ),
                other => format!("{at}: {other}"),
            })),
            Err(_) => Err(DialError::Timeout {
                at: at.clone(),
                after,
            }),
        }
    }

    async fn stream(&self, target: &Target) -> io::Result<Box<dyn Stream>> {
        match &target.addr {
            Addr::Unix(path) => Ok(Box::new(UnixStream::connect(path).await?)),
            Addr::Tcp { host, port } => {
                let mut failure = None;
                for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                    let socket = if addr.is_ipv4() {
                        TcpSocket::new_v4()?
                    } else {
                        TcpSocket::new_v6()?
                    };
                    socket.set_keepalive(self.connect.socket_keepalive)?;
                    socket.set_nodelay(true)?;
                    let tcp = match socket.connect(addr).await {
                        Ok(tcp) => tcp,
                        Err(e) => {
                            failure = Some(e);
                            continue;
                        }
                    };
                    return match &target.tls {
                        Some(tls) => Ok(Box::new(tls.connect(tcp, host).await?)),
                        None => Ok(Box::new(tcp)),
                    };
                }
                Err(failure.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
                }))
            }
        }
    }

    /// Asks each sentinel in turn for the master, as redis-py does: the
    /// first whose view of it is healthy (a master, not down, seen by
    /// enough other sentinels) wins.
    async fn ask_sentinels(&self) -> Result<Addr, DialError> {
        let Targets::Sentinel {
            sentinels,
            master_name,
            min_other_sentinels,
            ask_timeout,
            ..
        } = &self.targets
        else {
            return Err(DialError::Connect("not a sentinel URL".into()));
        };
        let mut why = Vec::new();
        for sentinel in sentinels {
            let asked = async {
                let mut conn = self.open_target(sentinel, Node::Sentinel).await?;
                let answer = conn
                    .call(&[b"SENTINEL", b"MASTER", master_name.as_bytes()])
                    .await
                    .map_err(|e| DialError::Connect(format!("{}: {e}", sentinel.addr)))?;
                Ok::<_, DialError>(healthy_master(&answer, *min_other_sentinels))
            };
            match tokio::time::timeout(*ask_timeout, asked).await {
                Ok(Ok(Ok(master))) => return Ok(master),
                Ok(Ok(Err(not))) => why.push(format!("{}: {not}", sentinel.addr)),
                Ok(Err(error)) => why.push(error.to_string()),
                Err(_) => why.push(format!(
                    "{} did not answer within {ask_timeout:?}",
                    sentinel.addr
                )),
            }
        }
        Err(DialError::Sentinel {
            name: master_name.clone(),
            why: why.join("; "),
        })
    }
}

/// What a connection is to: what it is checked for, and whether it is
/// named (redis-py names no sentinel connection).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    /// A server of the URL: it must answer PING.
    Data,
    /// The master a sentinel named: it must say so itself (ROLE).
    Master,
    Sentinel,
}

/// What went wrong while a connection was set up.
enum Failure {
    Io(io::Error),
    Redis(RespError),
    NotMaster(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl From<RespError> for Failure {
    fn from(e: RespError) -> Failure {
        Failure::Redis(e)
    }
}

/// An IO failure on a connection to `target`, in words: a TLS failure
/// says which certificate and why.
fn explain(target: &Target, error: &io::Error) -> String {
    let at = target.addr.to_string();
    target
        .tls
        .as_ref()
        .and_then(|tls| tls.explain(error, &at))
        .unwrap_or_else(|| format!("cannot connect to {at}: {error}"))
}

/// AUTH (when there is a password), CLIENT SETNAME (when named), then a
/// PING that proves the server answers.
async fn hello(conn: &mut RespConn, login: &Login, name: Option<&str>) -> Result<(), RespError> {
    if let Some(password) = &login.password {
        let mut parts: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &login.username {
            parts.push(user.as_bytes());
        }
        parts.push(password.as_bytes());
        conn.call(&parts).await?;
    }
    if let Some(name) = name {
        conn.call(&[b"CLIENT", b"SETNAME", name.as_bytes()]).await?;
    }
    conn.call(&[b"PING"]).await?;
    Ok(())
}

/// The first element of ROLE's answer: `master`, `slave` or `sentinel`.
async fn role(conn: &mut RespConn) -> Result<String, RespError> {
    match conn.call(&[b"ROLE"]).await? {
        Frame::Array(Some(items)) => match items.first() {
            Some(Frame::Bulk(Some(role))) => Ok(String::from_utf8_lossy(role).into_owned()),
            other => Err(RespError::Protocol(format!("{other:?} as a role"))),
        },
        other => Err(RespError::Protocol(format!("{other:?} to ROLE"))),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test]
    async fn a_sentinel_url_needs_a_master_name() {
        let url = BrokerUrl::parse("sentinel://127.0.0.1:1").unwrap();
        let err = Endpoint::new(&url, None, &TransportOptions::default()).unwrap_err();
        assert!(matches!(err, EndpointError::NoMasterName), "{err}");
    }

    /// The first server of a failover list that answers is the one used,
    /// and the broker status says which.
    #[tokio::test]
    async fn a_failover_list_uses_the_first_server_that_answers() {
        let scratch = kit::Scratch::new().unwrap();
        let redis = kit::Redis::start(&scratch).unwrap();
        let gone = scratch.path().join("gone.sock");
        let url = BrokerUrl::parse(&format!(
            "unix://{}?db=2;unix://{}?db=2",
            gone.display(),
            redis.socket().display()
        ))
        .unwrap();
        let endpoint = Endpoint::new(&url, None, &TransportOptions::default()).unwrap();
        let mut opened = endpoint.open().await.unwrap();
        assert_eq!(opened.at, Addr::Unix(redis.socket().to_path_buf()));
        let detail = endpoint.describe(&opened.at).unwrap();
        assert!(detail.contains("redis.sock"), "{detail}");
        let pong = opened.conn.call(&[b"PING"]).await.unwrap();
        assert_eq!(pong, Frame::Simple(Bytes::from_static(b"PONG")));
    }

    /// Every server of a failover list is tried in turn, and the error
    /// names each one's failure.
    #[tokio::test]
    async fn a_failover_list_tries_every_server_and_says_what_each_said() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
        let url =
            BrokerUrl::parse(&format!("unix://{};unix://{}", a.display(), b.display())).unwrap();
        let endpoint = Endpoint::new(&url, None, &TransportOptions::default()).unwrap();
        let Err(err) = endpoint.open().await else {
            panic!("nothing listens")
        };
        let err = err.to_string();
        assert!(
            err.starts_with("no server of the failover list answered"),
            "{err}"
        );
        assert!(err.contains("a.sock") && err.contains("b.sock"), "{err}");
    }
}
