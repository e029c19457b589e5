//! `directory/deletedItems`: a deleted user, group or application in its live Graph shape
//! (`@odata.type` included) with `deletedDateTime` set, and the cast segments that name a kind.

use castellan_core::deleted_items::{DeletedItem, DeletedObject};
use castellan_core::model::ObjectKind;
use serde_json::Value;

use crate::time::graph_datetime;

/// The item as Graph shows it: the object's own rendering plus `deletedDateTime`.
/// `domain` is the tenant's initial domain (groups' mail, applications' publisher domain).
pub fn render(item: &DeletedItem, domain: &str) -> Value {
    let mut v = match &item.object {
        DeletedObject::User(u) => super::users::render(u),
        DeletedObject::Group(g) => super::groups::render(g, domain),
        DeletedObject::Application(a, _) => super::applications::render(a, domain),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "deletedDateTime".into(),
            Value::String(graph_datetime(item.deleted)),
        );
    }
    v
}

/// The kind a cast segment names (`microsoft.graph.user`, `graph.user`, any case), for the
/// three kinds the recycle bin holds.
pub fn cast_kind(segment: &str) -> Option<ObjectKind> {
    let lower = segment.to_ascii_lowercase();
    let name = lower
        .strip_prefix("microsoft.graph.")
        .or_else(|| lower.strip_prefix("graph."))?;
    match name {
        "user" => Some(ObjectKind::User),
        "group" => Some(ObjectKind::Group),
        "application" => Some(ObjectKind::Application),
        _ => None,
    }
}

/// Whether a segment is a cast at all (`microsoft.graph.*` / `graph.*`), known kind or not.
pub fn is_cast(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    lower.starts_with("microsoft.graph.") || lower.starts_with("graph.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_name_the_three_kinds_in_either_spelling() {
        assert_eq!(cast_kind("microsoft.graph.user"), Some(ObjectKind::User));
        assert_eq!(cast_kind("graph.Group"), Some(ObjectKind::Group));
        assert_eq!(
            cast_kind("Microsoft.Graph.application"),
            Some(ObjectKind::Application)
        );
        assert_eq!(cast_kind("microsoft.graph.device"), None);
        assert!(is_cast("microsoft.graph.device"));
        assert!(!is_cast("8a0f7d8e-0000-0000-0000-000000000000"));
    }
}
