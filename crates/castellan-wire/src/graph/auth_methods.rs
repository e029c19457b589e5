//! `authenticationMethod` resources (`/users/{id}/authentication/methods`): the password
//! method as Graph shows it (its well-known id, the password itself never returned) and
//! authenticator-app (`softwareOathAuthenticationMethod`) methods (the secret never returned).

use castellan_core::model::{SoftwareOathMethod, User};
use serde_json::{json, Value};

use crate::time::graph_datetime;

/// The fixed id Graph gives every user's password method.
pub const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

/// `#microsoft.graph.passwordAuthenticationMethod`.
pub fn render_password(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "password": null,
        "createdDateTime": graph_datetime(u.created),
    })
}

/// `#microsoft.graph.softwareOathAuthenticationMethod`.
pub fn render_software_oath(m: &SoftwareOathMethod) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
        "id": m.id.to_string(),
        "secretKey": null,
    })
}

/// Every method of a user, as `GET /users/{id}/authentication/methods` lists them.
pub fn render_all(u: &User, oath: &[SoftwareOathMethod]) -> Vec<Value> {
    let mut out = Vec::with_capacity(oath.len() + 1);
    if u.password_hash.is_some() {
        out.push(render_password(u));
    }
    out.extend(oath.iter().map(render_software_oath));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_never_rendered() {
        let m = SoftwareOathMethod {
            id: castellan_core::ObjectId::from_random([3; 16]),
            tenant_id: castellan_core::TenantId::from_random([4; 16]),
            user_id: castellan_core::ObjectId::from_random([5; 16]),
            display_name: "Authenticator app".into(),
            secret_sealed: vec![9, 9, 9],
            created: castellan_core::Timestamp(0),
            confirmed: true,
            last_used_step: Some(1),
        };
        let v = render_software_oath(&m);
        assert_eq!(
            v["@odata.type"],
            "#microsoft.graph.softwareOathAuthenticationMethod"
        );
        assert_eq!(v["secretKey"], Value::Null);
        assert!(!v.to_string().contains("9,9,9"));
    }
}
