//! Remote control of Celery workers through kombu's pidbox (PROTOCOL.md §5):
//! broadcasts with or without replies (`pidbox`), the commands users send
//! (`commands`, checked before they leave), task messages (`message`),
//! where a retry finds a task's exact arguments (`original`), kept as the
//! JSON text their source holds (`arguments`, with Python's view of that
//! text in `pyjson`), and the service the API calls (`service`).

pub mod arguments;
pub mod commands;
pub mod message;
pub mod original;
pub mod pidbox;
pub mod pyjson;
pub mod service;
