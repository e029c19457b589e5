//! Microsoft Graph v1.0 JSON: rendering core values and parsing request bodies into core inputs.
//! Unknown or read-only properties in a body are refused with a message naming them.

pub mod applications;
pub mod audit;
pub mod auth_methods;
pub mod conditional_access;
pub mod cross_tenant;
pub mod deleted_items;
pub mod delta;
pub mod devices;
pub mod domains;
pub mod federated_identity_credentials;
pub mod group_pim;
pub mod groups;
pub mod identity_providers;
pub mod invitations;
pub mod licenses;
pub mod pim;
pub mod roles;
pub mod service_principals;
pub mod users;

use castellan_core::ops::Field;
use serde_json::{Map, Value};

use crate::errors::GraphError;

/// The `@odata.context` prefix.
pub fn context(base: &str, what: &str) -> String {
    format!("{base}/$metadata#{what}")
}

/// A body as a JSON object with its properties checked: `allowed` may be set, `read_only` are
/// refused as read-only, anything else is refused as unknown. `@odata.*` annotations pass.
pub fn check_object<'a>(
    body: &'a Value,
    type_name: &str,
    allowed: &[&str],
    read_only: &[&str],
) -> Result<&'a Map<String, Value>, GraphError> {
    let Some(obj) = body.as_object() else {
        return Err(GraphError::bad_request(format!(
            "The request body must be a JSON object describing a {type_name}."
        )));
    };
    for k in obj.keys() {
        if k.starts_with("@odata.") || allowed.contains(&k.as_str()) {
            continue;
        }
        if read_only.contains(&k.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' is read-only and cannot be set."
            )));
        }
        return Err(GraphError::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use property names that are defined by the type."
        )));
    }
    Ok(obj)
}

fn type_err(name: &str, want: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value for property '{name}': expected {want}."
    ))
}

/// A string property.
pub fn str_field(obj: &Map<String, Value>, name: &str) -> Result<Field<String>, GraphError> {
    match obj.get(name) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::String(s)) => Ok(Field::Value(s.clone())),
        Some(_) => Err(type_err(name, "a string")),
    }
}

/// A boolean property.
pub fn bool_field(obj: &Map<String, Value>, name: &str) -> Result<Field<bool>, GraphError> {
    match obj.get(name) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::Bool(b)) => Ok(Field::Value(*b)),
        Some(_) => Err(type_err(name, "true or false")),
    }
}

/// A string-collection property.
pub fn strings_field(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Field<Vec<String>>, GraphError> {
    match obj.get(name) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| type_err(name, "an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Field::Value),
        Some(_) => Err(type_err(name, "an array of strings")),
    }
}

/// A GUID property.
pub fn guid(obj: &Map<String, Value>, name: &str) -> Result<Option<uuid::Uuid>, GraphError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => uuid::Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| type_err(name, "a GUID")),
        Some(_) => Err(type_err(name, "a GUID")),
    }
}

/// The object id in a `$ref` body: `{"@odata.id": ".../directoryObjects/{id}"}`.
pub fn parse_ref(body: &Value) -> Result<castellan_core::ObjectId, GraphError> {
    let Some(s) = body.get("@odata.id").and_then(Value::as_str) else {
        return Err(GraphError::bad_request("The request body must be {\"@odata.id\": \"https://graph.microsoft.com/v1.0/directoryObjects/{id}\"}."));
    };
    let last = s.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let last = last
        .trim_start_matches("directoryObjects(")
        .trim_start_matches('\'')
        .trim_end_matches(')')
        .trim_end_matches('\'');
    castellan_core::ObjectId::parse(last).ok_or_else(|| {
        GraphError::bad_request(format!(
            "Invalid object identifier in @odata.id '{s}': it must end with the object's GUID."
        ))
    })
}

/// Renders an optional string.
pub fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs() {
        let id = "8f2c5b6e-1111-2222-3333-444455556666";
        assert_eq!(parse_ref(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})).map(|i| i.to_string()).ok(), Some(id.to_string()));
        assert_eq!(
            parse_ref(&json!({"@odata.id": format!("https://x/v1.0/directoryObjects('{id}')")}))
                .map(|i| i.to_string())
                .ok(),
            Some(id.to_string())
        );
        assert!(parse_ref(&json!({"@odata.id": "https://x/v1.0/directoryObjects/nope"})).is_err());
        assert!(parse_ref(&json!({})).is_err());
    }

    #[test]
    fn unknown_and_read_only() {
        let b = json!({"displayName": "a", "foo": 1});
        assert!(check_object(&b, "user", &["displayName"], &[])
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
            .contains("'foo'"));
        let b = json!({"id": "x"});
        assert!(check_object(&b, "user", &[], &["id"])
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
            .contains("read-only"));
    }
}
