//! Locks (a `Mutex`, an `RwLock`) that stay usable after a thread panicked holding them: what a
//! long-running process (the daemon, its servers) wants of a shared map or list.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Takes `m`, even when a thread panicked holding it: the data stays usable, and one
/// panicking thread does not take every other one down with it.
pub fn guard<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`guard`] for reading an `RwLock`.
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// [`guard`] for writing an `RwLock`.
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
