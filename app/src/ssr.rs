//! What the server plugs into the UI while rendering a page: where the first
//! snapshot of a view comes from. The UI names no server type; the server
//! provides a [`SnapshotSource`] through Leptos context, beside the
//! [`crate::base::Base`] it serves under.

use std::{future::Future, pin::Pin, sync::Arc};

use crate::wire::{Snapshot, View};

pub type SnapshotFuture = Pin<Box<dyn Future<Output = Option<Snapshot>> + Send>>;

/// Answers "what does this view show now?" for server-side rendering.
#[derive(Clone)]
pub struct SnapshotSource(Arc<dyn Fn(View) -> SnapshotFuture + Send + Sync>);

impl SnapshotSource {
    pub fn new(f: impl Fn(View) -> SnapshotFuture + Send + Sync + 'static) -> Self {
        SnapshotSource(Arc::new(f))
    }

    pub fn get(&self, view: View) -> SnapshotFuture {
        (self.0)(view)
    }
}
