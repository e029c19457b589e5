//! Error bodies: the token service's AADSTS shape and Graph's `{"error":{...}}` shape, with the
//! HTTP status each maps to.

use castellan_core::error::{AadstsError, Code, Surface};
use castellan_core::{DirectoryError, Timestamp};
use serde_json::{json, Value};

use crate::time::{graph_datetime, sts_timestamp};

/// HTTP status for a token-endpoint error: the error table's (`core::error::TABLE`).
pub fn token_error_status(e: &AadstsError) -> u16 {
    e.status()
}

/// The token endpoint's error body (Microsoft identity platform error response shape).
pub fn token_error_body(
    e: &AadstsError,
    trace_id: &str,
    correlation_id: &str,
    now: Timestamp,
) -> Value {
    let ts = sts_timestamp(now);
    json!({
        "error": e.error.as_str(),
        "error_description": format!("AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}", e.code, e.message),
        "error_codes": [e.code],
        "timestamp": ts,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={}", e.code),
    })
}

/// A Graph error: status, code, message. Built only from the error table
/// (`core::error::TABLE`, its Graph rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    /// The internal code (the table row).
    pub kind: Code,
    /// HTTP status.
    pub status: u16,
    /// Graph error code (`Request_ResourceNotFound`, `Authorization_RequestDenied`, ...).
    pub code: &'static str,
    /// Message naming the cause and the fix.
    pub message: String,
    /// Seconds for `Retry-After` (throttling).
    pub retry_after: Option<u32>,
}

impl GraphError {
    /// The error of a Graph row, with its message filled.
    pub fn of(kind: Code, args: &[(&str, &dyn std::fmt::Display)]) -> Self {
        let s = kind.spec();
        debug_assert_eq!(s.surface, Surface::Graph, "{} is not a Graph error", s.name);
        Self {
            kind,
            status: s.status,
            code: s.service_code,
            message: kind.message(args),
            retry_after: None,
        }
    }
    /// 429 `TooManyRequests` for a spent budget, with its `Retry-After`.
    pub fn throttled(
        t: &castellan_core::throttle::Throttled,
        app: &dyn std::fmt::Display,
        tenant: &dyn std::fmt::Display,
    ) -> Self {
        let mut e = Self::of(
            Code::GraphThrottled,
            &[
                ("budget", &t.scope.as_str()),
                ("app", app),
                ("tenant", tenant),
                ("seconds", &t.retry_after),
            ],
        );
        e.retry_after = Some(t.retry_after);
        e
    }
    fn pass(kind: Code, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self::of(kind, &[("message", &message)])
    }
    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphBadRequest, message)
    }
    /// 401 `InvalidAuthenticationToken`.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphInvalidToken, message)
    }
    /// 403 `Authorization_RequestDenied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphForbidden, message)
    }
    /// 404 `Request_ResourceNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphNotFound, message)
    }
    /// 405.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphMethodNotAllowed, message)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphTooLarge, message)
    }
    /// 503 `serviceNotAvailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::pass(Code::GraphUnavailable, message)
    }
    /// A Graph error for a bare HTTP status (a sub-request that answered outside Graph's
    /// shape): the table's Graph row for that status, `generalException` for other 5xx,
    /// `Request_BadRequest` for other 4xx.
    pub fn for_status(status: u16, message: impl Into<String>) -> Self {
        let kind = castellan_core::error::TABLE
            .iter()
            .find(|r| {
                r.surface == Surface::Graph
                    && r.status == status
                    && r.code != Code::GraphMethodNotAllowed
            })
            .map(|r| r.code)
            .unwrap_or(if status >= 500 {
                Code::GraphGeneral
            } else {
                Code::GraphBadRequest
            });
        let mut e = Self::pass(kind, message);
        e.status = status;
        e
    }
    /// The body.
    pub fn body(&self, request_id: &str, client_request_id: Option<&str>, now: Timestamp) -> Value {
        let mut inner = json!({"request-id": request_id, "date": graph_datetime(now)});
        if let (Some(c), Some(o)) = (client_request_id, inner.as_object_mut()) {
            o.insert("client-request-id".into(), Value::String(c.into()));
        }
        json!({"error": {"code": self.code, "message": self.message, "innerError": inner}})
    }
}

impl From<DirectoryError> for GraphError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(m) => Self::not_found(m),
            DirectoryError::BadRequest(m) | DirectoryError::Conflict(m) => Self::bad_request(m),
            DirectoryError::Forbidden(m) => Self::forbidden(m),
            DirectoryError::Unavailable(m) => Self::unavailable(format!(
                "The directory store is unavailable; retry shortly. ({m})"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_409_keeps_its_message() {
        let e = GraphError::for_status(409, "taken");
        assert_eq!(
            (e.status, e.code),
            (409, "Request_MultipleObjectsWithSameKeyValue")
        );
        assert_eq!(e.message, "taken");
    }

    #[test]
    fn token_error_shape() {
        let e = AadstsError::invalid_client_secret("abc");
        let b = token_error_body(&e, "t-1", "c-1", Timestamp::from_secs(1_452_304_932));
        assert_eq!(b["error"], "invalid_client");
        assert_eq!(b["error_codes"], json!([7000215]));
        assert_eq!(b["timestamp"], "2016-01-09 02:02:12Z");
        let d = b["error_description"].as_str().unwrap_or_default();
        assert!(
            d.starts_with("AADSTS7000215: Invalid client secret provided."),
            "{d}"
        );
        assert!(
            d.ends_with(
                "\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2016-01-09 02:02:12Z"
            ),
            "{d}"
        );
        assert_eq!(token_error_status(&e), 401);
        assert_eq!(
            token_error_status(&AadstsError::invalid_scope("x", "y")),
            400
        );
    }

    #[test]
    fn graph_error_shape() {
        let b = GraphError::forbidden("Insufficient privileges").body(
            "r",
            Some("c"),
            Timestamp::from_secs(0),
        );
        assert_eq!(b["error"]["code"], "Authorization_RequestDenied");
        assert_eq!(b["error"]["innerError"]["request-id"], "r");
        assert_eq!(b["error"]["innerError"]["client-request-id"], "c");
    }
}
