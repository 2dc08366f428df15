//! Embeds the built site (the wasm bundle, its JS glue, CSS and public
//! files) into the binary, so `celadon` runs from any directory.
//! `scripts/build` writes the site to `target/site` before building the
//! server; `CELADON_SITE_DIR` points elsewhere. Without a site the server
//! still builds (for `cargo test`, clippy) and serves pages without the
//! browser bundle, saying so in its log.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn main() {
    println!("cargo:rerun-if-env-changed=CELADON_SITE_DIR");
    let site = match env::var_os("CELADON_SITE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../target/site")
        }
    };
    println!("cargo:rerun-if-changed={}", site.display());

    let mut files = Vec::new();
    if site.is_dir() {
        collect(&site, &site, &mut files);
    } else {
        println!(
            "cargo:warning=no site at {}: the binary will serve pages without the UI bundle (run scripts/build)",
            site.display()
        );
    }
    files.sort();

    let mut out =
        String::from("/// Files of the site, by URL path.\npub static ASSETS: &[Asset] = &[\n");
    for (url, path) in &files {
        let bytes = fs::read(path).unwrap_or_default();
        out.push_str(&format!(
            "    Asset {{ path: {url:?}, content_type: {:?}, etag: \"\\\"{:016x}\\\"\", bytes: include_bytes!({:?}) }},\n",
            content_type(url),
            fnv1a(&bytes),
            path.display().to_string(),
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap_or_default()).join("assets.rs");
    if let Err(e) = fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            let abs = fs::canonicalize(&path).unwrap_or(path);
            files.push((url, abs));
        }
    }
}

fn content_type(url: &str) -> &'static str {
    match url.rsplit('.').next().unwrap_or("") {
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A content hash for ETags; stable across builds of the same bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
