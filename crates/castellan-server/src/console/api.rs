//! The console's only way to read or change anything: Castellan's own HTTP API, called
//! in-process through [`crate::http::router`] (`tower::ServiceExt::oneshot`, as `$batch` does)
//! with the administrator's delegated bearer token. The request meets the same extractors,
//! `authz::decide` and audit as one from any other client; it carries the browser's address
//! (`ConnectInfo`) and the console request's correlation id (`client-request-id`), so audit
//! records and sign-in logs show where it came from.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::state::AppState;

/// Where a console request came from, handed on to the API.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The browser's `Host` (one of the server's own, else the canonical origin's).
    pub host: String,
    /// The browser's socket address.
    pub peer: Option<std::net::SocketAddr>,
    /// The console request's correlation id.
    pub correlation_id: String,
}

/// An API answer: status and JSON body (`Null` when empty, a string when not JSON).
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// 2xx.
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
    /// The error message in Graph's, ARM's or the token endpoint's shape, else the status.
    pub fn message(&self) -> String {
        let b = &self.body;
        b["error"]["message"]
            .as_str()
            .or_else(|| b["error_description"].as_str())
            .or_else(|| b.as_str())
            .map_or_else(
                || format!("The request failed ({}).", self.status),
                str::to_string,
            )
    }
}

/// What to send.
pub enum Payload {
    /// Nothing.
    None,
    /// A JSON body.
    Json(Value),
    /// A form (the token endpoint).
    Form(Vec<(String, String)>),
}

/// Calls the API at `path_and_query` with `bearer` (or none, for the token endpoint).
pub async fn call(
    s: &AppState,
    o: &Origin,
    method: Method,
    path_and_query: &str,
    bearer: Option<&str>,
    payload: Payload,
) -> Answer {
    let mut b = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(header::HOST, &o.host)
        .header("client-request-id", &o.correlation_id)
        .header("ConsistencyLevel", "eventual");
    if let Some(t) = bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match payload {
        Payload::None => Body::empty(),
        Payload::Json(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        Payload::Form(f) => {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &f {
                ser.append_pair(k, v);
            }
            Body::from(ser.finish())
        }
    };
    let Ok(mut req) = b.body(body) else {
        return Answer {
            status: StatusCode::BAD_REQUEST,
            body: Value::String(format!(
                "The console built an invalid request for {path_and_query}."
            )),
        };
    };
    if let Some(p) = o.peer {
        req.extensions_mut().insert(axum::extract::ConnectInfo(p));
    }
    let res = match crate::http::router(s.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer { status, body }
}

/// The claims of a JWT the console received from its own token endpoint (in-process, so its
/// origin is certain: no signature check is needed to read who signed in).
pub fn claims(jwt: &str) -> Option<Value> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An OData string literal: `'` doubled (OData ABNF `SQUOTE-in-string`), quoted.
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Percent-encodes a query value.
pub fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `$skiptoken` of a Graph `@odata.nextLink`, to carry to the next page.
pub fn skiptoken(body: &Value) -> Option<String> {
    let link = body["@odata.nextLink"].as_str()?;
    let u = url::Url::parse(link).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == "$skiptoken")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_literals_cannot_break_out() {
        assert_eq!(odata_string("o'brien"), "'o''brien'");
        assert_eq!(q("a b&c='d'"), "a+b%26c%3D%27d%27");
    }

    #[test]
    fn the_next_page_token_comes_from_next_link() {
        let b = serde_json::json!({"@odata.nextLink": "https://h/v1.0/users?%24top=2&%24skiptoken=abc%3D"});
        assert_eq!(skiptoken(&b).as_deref(), Some("abc="));
        assert_eq!(skiptoken(&serde_json::json!({})), None);
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        use base64::Engine;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"oid":"x"}"#);
        assert_eq!(claims(&format!("h.{p}.s")).unwrap()["oid"], "x");
        assert!(claims("garbage").is_none());
    }
}
