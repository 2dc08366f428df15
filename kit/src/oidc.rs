//! A real OpenID Connect provider: npm's `oidc-provider` run by
//! `kit/oidc/provider.mjs` under node, the same script the end-to-end tests
//! start (`end2end/tests/support/cluster.ts`). One confidential client
//! ([`CLIENT_ID`], [`CLIENT_SECRET`]) whose redirect URI the caller names,
//! a fixed set of [`OidcUser`]s, and the package's development login form:
//! the login is the user's id, any password is accepted, and no consent
//! page follows (every scope asked for is granted). It listens on a free
//! port of 127.0.0.1 as a [`Proc`] killed on drop, its configuration and
//! log in the [`Scratch`] directory.
//!
//! The package is end2end's devDependency (`npm ci` in end2end, which
//! scripts/setup runs): it is found at `end2end/node_modules/oidc-provider`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, ensure};
use nix::sys::signal::Signal;
use serde_json::{Map, json};

use crate::{Proc, Scratch, free_port, repo_root};

/// How long node may take to load the package and listen on a busy
/// 2-core machine (it takes about 0.3 s idle).
pub const OIDC_START: Duration = Duration::from_secs(20);

/// The client celadon signs on as (`--oauth2-key`).
pub const CLIENT_ID: &str = "celadon";

/// Its secret (`--oauth2-secret`): a test value, as the provider is.
pub const CLIENT_SECRET: &str = "celadon-kit-secret";

/// What the provider prints once it listens.
const READY: &str = "oidc-provider ready at ";

/// A person the provider knows: the login on its form is `login`.
#[derive(Clone, Debug)]
pub struct OidcUser {
    pub login: String,
    pub email: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

impl OidcUser {
    pub fn new(login: &str, email: &str, groups: &[&str]) -> OidcUser {
        OidcUser {
            login: login.to_string(),
            email: email.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// A running provider.
pub struct Oidc {
    proc: Proc,
    issuer: String,
    /// Its configuration file, for a restart.
    config: PathBuf,
    scratch: Scratch,
    starts: u32,
}

impl Oidc {
    /// The script both the kit and the end-to-end tests start.
    pub fn script() -> PathBuf {
        repo_root().join("kit").join("oidc").join("provider.mjs")
    }

    /// Where the package is installed.
    pub fn package() -> PathBuf {
        repo_root()
            .join("end2end")
            .join("node_modules")
            .join("oidc-provider")
    }

    /// Starts the provider for `users`, its client sent back to
    /// `redirect_uri` only, and waits until it listens.
    pub fn start(
        scratch: &Scratch,
        users: &[OidcUser],
        redirect_uri: &str,
    ) -> anyhow::Result<Oidc> {
        let node = Command::new("node").arg("--version").output();
        ensure!(
            node.is_ok_and(|o| o.status.success()),
            "node is not on the PATH: the OpenID provider runs under node (scripts/setup installs nodejs)"
        );
        let package = Oidc::package();
        ensure!(
            package.join("lib").join("index.js").is_file(),
            "oidc-provider is not installed at {}: run scripts/setup (it runs npm ci in end2end)",
            package.display()
        );
        let port = free_port()?;
        let issuer = format!("http://127.0.0.1:{port}");
        let users: Map<String, serde_json::Value> = users
            .iter()
            .map(|u| {
                let claims = json!({"email": u.email, "groups": u.groups});
                (u.login.clone(), claims)
            })
            .collect();
        let config = json!({
            "port": port,
            "issuer": issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [redirect_uri],
            "users": users,
        });
        let file = scratch.path().join("oidc.json");
        std::fs::write(&file, config.to_string())
            .with_context(|| format!("writing {}", file.display()))?;
        let proc = spawn("oidc", &file, &issuer, scratch)?;
        Ok(Oidc {
            proc,
            issuer,
            config: file,
            scratch: scratch.clone(),
            starts: 1,
        })
    }

    /// Stops the provider and starts it again at the same issuer, with the
    /// same client and users: it forgets every session and grant, and signs
    /// with a new key, as a provider that rotated its keys.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.proc.stop(Signal::SIGTERM, OIDC_START).await?;
        self.starts += 1;
        let name = format!("oidc-{}", self.starts);
        self.proc = spawn(&name, &self.config, &self.issuer, &self.scratch)?;
        Ok(())
    }

    /// `http://127.0.0.1:<port>`, as `--oidc-issuer` takes it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }
}

/// Starts `provider.mjs` on `config` as `name` and waits until it says it
/// listens at `issuer`.
fn spawn(name: &str, config: &Path, issuer: &str, scratch: &Scratch) -> anyhow::Result<Proc> {
    let mut command = Command::new("node");
    command
        .arg(Oidc::script())
        .arg(config)
        .env("OIDC_PROVIDER_DIR", Oidc::package());
    let mut proc = Proc::spawn(name, &mut command, scratch)?;
    let ready = format!("{READY}{issuer}");
    proc.ready("the OpenID provider to listen", OIDC_START, |p| {
        p.log().contains(&ready).then_some(())
    })?;
    Ok(proc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_its_discovery_document_at_its_issuer() {
        let scratch = Scratch::new().unwrap();
        let users = [OidcUser::new("ann", "ann@example.com", &["ops"])];
        let oidc = Oidc::start(&scratch, &users, "http://127.0.0.1:1/login").unwrap();
        let url = format!("{}/.well-known/openid-configuration", oidc.issuer());
        let doc: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], oidc.issuer());
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/auth", oidc.issuer())
        );
        let claims = doc["claims_supported"].as_array().unwrap();
        assert!(claims.contains(&json!("groups")), "{doc}");
    }

    #[tokio::test]
    async fn a_restart_keeps_the_issuer_and_signs_with_a_new_key() {
        let scratch = Scratch::new().unwrap();
        let mut oidc = Oidc::start(&scratch, &[], "http://127.0.0.1:1/login").unwrap();
        let jwks = format!("{}/jwks", oidc.issuer());
        let kid = async || -> serde_json::Value {
            let keys: serde_json::Value = reqwest::get(&jwks).await.unwrap().json().await.unwrap();
            keys["keys"][0]["kid"].clone()
        };
        let before = kid().await;
        assert!(before.is_string(), "{before}");
        oidc.restart().await.unwrap();
        assert_ne!(kid().await, before);
    }
}
