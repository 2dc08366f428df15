//! Log files as Flower writes them (tornado's `--log-file-prefix`, with
//! Python's rotating handlers): the log goes to the file named by the
//! prefix, which is rotated by size (`prefix.1` … `prefix.N`, the oldest
//! dropped) or by time (`prefix.2026-12-05`, the oldest beyond N deleted).
//! Times of day are UTC (Python's handlers use local time; celadon's logs
//! are UTC throughout).
//!
//! [`Rotation`] decides when and how to rotate from the time and sizes it is
//! given; [`LogFile`] does the file IO, behind a mutex, for `tracing`.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

/// `--log-rotate-mode` and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Rotate before a record would take the file to `max_bytes` (0: never).
    Size { max_bytes: u64 },
    /// Rotate every `interval` units of `when`.
    Time { when: When, interval: u32 },
}

/// `--log-rotate-when`, as Python's `TimedRotatingFileHandler` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Seconds,
    Minutes,
    Hours,
    Days,
    Midnight,
    /// On this weekday at midnight; 0 is Monday.
    Weekday(u32),
}

impl When {
    pub fn parse(text: &str) -> Result<When, String> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "S" => When::Seconds,
            "M" => When::Minutes,
            "H" => When::Hours,
            "D" => When::Days,
            "MIDNIGHT" => When::Midnight,
            w if w.len() == 2 && w.starts_with('W') => {
                let day = w[1..]
                    .parse::<u32>()
                    .ok()
                    .filter(|d| *d <= 6)
                    .ok_or_else(|| format!("{text:?}: W takes a weekday, W0 (Monday) to W6"))?;
                When::Weekday(day)
            }
            _ => {
                return Err(format!(
                    "{text:?} is not S, M, H, D, midnight or W0-W6, as Python's handler reads it"
                ));
            }
        })
    }

    /// Python's names of the rotated files: the suffix's date format.
    fn suffix_format(self) -> &'static str {
        match self {
            When::Seconds => "%Y-%m-%d_%H-%M-%S",
            When::Minutes => "%Y-%m-%d_%H-%M",
            When::Hours => "%Y-%m-%d_%H",
            When::Days | When::Midnight | When::Weekday(_) => "%Y-%m-%d",
        }
    }
}

/// `--log-file-prefix` and the options that go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileOptions {
    pub path: PathBuf,
    pub rotation: Rotation,
    /// `--log-file-num-backups`: rotated files kept (0: never rotate).
    pub backups: u32,
}

/// The next time to rotate after `from` (a file's start, or the last
/// rotation), as Python's `computeRollover`.
pub fn next_rollover(when: When, interval: u32, from: DateTime<Utc>) -> DateTime<Utc> {
    let interval = i64::from(interval.max(1));
    let midnight = |t: DateTime<Utc>| {
        Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
            .single()
            .unwrap_or(t)
            + Duration::days(1)
    };
    match when {
        When::Seconds => from + Duration::seconds(interval),
        When::Minutes => from + Duration::minutes(interval),
        When::Hours => from + Duration::hours(interval),
        When::Days => from + Duration::days(interval),
        When::Midnight => midnight(from),
        When::Weekday(day) => {
            let today = from.weekday().num_days_from_monday();
            let ahead = (day + 7 - today) % 7;
            midnight(from) + Duration::days(i64::from(ahead))
        }
    }
}

/// When the period ending at `next` began: what its file is named after
/// (Python's `rolloverAt - interval`).
fn period_start(when: When, interval: u32, next: DateTime<Utc>) -> DateTime<Utc> {
    let interval = i64::from(interval.max(1));
    next - match when {
        When::Seconds => Duration::seconds(interval),
        When::Minutes => Duration::minutes(interval),
        When::Hours => Duration::hours(interval),
        When::Days => Duration::days(interval),
        When::Midnight => Duration::days(1),
        When::Weekday(_) => Duration::days(7),
    }
}

