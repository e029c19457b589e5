//! `microsoft.graph.federatedIdentityCredential` (Graph v1.0 resource
//! "federatedIdentityCredential"): render, and parse POST/PATCH bodies into core's `FicPatch`.
//! Unknown or read-only properties are refused by name; type errors name the property.

use castellan_core::flow::federated_assertion::{FederatedIdentityCredential, FicPatch};
use serde_json::{json, Map, Value};

use super::check_object;
use crate::errors::GraphError;

/// Properties a client may send.
pub const WRITABLE: &[&str] = &["name", "issuer", "subject", "audiences", "description"];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &["id"];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "name",
    "issuer",
    "subject",
    "audiences",
    "description",
];

/// Renders one credential.
pub fn render(f: &FederatedIdentityCredential) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.federatedIdentityCredential",
        "id": f.id.to_string(),
        "name": f.name,
        "issuer": f.issuer,
        "subject": f.subject,
        "audiences": f.audiences,
        "description": f.description,
    })
}

fn string(o: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Err(GraphError::bad_request(format!(
            "Property '{name}' of federatedIdentityCredential cannot be null."
        ))),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{name}': expected a string."
        ))),
    }
}

/// Parses a POST or PATCH body. Which properties are required is core's decision
/// (`new_credential` for POST; PATCH takes what is present).
pub fn parse(body: &Value) -> Result<FicPatch, GraphError> {
    let o = check_object(body, "federatedIdentityCredential", WRITABLE, READ_ONLY)?;
    let audiences = match o.get("audiences") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        GraphError::bad_request(
                            "Invalid value for property 'audiences': expected an array of strings.",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'audiences': expected an array with exactly one string, e.g. [\"api://AzureADTokenExchange\"].",
            ))
        }
    };
    let description = match o.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'description': expected a string or null.",
            ))
        }
    };
    Ok(FicPatch {
        name: string(o, "name")?,
        issuer: string(o, "issuer")?,
        subject: string(o, "subject")?,
        audiences,
        description,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn render_shape() {
        let f = FederatedIdentityCredential {
            id: uuid::Uuid::from_u128(1),
            name: "gh".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:o/r:ref:refs/heads/main".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
            description: None,
        };
        let v = render(&f);
        assert_eq!(
            v["@odata.type"],
            "#microsoft.graph.federatedIdentityCredential"
        );
        assert_eq!(v["id"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(v["audiences"], json!(["api://AzureADTokenExchange"]));
        assert_eq!(v["description"], Value::Null);
        for p in PROPERTIES {
            assert!(v.get(*p).is_some(), "{p}");
        }
    }

    #[test]
    fn parse_bodies() {
        let p = parse(&json!({"name": "gh", "issuer": "https://i", "subject": "s", "audiences": ["a"], "description": null, "@odata.type": "x"})).unwrap();
        assert_eq!(p.name.as_deref(), Some("gh"));
        assert_eq!(p.audiences, Some(vec!["a".to_string()]));
        assert_eq!(p.description, Some(None));
        let p = parse(&json!({"subject": "s2"})).unwrap();
        assert_eq!(p.subject.as_deref(), Some("s2"));
        assert_eq!(p.name, None);
        for (body, needle) in [
            (json!({"id": "x"}), "read-only"),
            (json!({"claimsMatchingExpression": {}}), "does not exist"),
            (
                json!({"audiences": "api://AzureADTokenExchange"}),
                "audiences",
            ),
            (json!({"audiences": [1]}), "audiences"),
            (json!({"issuer": 5}), "issuer"),
            (json!({"subject": null}), "subject"),
            (json!({"description": 5}), "description"),
            (json!([1]), "JSON object"),
        ] {
            let e = parse(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
