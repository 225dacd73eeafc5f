//! Time from one place, so tests can move it (order expiry, session expiry, certificate
//! validity) without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server's clock: the system's, or one a test sets.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    /// Unix seconds, shared with the test that moves it.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock starting at `unix` seconds.
    pub fn manual(unix: u64) -> Self {
        Self::Manual(Arc::new(AtomicU64::new(unix)))
    }

    pub fn now(&self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            Self::Manual(s) => UNIX_EPOCH + Duration::from_secs(s.load(Ordering::SeqCst)),
        }
    }

    /// Unix seconds.
    pub fn unix(&self) -> i64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Self::Manual(s) = self {
            s.fetch_add(by.as_secs(), Ordering::SeqCst);
        }
    }
}
