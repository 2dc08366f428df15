//! The fields celadon reads from an event, as it reads them: filled by the
//! scanner (`scan`, the fast path) or by serde (`events`, the general one),
//! then taken out into typed events by `events`. Pure.

use std::borrow::Cow;

use serde::Deserialize;

/// Every field celadon reads from any event; the rest are ignored.
/// Filled by `scan` (fast) or serde (general).
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) hostname: Option<Cow<'a, str>>,
    pub(crate) timestamp: Option<f64>,
    pub(crate) utcoffset: Option<f64>,
    pub(crate) pid: Option<u32>,
    pub(crate) clock: Option<u64>,
    // worker events
    pub(crate) freq: Option<f64>,
    pub(crate) active: Option<u64>,
    pub(crate) processed: Option<u64>,
    pub(crate) loadavg: Option<[f64; 3]>,
    #[serde(borrow)]
    pub(crate) sw_ident: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) sw_ver: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) sw_sys: Option<Cow<'a, str>>,
    // task events
    #[serde(borrow)]
    pub(crate) uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) args: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) kwargs: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) root_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) parent_id: Option<Cow<'a, str>>,
    pub(crate) retries: Option<u32>,
    #[serde(borrow)]
    pub(crate) eta: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) expires: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) queue: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) exchange: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) routing_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) result: Option<Cow<'a, str>>,
    pub(crate) runtime: Option<f64>,
    #[serde(borrow)]
    pub(crate) exception: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) traceback: Option<Cow<'a, str>>,
    pub(crate) terminated: Option<bool>,
    pub(crate) signum: Option<i32>,
    pub(crate) expired: Option<bool>,
    pub(crate) requeue: Option<bool>,
}
