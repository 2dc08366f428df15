//! The site's static files, embedded at build time (see `build.rs`).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub etag: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether the browser bundle was embedded; without it pages do not go live.
pub fn has_ui_bundle() -> bool {
    ASSETS.iter().any(|a| a.path.ends_with(".wasm"))
}

impl Asset {
    /// The file, or 304 when the browser's copy is current. File names are
    /// not content-hashed, so browsers must revalidate; the ETag keeps that
    /// cheap.
    pub fn response(&'static self, request: &HeaderMap) -> Response {
        let etag = HeaderValue::from_static(self.etag);
        let cache = HeaderValue::from_static("no-cache");
        if request.get(header::IF_NONE_MATCH) == Some(&etag) {
            return (
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
            )
                .into_response();
        }
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type),
                ),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
            ],
            self.bytes,
        )
            .into_response()
    }
}
