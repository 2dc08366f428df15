//! Every URL form kombu accepts for Redis, and the errors for the rest.

use super::*;
use crate::broker::ssl::CertReqs;

fn tcp(host: &str, port: u16) -> Addr {
    Addr::Tcp {
        host: host.into(),
        port,
    }
}

/// The only server of a one-server URL.
fn single(input: &str) -> (Server, u32) {
    let url = BrokerUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    match url.servers {
        Servers::Redis(mut servers) if servers.len() == 1 => (servers.remove(0), url.db),
        other => panic!("{input}: {other:?}"),
    }
}

#[test]
fn redis_urls_give_host_port_db_and_credentials() {
    let cases = [
        ("redis://localhost", tcp("localhost", 6379), 0, None, None),
        ("redis://h:6380/3", tcp("h", 6380), 3, None, None),
        (
            "redis://:s%40cret@h/1",
            tcp("h", 6379),
            1,
            None,
            Some("s@cret"),
        ),
        (
            "redis://u:p@10.0.0.1:7000/0",
            tcp("10.0.0.1", 7000),
            0,
            Some("u"),
            Some("p"),
        ),
        ("redis://[::1]:6379/2", tcp("::1", 6379), 2, None, None),
    ];
    for (input, addr, db, user, password) in cases {
        let (server, got_db) = single(input);
        assert_eq!(server.addr, addr, "{input}");
        assert_eq!(got_db, db, "{input}");
        assert_eq!(server.login.username.as_deref(), user, "{input}");
        assert_eq!(server.login.password.as_deref(), password, "{input}");
        assert_eq!(server.tls, UrlTls::Unsaid, "{input}");
    }
}

#[test]
fn a_url_without_a_host_means_the_local_default_redis() {
    for (input, db) in [("redis://", 0), ("redis:///0", 0), ("redis:///4", 4)] {
        let (server, got_db) = single(input);
        assert_eq!(server.addr, tcp("localhost", 6379), "{input}");
        assert_eq!(got_db, db, "{input}");
    }
}

#[test]
fn rediss_and_ssl_parameters_turn_tls_on_with_their_settings() {
    let (server, db) = single(
        "rediss://:pw@127.0.0.1:6390/1?ssl_cert_reqs=required&ssl_ca_certs=%2Ftmp%2Fca.crt\
         &ssl_certfile=/tmp/client.crt&ssl_keyfile=/tmp/client.key",
    );
    assert_eq!(db, 1);
    let UrlTls::On(ssl) = server.tls else {
        panic!("TLS is on")
    };
    assert_eq!(ssl.cert_reqs, Some(CertReqs::Required));
    assert_eq!(ssl.ca_certs, Some("/tmp/ca.crt".into()));
    assert_eq!(ssl.certfile, Some("/tmp/client.crt".into()));
    assert_eq!(ssl.keyfile, Some("/tmp/client.key".into()));
    assert_eq!(
        single("rediss://h").0.tls,
        UrlTls::On(SslOptions::default())
    );
    let (on_redis, _) = single("redis://h?ssl_cert_reqs=CERT_NONE");
    assert!(matches!(on_redis.tls, UrlTls::On(s) if s.cert_reqs == Some(CertReqs::None)));
}

#[test]
fn the_urls_ssl_parameters_override_the_use_ssl_option_key_by_key() {
    let dict = SslOptions {
        cert_reqs: Some(CertReqs::Required),
        ca_certs: Some("/dict/ca".into()),
        certfile: Some("/dict/crt".into()),
        ..SslOptions::default()
    };
    assert_eq!(UrlTls::Unsaid.resolve(None), None, "plain without either");
    assert_eq!(
        UrlTls::Unsaid.resolve(Some(&dict)),
        Some(dict.clone()),
        "the dict turns TLS on"
    );
    let (server, _) = single("rediss://h?ssl_ca_certs=/url/ca");
    let merged = server.tls.resolve(Some(&dict)).unwrap();
    assert_eq!(merged.ca_certs, Some("/url/ca".into()));
    assert_eq!(merged.certfile, Some("/dict/crt".into()));
    assert_eq!(merged.cert_reqs, Some(CertReqs::Required));
    assert_eq!(
        single("rediss://h").0.tls.resolve(None),
        Some(SslOptions::default())
    );
}

#[test]
fn socket_urls_in_kombu_and_redis_py_forms() {
    let (kombu, db) = single("redis+socket:///run/redis.sock?virtual_host=4");
    assert_eq!(kombu.addr, Addr::Unix("/run/redis.sock".into()));
    assert_eq!(db, 4);
    let (plain, db) = single("unix:///tmp/r.sock?db=2");
    assert_eq!(plain.addr, Addr::Unix("/tmp/r.sock".into()));
    assert_eq!(db, 2);
}

