//! The access troubleshooter's answer on the wire (a Castellan extension,
//! `GET /v1.0/auditLogs/troubleshoot?correlationId=…`): each sign-in with that correlation id,
//! as Graph renders it, beside `core::troubleshoot`'s diagnosis.

use castellan_core::troubleshoot::Diagnosis;
use serde_json::{json, Value};

/// One entry: `{signIn, diagnosis: {family, title, fix, consoleBlade}}`.
pub fn render(sign_in: Value, d: &Diagnosis) -> Value {
    json!({
        "signIn": sign_in,
        "diagnosis": {
            "family": d.family.name(),
            "title": d.title,
            "fix": d.fix,
            "consoleBlade": d.blade,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagnosis_is_named_in_camel_case() {
        let v = render(
            json!({"id": "x"}),
            &castellan_core::troubleshoot::diagnose(50011),
        );
        assert_eq!(v["diagnosis"]["family"], "redirectUriMismatch");
        assert_eq!(v["diagnosis"]["consoleBlade"], "/admin/app-registrations");
        assert_eq!(v["signIn"]["id"], "x");
    }
}
