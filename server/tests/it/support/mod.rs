//! Test-only helpers over the kit (`kit/`, which starts Redis, Celery
//! workers, Flower and celadon): the usual setup, the HTTP checks, a
//! browser over HTTP that signs on hop by hop, and a websocket watcher
//! that folds messages as the browser does.

pub mod browser;
pub mod cluster;
pub mod http;
pub mod watch;
