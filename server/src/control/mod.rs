//! Remote control of Celery workers through kombu's pidbox (PROTOCOL.md §5):
//! broadcasts with or without replies (`pidbox`), and the inspections and
//! periodic casts Flower makes (`inspector`).

pub mod inspector;
pub mod pidbox;
