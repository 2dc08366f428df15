//! Remote control of Celery workers through kombu's pidbox (PROTOCOL.md §5):
//! broadcasts with or without replies (`pidbox`), the commands users send
//! (`commands`, checked before they leave), task messages (`message`),
//! where a retry finds a task's exact arguments (`original`), and the
//! service the API calls (`service`).

pub mod commands;
pub mod message;
pub mod original;
pub mod pidbox;
pub mod service;
