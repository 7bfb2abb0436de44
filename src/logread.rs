//! The log readers under their older path: `crate::logread::X` is `crate::logs::X`, kept so
//! callers written against it compile unchanged. The code lives in [`crate::logs`].

pub use crate::logs::{Line, Query, Source, clean, follow, parse_since, parse_ts, read, strip_ansi};
