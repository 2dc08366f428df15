//! The `celadon` wheel and the Python environments it goes into: [`build`]
//! runs maturin (from the venv scripts/setup makes) on the repository, and
//! [`Venv`] is a fresh venv in a [`Scratch`] directory that pip installs
//! into. Both are one-shot commands, not [`crate::Proc`]esses: each waits
//! for its command and, when it fails, says what it ran and what it wrote.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anyhow::{Context, bail, ensure};

use crate::{Scratch, repo_root, venv};

/// A wheel maturin built.
#[derive(Debug)]
pub struct Built {
    pub wheel: PathBuf,
    /// What cargo compiled for it (`Compiling …` lines): nothing when the
    /// build before it had made the binary already.
    pub compiled: Vec<String>,
}

/// Variables cargo sets for the test process it runs (by prefix), which
/// maturin's cargo must not inherit: a build script that watches one (ring
/// watches `CARGO_MANIFEST_DIR` and `OUT_DIR`) would be rerun, and
/// everything above it rebuilt.
const CARGO_TEST_VARS: &[&str] = &[
    "OUT_DIR",
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
];

/// Builds the wheel with the Cargo `profile` into `<scratch>/wheels`. With
/// the profile and features the tests were built with (`dev`), cargo finds
/// the binary built already, and the wheel carries the very binary the
/// tests ran.
pub fn build(scratch: &Scratch, profile: &str) -> anyhow::Result<Built> {
    let maturin = venv().join("bin/maturin");
    ensure!(
        maturin.exists(),
        "{} is missing: run scripts/setup",
        maturin.display()
    );
    let out = scratch.path().join("wheels");
    let mut command = Command::new(&maturin);
    command
        .args(["build", "--profile", profile, "--out"])
        .arg(&out)
        .current_dir(repo_root());
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if CARGO_TEST_VARS.iter().any(|v| name.starts_with(v)) {
            command.env_remove(&var);
        }
    }
    let output = run(&mut command)?;
    let compiled = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Compiling "))
        .map(str::to_string)
        .collect();
    let wheels: Vec<PathBuf> = std::fs::read_dir(&out)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    match wheels.as_slice() {
        [wheel] if wheel.extension().is_some_and(|e| e == "whl") => Ok(Built {
            wheel: wheel.clone(),
            compiled,
        }),
        other => bail!("maturin left {other:?} in {}, not one wheel", out.display()),
    }
}

/// The requirement lines of `pytasks/requirements.txt` (what scripts/setup
/// installs) for the packages `names`, so that a fresh venv gets the same
/// pinned Celery.
pub fn pinned(names: &[&str]) -> anyhow::Result<Vec<String>> {
    let path = repo_root().join("pytasks/requirements.txt");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    names
        .iter()
        .map(|name| {
            text.lines()
                .map(str::trim)
                .find(|line| {
                    let package = line.split(['=', '[', '<', '>', ' ']).next().unwrap_or("");
                    package.eq_ignore_ascii_case(name)
                })
                .map(str::to_string)
                .with_context(|| format!("{} pins no {name}", path.display()))
        })
        .collect()
}

/// A fresh Python venv.
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// `python3 -m venv <scratch>/<name>`.
    pub fn create(scratch: &Scratch, name: &str) -> anyhow::Result<Venv> {
        let dir = scratch.path().join(name);
        run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
        Ok(Venv { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `<venv>/bin/<tool>`.
    pub fn bin(&self, tool: &str) -> PathBuf {
        self.dir.join("bin").join(tool)
    }

    /// `pip install ARGS` (requirements, `-r` files, wheels).
    pub fn install<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> anyhow::Result<()> {
        self.pip(&["install", "--disable-pip-version-check", "-q"], args)
    }

    /// `pip uninstall -y PACKAGE`.
    pub fn uninstall(&self, package: &str) -> anyhow::Result<()> {
        self.pip(
            &["uninstall", "--disable-pip-version-check", "-y"],
            &[package],
        )
    }

    fn pip<S: AsRef<std::ffi::OsStr>>(&self, command: &[&str], args: &[S]) -> anyhow::Result<()> {
        run(Command::new(self.bin("pip")).args(command).args(args)).map(drop)
    }
}

/// Runs `command` to its end; an error, if it fails, shows what it wrote.
fn run(command: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .with_context(|| format!("running {shown}"))?;
    ensure!(
        out.status.success(),
        "{shown} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}