#[test]
fn a_failover_list_is_every_server_in_order_with_its_own_settings() {
    let url = BrokerUrl::parse("redis://:a@h1:7001/2; rediss://h2:7002/2;redis://h3").unwrap();
    assert_eq!(url.db, 2);
    let Servers::Redis(servers) = url.servers else {
        panic!("a list of servers")
    };
    let addrs: Vec<_> = servers.iter().map(|s| s.addr.clone()).collect();
    assert_eq!(addrs, [tcp("h1", 7001), tcp("h2", 7002), tcp("h3", 6379)]);
    assert_eq!(servers[0].login.password.as_deref(), Some("a"));
    assert_eq!(servers[1].login.password, None);
    assert!(matches!(servers[1].tls, UrlTls::On(_)));
}

#[test]
fn sentinel_urls_name_the_sentinels_and_the_masters_login() {
    let url = BrokerUrl::parse("sentinel://h1:26379;sentinel://h2:26380/0").unwrap();
    assert_eq!(url.db, 0);
    assert_eq!(
        url.servers,
        Servers::Sentinel {
            sentinels: vec![tcp("h1", 26379), tcp("h2", 26380)],
            master_login: Login::default(),
            master_tls: UrlTls::Unsaid,
        }
    );
    let url =
        BrokerUrl::parse("sentinel://:pw@10.0.0.1/3?ssl_cert_reqs=none;sentinel://10.0.0.2/3")
            .unwrap();
    assert_eq!(url.db, 3);
    let Servers::Sentinel {
        sentinels,
        master_login,
        master_tls,
    } = url.servers
    else {
        panic!("sentinels")
    };
    assert_eq!(sentinels, [tcp("10.0.0.1", 26379), tcp("10.0.0.2", 26379)]);
    assert_eq!(master_login.password.as_deref(), Some("pw"));
    assert!(matches!(master_tls, UrlTls::On(s) if s.cert_reqs == Some(CertReqs::None)));
}

#[test]
fn failover_lists_that_kombu_would_read_two_ways_are_refused_saying_why() {
    let cases = [
        (
            "redis://h1/1;redis://h2/2",
            "names db 2 in URL 2, but the first URL's db is 1",
        ),
        (
            "sentinel://h1;sentinel://h2/1",
            "names db 1 in URL 2, but the first URL's db is 0",
        ),
        (
            "redis://h1;sentinel://h2",
            "mixes sentinel:// with other URLs",
        ),
        ("sentinel://:a@h1;sentinel://:b@h2", "gives URL 2 a login"),
        ("redis://h1;", "an empty URL"),
    ];
    for (input, why) in cases {
        let err = BrokerUrl::parse(input).unwrap_err().to_string();
        assert!(err.contains(why), "{input}: {err}");
    }
}

#[test]
fn bad_urls_are_refused_naming_the_accepted_forms() {
    for (input, why) in [
        ("nonsense", "relative URL without a base"),
        ("redis://h/x", "\"x\" is not a db number"),
        ("amqp://guest@h//", "the amqp:// broker is not supported"),
        ("unix://", "no socket path"),
        (
            "unix:///s.sock?ssl_cert_reqs=none",
            "TLS over a unix socket",
        ),
        (
            "rediss://h?ssl_cert_reqs=maybe",
            "ssl_cert_reqs=\"maybe\" is not one of",
        ),
        (
            "redis+socket:///s?virtual_host=x",
            "virtual_host=x is not a db number",
        ),
    ] {
        let err = BrokerUrl::parse(input).unwrap_err().to_string();
        assert!(err.contains(why), "{input}: {err}");
        assert!(
            err.contains("sentinel://host[:port][/db]"),
            "{input}: {err}"
        );
    }
}

#[test]
fn masked_form_hides_the_password() {
    let url = BrokerUrl::parse("redis://user:hunter2@h:6379/0").unwrap();
    assert_eq!(url.masked(), "redis://user:****@h:6379/0");
    assert!(!format!("{url:?}").contains("hunter2"));
    let list = BrokerUrl::parse("rediss://:x@h1/1;redis://[::1]:7000/1").unwrap();
    assert_eq!(
        list.masked(),
        "rediss://:****@h1:6379/1;redis://[::1]:7000/1"
    );
    let sentinel = BrokerUrl::parse("sentinel://:hunter2@s1;sentinel://s2:26380").unwrap();
    assert_eq!(
        sentinel.masked(),
        "sentinel://:****@s1:26379/0;sentinel://s2:26380/0"
    );
}
