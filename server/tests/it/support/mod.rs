//! Test-only helpers over the kit (`kit/`, which starts Redis, Celery
//! workers, Flower and celadon): the usual setup, the HTTP checks, and a
//! websocket watcher that folds messages as the browser does.

pub mod cluster;
pub mod http;
pub mod watch;
