//! Sign-on with a real OpenID Connect provider (the kit's oidc-provider):
//! the whole code flow, hop by hop, from a page to the provider's login
//! form and back to a session cookie; then what each role may do with
//! that session, the CSRF token its changes need, the `--auth` check, a
//! forged `state`, signing out, and a provider that is down.

use std::{collections::BTreeMap, time::Duration};

use app::wire::session::{Person, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use kit::{Celadon, Oidc, OidcUser, Redis, Scratch, Worker, celery::WORKER_START, oidc};

use crate::support::browser::{Answer, Browser};

const ROLES: &str = "--roles=admin=group:celery-admins,operator=group:celery-operators";

/// The people the provider knows; their role comes from their groups.
fn people() -> Vec<OidcUser> {
    vec![
        OidcUser::new("alice", "alice@example.com", &["celery-operators"]),
        OidcUser::new("ada", "ada@example.com", &["celery-admins"]),
        OidcUser::new("victor", "victor@example.com", &[]),
        OidcUser::new("mallory", "mallory@other.org", &["celery-admins"]),
    ]
}

/// Redis, the provider and celadon signing on with it, in-process.
struct SignOn {
    dir: Scratch,
    redis: Redis,
    oidc: Oidc,
    celadon: Celadon,
}

/// celadon's configuration from `flags`, as its command line gives it.
fn configure(dir: &Scratch, redis: &Redis, flags: &[String]) -> server::Config {
    let mut argv = vec![
        format!("--broker=unix://{}?db=0", redis.socket().display()),
        "--persistent=false".to_string(),
    ];
    argv.extend_from_slice(flags);
    let startup = server::config::load(&argv, &BTreeMap::new(), dir.path());
    match startup.unwrap_or_else(|e| panic!("{argv:?}: {e}")) {
        server::config::Startup::Run(settings) => settings.config,
        _ => panic!("celadon would not run with {argv:?}"),
    }
}

/// The sign-on flags for a provider at `issuer`.
fn sign_on_flags(issuer: &str) -> Vec<String> {
    vec![
        "--auth-provider=oidc".into(),
        format!("--oidc-issuer={issuer}"),
        format!("--oauth2-key={}", oidc::CLIENT_ID),
        format!("--oauth2-secret={}", oidc::CLIENT_SECRET),
        "--oidc-scopes=openid,email,profile,groups".into(),
        ROLES.into(),
        "--default-role=viewer".into(),
        "--cookie-secret=a test's cookie secret".into(),
    ]
}

impl SignOn {
    /// Starts everything, celadon with the sign-on flags and `extra`.
    async fn start(extra: &[&str]) -> SignOn {
        let dir = Scratch::new().expect("a scratch directory");
        let redis = Redis::start(&dir).expect("redis-server starts");
        // The provider must know celadon's redirect URI, and celadon the
        // provider's issuer: celadon's port is taken first.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for celadon");
        let port = listener.local_addr().unwrap().port();
        let redirect = format!("http://127.0.0.1:{port}/login");
        let oidc = Oidc::start(&dir, &people(), &redirect).expect("the OpenID provider starts");
        let mut flags = sign_on_flags(oidc.issuer());
        flags.extend(extra.iter().map(|f| f.to_string()));
        let celadon = Celadon::start_on(configure(&dir, &redis, &flags), listener)
            .await
            .expect("celadon starts");
        SignOn {
            dir,
            redis,
            oidc,
            celadon,
        }
    }

    fn url(&self, path: &str) -> String {
        self.celadon.url(path)
    }

    /// Goes from celadon's home page through the provider's login form as
    /// `login`, checking every hop, and returns celadon's answer to the
    /// provider's redirect back (`/login?code=…&state=…`), not followed.
    async fn sign_on(&self, browser: &mut Browser, login: &str) -> Answer {
        let home = browser.get(&self.url("/")).await;
        assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.body);
        let to_login = home.location();
        assert_eq!(to_login.as_str(), self.url("/login?next=%2F"));

        let login_page = browser.get(to_login.as_str()).await;
        assert_eq!(
            login_page.status,
            StatusCode::SEE_OTHER,
            "{}",
            login_page.body
        );
        assert!(login_page.set_cookie("celadon_signon").is_some());
        let auth = login_page.location();
        assert!(
            auth.as_str()
                .starts_with(&format!("{}/auth?", self.oidc.issuer())),
            "{auth}"
        );
        let asked: BTreeMap<_, _> = auth.query_pairs().collect();
        assert_eq!(asked["client_id"], oidc::CLIENT_ID);
        assert_eq!(asked["redirect_uri"], self.url("/login"));
        assert_eq!(asked["code_challenge_method"], "S256");
        for scope in ["openid", "email", "profile", "groups"] {
            assert!(asked["scope"].split(' ').any(|s| s == scope), "{auth}");
        }

        let to_form = browser.get(auth.as_str()).await;
        assert_eq!(to_form.status, StatusCode::SEE_OTHER, "{}", to_form.body);
        let form = browser.get(to_form.location().as_str()).await;
        assert_eq!(form.status, StatusCode::OK);
        let (action, fields) = form.form(&[("login", login), ("password", "any password")]);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["prompt", "login", "password"], "the dev login form");

        let submitted = browser.post_form(&action, &fields).await;
        assert_eq!(
            submitted.status,
            StatusCode::SEE_OTHER,
            "{}",
            submitted.body
        );
        let resumed = browser.get(submitted.location().as_str()).await;
        assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.body);
        let back = resumed.location();
        assert!(
            back.as_str().starts_with(&self.url("/login?code=")),
            "no consent page, straight back to celadon: {back}"
        );
        browser.get(back.as_str()).await
    }

    /// A browser signed on as `login`, and the person its pages are for.
    async fn signed_on(&self, login: &str) -> (Browser, Person) {
        let mut browser = Browser::new();
        let back = self.sign_on(&mut browser, login).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let person = self.person(&mut browser).await;
        (browser, person)
    }

    /// The person `<meta name="celadon-person">` names on the home page.
    async fn person(&self, browser: &mut Browser) -> Person {
        let page = browser.get(&self.url("/")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let meta = page
            .meta(app::person::META_NAME)
            .expect("the person's meta tag");
        serde_json::from_str(&meta).unwrap_or_else(|e| panic!("{meta}: {e}"))
    }

    /// Starts a worker and waits until celadon, asked by `browser`, knows it.
    async fn worker(&self, browser: &mut Browser, name: &str) -> (Worker, String) {
        let worker = Worker::start(&self.redis, name, &self.dir).expect("a celery worker starts");
        let hostname = worker.hostname.clone();
        let start = tokio::time::Instant::now();
        loop {
            let workers = browser.get(&self.url("/api/workers")).await;
            assert_eq!(workers.status, StatusCode::OK, "{}", workers.body);
            let workers: Value = serde_json::from_str(&workers.body).expect("JSON");
            if workers.get(&hostname).is_some() {
                return (worker, hostname);
            }
            assert!(
                start.elapsed() < WORKER_START,
                "celadon never saw {hostname}:\n{}",
                worker.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// POSTs `path` as `browser`, with `csrf` in X-CSRF-Token when given.
async fn post(
    c: &SignOn,
    browser: &mut Browser,
    path: &str,
    csrf: Option<&str>,
) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = csrf.map(|t| ("x-csrf-token", t)).into_iter().collect();
    let answer = browser
        .send(Method::POST, &c.url(path), &headers, None)
        .await;
    let json = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    (answer.status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_on_at_the_provider_and_may_revoke_but_not_shut_workers_down() {
    let c = SignOn::start(&[]).await;
    let mut alice = Browser::new();
    let back = c.sign_on(&mut alice, "alice").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(
        back.location().as_str(),
        c.url("/"),
        "back where she started"
    );
    let set = back
        .set_cookie("celadon_session")
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains("alice"), "the session is encrypted: {set}");
    assert!(
        alice.cookie("celadon_signon").is_none(),
        "the sign-on's own cookie is removed"
    );

    let person = c.person(&mut alice).await;
    assert_eq!(person.name.as_deref(), Some("alice@example.com"));
    assert_eq!(person.role, Some(Role::Operator));
    assert!(person.signed_on);
    let csrf = person.csrf.expect("a CSRF token");

    let (_worker, hostname) = c.worker(&mut alice, "signon").await;
    let id = "4f4b1c3e-0000-4000-8000-00000000a11c";
    let revoke = format!("/api/task/revoke/{id}");
    let (status, answer) = post(&c, &mut alice, &revoke, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("X-CSRF-Token"),
        "{answer}"
    );
    let (status, answer) = post(&c, &mut alice, &revoke, Some("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = post(&c, &mut alice, &revoke, Some(&csrf)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["replies"][&hostname]["ok"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{answer}"
    );

    let shutdown = format!("/api/worker/shutdown/{hostname}");
    let (status, answer) = post(&c, &mut alice, &shutdown, Some(&csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(
        answer["error"],
        "alice@example.com is operator here; this needs the admin role"
    );
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_only_look_and_an_admin_may_shut_a_worker_down() {
    let c = SignOn::start(&[]).await;
    let (mut victor, viewer) = c.signed_on("victor").await;
    assert_eq!(viewer.name.as_deref(), Some("victor@example.com"));
    assert_eq!(viewer.role, Some(Role::Viewer), "no group: --default-role");
    let (mut ada, admin) = c.signed_on("ada").await;
    assert_eq!(admin.role, Some(Role::Admin));

    let (worker, hostname) = c.worker(&mut ada, "admin").await;
    let tasks = victor.get(&c.url("/api/tasks")).await;
    assert_eq!(tasks.status, StatusCode::OK, "a viewer reads");
    let revoke = "/api/task/revoke/4f4b1c3e-0000-4000-8000-0000000000b1";
    let csrf = viewer.csrf.as_deref();
    let (status, answer) = post(&c, &mut victor, revoke, csrf).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(
        answer["error"],
        "victor@example.com is viewer here; this needs the operator role"
    );

    // Its `worker-online` may come before its pidbox subscription reaches
    // Redis: a broadcast nobody heard is a 503 and sent again.
    let shutdown = format!("/api/worker/shutdown/{hostname}");
    let start = tokio::time::Instant::now();
    let (status, answer) = loop {
        let (status, answer) = post(&c, &mut ada, &shutdown, admin.csrf.as_deref()).await;
        if status != StatusCode::SERVICE_UNAVAILABLE || start.elapsed() > WORKER_START {
            break (status, answer);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, StatusCode::OK, "{answer}");
    kit::poll::until_async("the worker to shut down", WORKER_START, || {
        std::future::ready(Ok(worker
            .log()
            .contains("Got shutdown from remote")
            .then_some(())))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.log()));
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_the_auth_pattern_does_not_allow_gets_no_session() {
    let c = SignOn::start(&["--auth=.*@example.com"]).await;
    let mut mallory = Browser::new();
    let back = c.sign_on(&mut mallory, "mallory").await;
    assert_eq!(back.status, StatusCode::FORBIDDEN, "{}", back.body);
    assert!(back.body.contains("mallory@other.org"), "{}", back.body);
    assert!(back.set_cookie("celadon_session").is_none());
    assert!(mallory.cookie("celadon_session").is_none());
    let tasks = mallory.get(&c.url("/api/tasks")).await;
    assert_eq!(tasks.status, StatusCode::UNAUTHORIZED);

    let (_alice, person) = c.signed_on("alice").await;
    assert_eq!(person.role, Some(Role::Operator), "the pattern lets her in");
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_whose_state_is_not_this_browsers_is_refused() {
    let c = SignOn::start(&[]).await;
    let mut browser = Browser::new();
    let home = browser.get(&c.url("/")).await;
    let login = browser.get(home.location().as_str()).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let state = login
        .location()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");

    let forged = format!("/login?code=whatever&state=not-{state}");
    let answer = browser.get(&c.url(&forged)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("does not belong"), "{}", answer.body);
    assert!(answer.set_cookie("celadon_session").is_none());

    // A browser that started no sign-on has no state to match at all.
    let mut stranger = Browser::new();
    let answer = stranger
        .get(&c.url(&format!("/login?code=whatever&state={state}")))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(answer.set_cookie("celadon_session").is_none());
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session() {
    let c = SignOn::start(&[]).await;
    let (mut alice, _) = c.signed_on("alice").await;
    assert_eq!(alice.get(&c.url("/api/tasks")).await.status, StatusCode::OK);
    let out = alice.get(&c.url("/logout")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let removed = out
        .set_cookie("celadon_session")
        .expect("the cookie removed");
    assert!(removed.contains("Max-Age=0"), "{removed}");
    assert!(alice.cookie("celadon_session").is_none());
    let tasks = alice.get(&c.url("/api/tasks")).await;
    assert_eq!(tasks.status, StatusCode::UNAUTHORIZED, "{}", tasks.body);
    let home = alice.get(&c.url("/")).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "back to the sign-on");
    // What the signed-out page loads starts no sign-on, which the
    // provider, still knowing her, would complete unseen: its stylesheet
    // is the site's own file, open to all; anything else that is not a
    // navigation is a 401.
    let style = [("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "style")];
    let css = alice
        .send(Method::GET, &c.url("/pkg/celadon.css"), &style, None)
        .await;
    assert!(css.headers.get("location").is_none(), "{:?}", css.headers);
    assert_ne!(
        css.status,
        StatusCode::UNAUTHORIZED,
        "the site's files are open"
    );
    let image = [("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "image")];
    let page = alice
        .send(Method::GET, &c.url("/tasks"), &image, None)
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.headers.get("location").is_none());
    c.celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_provider_down_celadon_serves_and_the_sign_on_says_why() {
    let dir = Scratch::new().unwrap();
    let redis = Redis::start(&dir).unwrap();
    let nobody = format!("http://127.0.0.1:{}", kit::free_port().unwrap());
    let celadon = Celadon::start_with(configure(&dir, &redis, &sign_on_flags(&nobody)))
        .await
        .expect("celadon starts without its provider");
    let mut browser = Browser::new();
    let health = browser.get(&celadon.url("/healthcheck")).await;
    assert_eq!(health.status, StatusCode::OK);
    let login = browser.get(&celadon.url("/login")).await;
    assert_eq!(login.status, StatusCode::BAD_GATEWAY, "{}", login.body);
    assert!(
        login
            .body
            .contains("the sign-on provider could not be reached"),
        "{}",
        login.body
    );
    assert!(login.set_cookie("celadon_signon").is_none());
    celadon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_changed_its_signing_key_is_read_again() {
    let mut c = SignOn::start(&[]).await;
    let (_alice, before) = c.signed_on("alice").await;
    assert_eq!(before.role, Some(Role::Operator));
    // celadon read the provider's keys at the first sign-on; the provider
    // now signs with a key it did not publish then.
    c.oidc.restart().await.expect("the provider restarts");
    let mut ada = Browser::new();
    let back = c.sign_on(&mut ada, "ada").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(c.person(&mut ada).await.role, Some(Role::Admin));
    c.celadon.stop().await.unwrap();
}
