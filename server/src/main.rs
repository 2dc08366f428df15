//! The `celadon` binary: read the settings, start logging, bind, run.

use std::{collections::BTreeMap, io::Write, process::ExitCode, sync::Arc};

use anyhow::Context;
use server::config::{self, Settings, Startup};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // `celadon audit …` is a command of its own; every server option is a
    // `--flag`, so a first word cannot be mistaken for one.
    if argv.first().map(String::as_str) == Some("audit") {
        let (out, err, status) = server::audit::cli::run(&argv[1..]).await;
        std::io::stdout().write_all(out.as_bytes())?;
        std::io::stderr().write_all(err.as_bytes())?;
        return Ok(ExitCode::from(status));
    }
    // `celadon alerts export-prometheus …` (issue 21), the same way.
    if argv.first().map(String::as_str) == Some("alerts") {
        let (out, err, status) = server::alerts::cli::run(&argv[1..], &|v| std::env::var(v).ok());
        std::io::stdout().write_all(out.as_bytes())?;
        std::io::stderr().write_all(err.as_bytes())?;
        return Ok(ExitCode::from(status));
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let settings = match config::load(&argv, &env, &cwd) {
        Ok(Startup::Run(settings)) => *settings,
        Ok(Startup::Help(text)) => {
            std::io::stdout().write_all(text.as_bytes())?;
            return Ok(ExitCode::SUCCESS);
        }
        Ok(Startup::Version) => {
            writeln!(std::io::stdout(), "celadon {}", env!("CARGO_PKG_VERSION"))?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => {
            writeln!(std::io::stderr(), "celadon: {error}")?;
            return Ok(ExitCode::from(2));
        }
    };
    serve(settings).await?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let file = match settings.log.file_options() {
        Some(options) => {
            let path = options.path.clone();
            let file = server::logfile::LogFile::open(options, server::clock::now_utc())
                .with_context(|| format!("cannot open the log file {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(server::logfile::Writer(Arc::new(file))),
            )
        }
        None => None,
    };
    let stderr = settings
        .log
        .stderr()
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with(stderr)
        .with(file)
        .init();
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let listeners = server::listen::bind(&settings.listen).await?;
    let broker = settings.config.broker.masked();
    // The main page: the prefix's root.
    let home = format!("{}/", settings.config.url_prefix.as_str());
    for url in listeners.urls() {
        if url.contains("+unix://") {
            tracing::info!(%broker, "celadon listening on {url}, at {home}");
        } else {
            tracing::info!(%broker, "celadon listening on {url}{home}");
        }
    }
    server::run(settings.config, listeners, shutdown_signal()).await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
