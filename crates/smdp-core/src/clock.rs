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

/// `YYYY-MM-DDTHH:MM:SSZ`, the only date form the Twilio SDK parses back into a datetime.
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_twilio_shaped() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // The spec's example date.
        assert_eq!(iso8601(1_598_990_400), "2020-09-01T20:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