/// The open log file and when it next rotates.
struct Open {
    file: File,
    size: u64,
    /// For time rotation: the next rollover, and the start of the current
    /// period (which names the file rotated then).
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A rotating log file, shared by every thread that logs.
pub struct LogFile {
    options: LogFileOptions,
    open: Mutex<Open>,
}

impl LogFile {
    /// Opens (appending to) the file `options` name.
    pub fn open(options: LogFileOptions, now: DateTime<Utc>) -> io::Result<LogFile> {
        let file = append(&options.path)?;
        let meta = file.metadata()?;
        let period = match options.rotation {
            Rotation::Size { .. } => None,
            Rotation::Time { when, interval } => {
                // As Python: a file that exists rotates counting from when
                // it was last written.
                let written = meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or(now)
                    .min(now);
                let next = next_rollover(when, interval, written);
                Some((next, period_start(when, interval, next)))
            }
        };
        Ok(LogFile {
            open: Mutex::new(Open {
                file,
                size: meta.len(),
                period,
            }),
            options,
        })
    }

    /// Writes one record, rotating first when it is time.
    pub fn write_record(&self, record: &[u8], now: DateTime<Utc>) -> io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if self.options.backups > 0 {
            match (&self.options.rotation, open.period) {
                (Rotation::Size { max_bytes }, _)
                    if *max_bytes > 0 && open.size + record.len() as u64 >= *max_bytes =>
                {
                    drop(std::mem::replace(&mut open.file, self.rotate_by_size()?));
                    open.size = 0;
                }
                (Rotation::Time { when, interval }, Some((at, start))) if now >= at => {
                    let name = start.format(when.suffix_format()).to_string();
                    let replaced = self.rotate_by_time(&name)?;
                    drop(std::mem::replace(&mut open.file, replaced));
                    open.size = 0;
                    // As Python: the next period counts from now.
                    let next = next_rollover(*when, *interval, now);
                    open.period = Some((next, period_start(*when, *interval, next)));
                }
                _ => {}
            }
        }
        open.file.write_all(record)?;
        open.size += record.len() as u64;
        Ok(())
    }

    /// `prefix.N-1` → `prefix.N` … `prefix` → `prefix.1`, the oldest dropped.
    fn rotate_by_size(&self) -> io::Result<File> {
        let path = &self.options.path;
        for n in (1..self.options.backups).rev() {
            let from = numbered(path, n);
            if from.exists() {
                std::fs::rename(&from, numbered(path, n + 1))?;
            }
        }
        std::fs::rename(path, numbered(path, 1))?;
        append(path)
    }

