use std::os::unix::fs::PermissionsExt;

use axum::serve::Listener;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UnixStream},
};

use super::*;

fn listen(address: &str) -> Listen {
    Listen {
        address: address.into(),
        port: 0,
        unix_socket: None,
        https: None,
    }
}

/// Accepts one connection and echoes a byte, so the client knows whom it
/// reached; returns whom the listeners saw.
async fn one_client(listeners: &mut Listeners, connect: impl Future<Output = Box<dyn Io>>) -> Peer {
    let (accepted, mut client) = tokio::join!(listeners.accept(), connect);
    let (mut io, peer) = accepted;
    client.write_all(b"x").await.unwrap();
    let mut byte = [0u8];
    io.read_exact(&mut byte).await.unwrap();
    assert_eq!(&byte, b"x");
    peer
}

/// Flower's default: every interface, IPv4 and IPv6 alike, on one port.
#[tokio::test]
async fn every_interface_takes_ipv4_and_ipv6_clients() {
    let mut listeners = bind(&listen("")).await.unwrap();
    let port = listeners.port().unwrap();
    let urls = listeners.urls();
    let v4 = one_client(&mut listeners, async {
        Box::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap()) as Box<dyn Io>
    })
    .await;
    assert_eq!(v4.addr.unwrap().ip().to_string(), "127.0.0.1", "{urls:?}");
    assert!(!v4.https);
    if urls == [format!("http://0.0.0.0:{port}")] {
        // This host cannot bind IPv6: IPv4 alone is what there is.
        return;
    }
    assert_eq!(urls, [format!("http://[::]:{port}")]);
    let v6 = one_client(&mut listeners, async {
        Box::new(TcpStream::connect(("::1", port)).await.unwrap()) as Box<dyn Io>
    })
    .await;
    assert_eq!(v6.addr.unwrap().ip().to_string(), "::1");
}

#[tokio::test]
async fn a_named_address_is_every_address_it_resolves_to_on_one_port() {
    let listeners = bind(&listen("localhost")).await.unwrap();
    let port = listeners.port().unwrap();
    let urls = listeners.urls();
    assert!(
        urls.contains(&format!("http://127.0.0.1:{port}")),
        "{urls:?}"
    );
    for url in &urls {
        assert!(url.ends_with(&format!(":{port}")), "{urls:?}");
    }
    let e = bind(&listen("no-such-host.invalid")).await.unwrap_err();
    assert!(format!("{e:#}").contains("no-such-host.invalid"), "{e:#}");
}

#[tokio::test]
async fn a_taken_port_is_an_error_naming_it() {
    let first = bind(&listen("127.0.0.1")).await.unwrap();
    let taken = Listen {
        port: first.port().unwrap(),
        ..listen("127.0.0.1")
    };
    let e = bind(&taken).await.unwrap_err();
    assert!(
        format!("{e:#}").contains(&format!("127.0.0.1:{}", taken.port)),
        "{e:#}"
    );
}

/// Tornado's `bind_unix_socket`: a stale socket is replaced, a file that
/// is not a socket is not; the socket is 0600 and goes when celadon does.
#[tokio::test]
async fn a_unix_socket_replaces_a_stale_one_and_is_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("celadon.sock");
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    let listen = Listen {
        unix_socket: Some(path.clone()),
        ..listen("")
    };
    let mut listeners = bind(&listen).await.unwrap();
    assert_eq!(listeners.port(), None);
    assert_eq!(
        listeners.urls(),
        [format!("http+unix://{}", path.display())]
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let peer = one_client(&mut listeners, async {
        Box::new(UnixStream::connect(&path).await.unwrap()) as Box<dyn Io>
    })
    .await;
    assert_eq!(
        peer,
        Peer {
            addr: None,
            https: false
        }
    );
    drop(listeners);
    assert!(!path.exists(), "the socket file is removed");

    std::fs::write(&path, "not a socket").unwrap();
    let e = bind(&listen).await.unwrap_err().to_string();
    assert!(e.contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}
