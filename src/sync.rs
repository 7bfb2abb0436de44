//! Locks that stay usable after a thread panicked holding them: what a long-running
//! process (the daemon, its servers) wants of a shared map or list.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Takes `m`, even when a thread panicked holding it: the data stays usable, and one
/// panicking thread does not take every other one down with it.
pub fn guard<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