    /// `prefix` → `prefix.<start of the period>`; beyond the backups kept,
    /// the oldest rotated files are deleted.
    fn rotate_by_time(&self, suffix: &str) -> io::Result<File> {
        let path = &self.options.path;
        std::fs::rename(path, suffixed(path, suffix))?;
        let mut rotated = rotated_files(path)?;
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.options.backups as usize);
        for old in &rotated[..excess] {
            std::fs::remove_file(old)?;
        }
        append(path)
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    suffixed(path, &n.to_string())
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The files time rotation made of `path`: `path.` and a date (which sort
/// in time order).
fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{base}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let dated = name.strip_prefix(&prefix).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains('-')
        });
        if dated {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// A `tracing` writer onto a shared [`LogFile`]: each formatted event is
/// one record.
#[derive(Clone)]
pub struct Writer(pub std::sync::Arc<LogFile>);

/// One event's bytes, written (and rotated) as a whole when dropped.
pub struct Record {
    file: std::sync::Arc<LogFile>,
    buffer: Vec<u8>,
}

impl Write for Record {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            // Nowhere left to say that logging failed.
            let _ = self
                .file
                .write_record(&self.buffer, crate::clock::now_utc());
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Writer {
    type Writer = Record;

    fn make_writer(&'a self) -> Record {
        Record {
            file: self.0.clone(),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn rotation_times_are_pythons() {
        let t = at("2026-12-05T15:42:10Z"); // a Saturday
        let cases = [
            (When::Seconds, 30, "2026-12-05T15:42:40Z"),
            (When::Minutes, 1, "2026-12-05T15:43:10Z"),
            (When::Hours, 6, "2026-12-05T21:42:10Z"),
            (When::Days, 2, "2026-12-07T15:42:10Z"),
            (When::Midnight, 1, "2026-12-06T00:00:00Z"),
            // Python rolls at the midnight that ends the named day.
            (When::Weekday(0), 1, "2026-12-08T00:00:00Z"),
            (When::Weekday(5), 1, "2026-12-06T00:00:00Z"),
        ];
        for (when, interval, next) in cases {
            assert_eq!(next_rollover(when, interval, t), at(next), "{when:?}");
        }
        assert_eq!(When::parse("midnight"), Ok(When::Midnight));
        assert_eq!(When::parse("w6"), Ok(When::Weekday(6)));
        assert!(When::parse("W7").is_err());
        assert!(When::parse("fortnight").is_err());
    }

    #[test]
    fn by_size_the_file_moves_down_the_numbers_and_the_oldest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("celadon.log");
        let log = LogFile::open(
            LogFileOptions {
                path: path.clone(),
                rotation: Rotation::Size { max_bytes: 10 },
                backups: 2,
            },
            at("2026-12-05T00:00:00Z"),
        )
        .unwrap();
        let now = at("2026-12-05T00:00:01Z");
        for record in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n"] {
            log.write_record(record.as_bytes(), now).unwrap();
        }
        // Python rotates when the record would reach max_bytes.
        assert_eq!(
            files(dir.path()),
            [
                ("celadon.log".into(), "ffff\n".into()),
                ("celadon.log.1".into(), "eeee\n".into()),
                ("celadon.log.2".into(), "dddd\n".into()),
            ]
        );
    }

    #[test]
    fn by_time_the_file_is_named_for_its_period_and_old_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("celadon.log");
        let opened = at("2026-12-05T10:00:00Z");
        let log = LogFile::open(
            LogFileOptions {
                path: path.clone(),
                rotation: Rotation::Time {
                    when: When::Hours,
                    interval: 1,
                },
                backups: 2,
            },
            opened,
        )
        .unwrap();
        // The new file's modification time is now, not `opened`: the first
        // period starts then.
        let start = {
            let open = log.open.lock().unwrap();
            open.period.unwrap().1
        };
        let hour = |h: i64| start + Duration::hours(h) + Duration::seconds(1);
        log.write_record(b"first\n", start).unwrap();
        log.write_record(b"second\n", hour(1)).unwrap();
        log.write_record(b"third\n", hour(2)).unwrap();
        log.write_record(b"fourth\n", hour(3)).unwrap();
        let named = |h: i64| {
            format!(
                "celadon.log.{}",
                (start + Duration::hours(h)).format("%Y-%m-%d_%H")
            )
        };
        assert_eq!(
            files(dir.path()),
            [
                ("celadon.log".into(), "fourth\n".into()),
                (named(1), "second\n".into()),
                (named(2), "third\n".into()),
            ],
            "the first period's file, beyond two backups, is gone"
        );
        // A long silence rotates once, into the next period after it.
        log.write_record(b"later\n", hour(10)).unwrap();
        assert!(files(dir.path()).contains(&(named(3), "fourth\n".into())));
        let next = log.open.lock().unwrap().period.unwrap().0;
        assert!(next > hour(10) && next <= hour(11), "{next}");
    }

    #[test]
    fn without_backups_nothing_rotates_as_in_python() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("celadon.log");
        let log = LogFile::open(
            LogFileOptions {
                path,
                rotation: Rotation::Size { max_bytes: 4 },
                backups: 0,
            },
            at("2026-12-05T00:00:00Z"),
        )
        .unwrap();
        for _ in 0..3 {
            log.write_record(b"xxxx\n", at("2026-12-05T00:00:01Z"))
                .unwrap();
        }
        assert_eq!(
            files(dir.path()),
            [("celadon.log".into(), "xxxx\n".repeat(3))]
        );
    }
}
