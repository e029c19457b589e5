//! Timestamps in Graph's and the token service's formats.

use castellan_core::Timestamp;
use chrono::{DateTime, SecondsFormat, Utc};

/// Graph's `2024-01-01T00:00:00Z` (RFC 3339, UTC, whole seconds).
pub fn graph_datetime(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.millis()).map_or_else(String::new, |d| {
        d.to_rfc3339_opts(SecondsFormat::Secs, true)
    })
}

/// Parses an RFC 3339 datetime (Graph request bodies).
pub fn parse_graph_datetime(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| Timestamp(d.timestamp_millis()))
}

/// The token service's `2016-01-09 02:02:12Z`.
pub fn sts_timestamp(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.millis())
        .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = Timestamp::from_secs(1_452_304_932);
        assert_eq!(graph_datetime(t), "2016-01-09T02:02:12Z");
        assert_eq!(sts_timestamp(t), "2016-01-09 02:02:12Z");
        assert_eq!(parse_graph_datetime("2016-01-09T02:02:12Z"), Some(t));
        assert_eq!(parse_graph_datetime("yesterday"), None);
    }
}
