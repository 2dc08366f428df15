//! `celadon audit verify [--db PATH_OR_URL]`: opens the history to read
//! only, walks the audit trail's chain, and says whether it is intact or
//! where it first breaks and why. `main.rs` hands it the arguments after
//! `audit`; nothing here is a server flag.

use std::path::PathBuf;

use super::trail::TrailReader;
use crate::store::{Location, PgUrl};

/// The exit status of an intact chain, of a broken one, and of a command
/// that could not check (bad arguments, a store that would not open).
pub const INTACT: u8 = 0;
pub const BROKEN: u8 = 1;
pub const UNCHECKED: u8 = 2;

const USAGE: &str = "usage: celadon audit verify [--db PATH_OR_URL]\n\
\n\
Walks the audit trail kept in the history store (the SQLite file, by default\n\
celadon.db, or a postgresql:// URL) and reports whether its hash chain is\n\
intact. Exit status: 0 intact, 1 broken, 2 could not check.\n";

/// Runs `celadon audit <args>`; returns what to print on stdout and on
/// stderr, and the exit status.
pub async fn run(args: &[String]) -> (String, String, u8) {
    let location = match parse(args) {
        Ok(Some(location)) => location,
        Ok(None) => return (USAGE.to_string(), String::new(), INTACT),
        Err(why) => {
            return (
                String::new(),
                format!("celadon audit: {why}\n{USAGE}"),
                UNCHECKED,
            );
        }
    };
    if let Location::Sqlite(path) = &location
        && !path.exists()
    {
        let why = format!("celadon audit: {}: no such file\n", path.display());
        return (String::new(), why, UNCHECKED);
    }
    match TrailReader::at(&location).verify().await {
        Ok((entries, None)) => (
            format!("{entries} entries, chain intact\n"),
            String::new(),
            INTACT,
        ),
        Ok((entries, Some(broken))) => (
            format!(
                "{entries} entries, chain broken at entry {} ({}): {}\n",
                broken.seq,
                broken.kind.as_str(),
                broken.why
            ),
            String::new(),
            BROKEN,
        ),
        Err(error) => (
            String::new(),
            format!("celadon audit: {error}\n"),
            UNCHECKED,
        ),
    }
}

/// Where to verify; `None` for help.
fn parse(args: &[String]) -> Result<Option<Location>, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("verify") => {}
        Some("-h" | "--help" | "help") | None => return Ok(None),
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut db = "celadon.db".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().ok_or("--db needs a value")?.clone(),
            "-h" | "--help" => return Ok(None),
            other => match other.strip_prefix("--db=") {
                Some(value) => db = value.to_string(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    if PgUrl::claims(&db) {
        return PgUrl::parse(&db)
            .map(|url| Some(Location::Postgres(url)))
            .map_err(|e| e.to_string());
    }
    Ok(Some(Location::Sqlite(PathBuf::from(db))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verify_takes_a_file_or_a_url_and_nothing_else() {
        assert_eq!(
            parse(&args(&["verify"])),
            Ok(Some(Location::Sqlite("celadon.db".into())))
        );
        assert_eq!(
            parse(&args(&["verify", "--db", "/x/h.db"])),
            Ok(Some(Location::Sqlite("/x/h.db".into())))
        );
        assert_eq!(
            parse(&args(&["verify", "--db=/x/h.db"])),
            Ok(Some(Location::Sqlite("/x/h.db".into())))
        );
        assert!(matches!(
            parse(&args(&["verify", "--db", "postgresql://u@h/db"])),
            Ok(Some(Location::Postgres(_)))
        ));
        assert!(parse(&args(&["verify", "--port=5555"])).is_err());
        assert!(parse(&args(&["prune"])).is_err());
        assert_eq!(parse(&args(&[])), Ok(None));
    }
}
