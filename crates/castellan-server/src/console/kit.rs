//! Small pieces the deeper blades ([`super::apps`], [`super::pim`], [`super::external`],
//! [`super::dynamic`], [`super::directory`]) share:
//! the signed-in / CSRF-checked administrator and GUID path checks as macros (a handler's
//! early exit is a whole page), and Graph collection helpers.

use serde_json::Value;

/// The signed-in administrator, or the sign-in redirect.
macro_rules! signed_in {
    ($s:expr, $ctx:expr) => {
        match super::Admin::from(&$s, $ctx) {
            Ok(a) => a,
            Err(r) => return r,
        }
    };
}
pub(super) use signed_in;

/// [`signed_in`] whose form's CSRF token is the session's (else a refusal; nothing changes).
macro_rules! signed_post {
    ($s:expr, $ctx:expr, $f:expr) => {{
        let a = super::kit::signed_in!($s, $ctx);
        if let Err(r) = a.check_csrf(&$f) {
            return r;
        }
        a
    }};
}
pub(super) use signed_post;

/// A GUID path segment, or the console's "not found" page.
macro_rules! guid_or_404 {
    ($id:expr) => {
        match super::blades::guid(&$id) {
            Some(x) => x,
            None => {
                return super::message_page(
                    axum::http::StatusCode::NOT_FOUND,
                    "Not found",
                    "error",
                    "That address does not name an object: object ids are GUIDs.",
                    Some(("/admin".into(), "Back to the console".into())),
                )
            }
        }
    };
}
pub(super) use guid_or_404;

/// The object id a form's principal names: an object id as is, a user principal name looked up
/// through Graph (`/users/{upn}`), or why it could not be.
pub async fn principal_id(a: &mut super::Admin, who: &str) -> Result<String, String> {
    if uuid::Uuid::parse_str(who).is_ok() {
        return Ok(who.to_string());
    }
    let r = a
        .graph(
            axum::http::Method::GET,
            &format!("/v1.0/users/{}?$select=id", super::api::q(who)),
            None,
        )
        .await;
    if r.ok() {
        Ok(super::blades::st(&r.body, "id"))
    } else {
        Err(format!("'{who}' was not found: {}", r.message()))
    }
}

/// The strings of a JSON array property (empty when absent).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The objects of a JSON array property (empty when absent).
pub fn objects(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// A Graph `@odata.id` reference to a directory object.
pub fn object_ref(id: &str) -> Value {
    serde_json::json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_read_leniently() {
        let v = serde_json::json!({"a": ["x", 1, "y"], "b": null});
        assert_eq!(strings(&v["a"]), vec!["x", "y"]);
        assert!(strings(&v["b"]).is_empty());
        assert!(objects(&v["missing"]).is_empty());
        assert!(object_ref("abc")["@odata.id"]
            .as_str()
            .unwrap()
            .ends_with("/directoryObjects/abc"));
    }
}
