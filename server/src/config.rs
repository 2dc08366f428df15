//! celadon's command line. Flags keep Flower's names (`--max-tasks` or
//! `--max_tasks`) and its `FLOWER_*` environment variables, so an existing
//! Flower command line or deployment works unchanged.

use clap::Parser;

use crate::broker::url::BrokerUrl;

#[derive(Parser, Debug)]
#[command(
    name = "celadon",
    version,
    about = "A live monitoring dashboard for Celery on Redis",
    after_help = "Every option can also be set with FLOWER_<OPTION> in the environment, as with Flower."
)]
pub struct Args {
    /// Celery broker URL: redis://[[user]:password@]host[:port][/db],
    /// redis+socket:///path/to/redis.sock[?virtual_host=db] or
    /// unix:///path/to/redis.sock[?db=N].
    #[arg(
        long,
        short = 'b',
        env = "CELERY_BROKER_URL",
        default_value = "redis://localhost:6379/0",
        value_parser = parse_broker,
        value_name = "URL"
    )]
    pub broker: BrokerUrl,

    /// Port to serve the dashboard on (0 picks a free one and logs it).
    #[arg(long, env = "FLOWER_PORT", default_value_t = 5555)]
    pub port: u16,

    /// Address to listen on; empty means every interface.
    #[arg(long, env = "FLOWER_ADDRESS", default_value = "")]
    pub address: String,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "FLOWER_LOGGING", default_value = "info")]
    pub logging: String,
}

fn parse_broker(s: &str) -> Result<BrokerUrl, String> {
    BrokerUrl::parse(s).map_err(|e| e.to_string())
}

/// What [`crate::run`] needs, independent of how it was given.
#[derive(Clone, Debug)]
pub struct Config {
    pub broker: BrokerUrl,
}

impl Config {
    pub fn new(broker: BrokerUrl) -> Config {
        Config { broker }
    }
}

impl Args {
    pub fn config(&self) -> Config {
        Config::new(self.broker.clone())
    }

    /// The address to bind, as Flower reads `--address` and `--port`.
    pub fn bind_addr(&self) -> String {
        let host = match self.address.as_str() {
            "" => "0.0.0.0",
            a => a,
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}
