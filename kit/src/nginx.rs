//! Debian's nginx (scripts/setup installs it) as a reverse proxy in front
//! of celadon at a path prefix, two ways ([`Proxying`]): passing the
//! websocket on, or as Flower's documentation configures it, which passes
//! no `Upgrade` header. It runs in the foreground as one process, with its
//! configuration, pid, logs and temp files in the [`Scratch`] directory,
//! on a free port of 127.0.0.1; the configuration is checked (`nginx -t`)
//! before it starts, and it is ready once it accepts connections.
//!
//! The configuration is `kit/nginx/nginx.conf` with the location's body
//! from `kit/nginx/<way>.location`: the end-to-end tests
//! (`end2end/tests/support/cluster.ts`) fill in the same files.

use std::{net::TcpStream, path::Path, process::Command, time::Duration};

use anyhow::{Context, bail};
use app::base::Base;

use crate::{Proc, Scratch, free_port};

/// Debian's nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// How long nginx may take to accept connections.
pub const NGINX_START: Duration = Duration::from_secs(10);

const CONF: &str = include_str!("../nginx/nginx.conf");

/// How nginx passes requests on to celadon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proxying {
    /// With the websocket's `Upgrade` and `Connection` headers, over
    /// HTTP/1.1, unbuffered: what the README says celadon needs.
    WebSocket,
    /// Flower 2.2's documented configuration (`docs/reverse-proxy.rst`):
    /// no `Upgrade` header, so every websocket is refused.
    FlowerDocs,
}

impl Proxying {
    /// The name of its `kit/nginx/<name>.location` file, and of its
    /// process.
    pub fn name(self) -> &'static str {
        match self {
            Proxying::WebSocket => "websocket",
            Proxying::FlowerDocs => "flower",
        }
    }

    fn location(self) -> &'static str {
        match self {
            Proxying::WebSocket => include_str!("../nginx/websocket.location"),
            Proxying::FlowerDocs => include_str!("../nginx/flower.location"),
        }
    }
}

/// nginx's configuration: everything in `dir`, listening on `port`,
/// proxying `base` to celadon on `upstream`.
pub fn config(dir: &Path, port: u16, base: Base, upstream: u16, proxying: Proxying) -> String {
    CONF.replace("@LOCATION@", proxying.location().trim_end_matches('\n'))
        .replace("@DIR@", &dir.display().to_string())
        .replace("@PORT@", &port.to_string())
        .replace("@PREFIX@", base.as_str())
        .replace("@UPSTREAM@", &upstream.to_string())
}

/// A running nginx.
pub struct Nginx {
    proc: Proc,
    port: u16,
    base: Base,
}

impl Nginx {
    /// Whether nginx is installed.
    pub fn installed() -> bool {
        Path::new(NGINX).exists()
    }

    /// Starts nginx in `scratch` (in its own directory there, one per
    /// way of proxying) in front of celadon on `upstream`, served under
    /// `base`, and waits until it accepts connections.
    pub fn start(
        scratch: &Scratch,
        upstream: u16,
        base: Base,
        proxying: Proxying,
    ) -> anyhow::Result<Nginx> {
        let name = format!("nginx-{}", proxying.name());
        let dir = scratch.path().join(&name);
        std::fs::create_dir_all(dir.join("tmp"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, port, base, upstream, proxying))
            .with_context(|| format!("writing {}", conf.display()))?;
        let args = |test: bool| {
            let mut command = Command::new(NGINX);
            if test {
                command.arg("-t");
            }
            command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf)
                // Errors before the configuration is read go here too,
                // not to /var/log/nginx.
                .arg("-e")
                .arg(dir.join("error.log"));
            command
        };
        let checked = args(true)
            .output()
            .map_err(|e| anyhow::anyhow!("{NGINX}: {e} (scripts/setup installs nginx)"))?;
        if !checked.status.success() {
            bail!(
                "nginx refused its configuration ({}):\n{}",
                conf.display(),
                String::from_utf8_lossy(&checked.stderr)
            );
        }
        let mut proc = Proc::spawn(&name, &mut args(false), scratch)?;
        proc.ready("nginx to accept connections", NGINX_START, |_| {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        Ok(Nginx { proc, port, base })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`, `path` under the prefix.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.base.href(path))
    }

    pub fn proc(&self) -> &Proc {
        &self.proc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_nothing_outside_its_directory() {
        let base = Base::parse("flower").unwrap();
        // Only named, never created: the configuration is text.
        let dir = std::env::temp_dir().join("celadon-nginx-config-test");
        let inside = format!("{}/", dir.display());
        for proxying in [Proxying::WebSocket, Proxying::FlowerDocs] {
            let conf = config(&dir, 8080, base, 5555, proxying);
            assert!(!conf.contains('@'), "every placeholder filled:\n{conf}");
            assert!(!conf.contains("localhost"), "{conf}");
            assert!(conf.contains("location /flower/ {"), "{conf}");
            assert!(conf.contains("proxy_pass http://127.0.0.1:5555;"), "{conf}");
            for line in conf
                .lines()
                .filter(|l| l.contains("_path ") || l.contains(".log"))
            {
                assert!(line.contains(&inside), "{line}");
            }
            let upgrade = conf.contains("proxy_set_header Upgrade");
            assert_eq!(upgrade, proxying == Proxying::WebSocket, "{conf}");
        }
    }
}
