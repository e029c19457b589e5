//! Claims requests and claims challenges: the OpenID Connect `claims` request parameter (OIDC
//! Core §5.5) as Entra uses it for Conditional Access step-up.
//!
//! - A client that received a *claims challenge* (from the token endpoint's
//!   `interaction_required` answer, or from a resource's `WWW-Authenticate: … claims="…"`)
//!   sends it back as `claims` on `/authorize` or `/token`. A request whose `access_token` or
//!   `id_token` member asks for `polids` (Conditional Access policy ids) or `acrs`
//!   (authentication contexts) as `essential` is a step-up request: the session must have done
//!   multifactor authentication (Castellan satisfies every policy id and context with MFA).
//! - Anything else in `claims` (`xms_cc` client capabilities, optional claims) asks nothing of
//!   the sign-in and is accepted.
//! - The token endpoint's challenge names the policies that need MFA:
//!   `{"access_token":{"polids":{"essential":true,"values":["<policy id>",…]}}}`.

use serde_json::{json, Value};

use castellan_core::error::AadstsError;

/// Whether a `claims` parameter asks for step-up authentication. Malformed JSON, or a
/// non-object where an object belongs, is AADSTS90014 naming the problem.
pub fn requires_step_up(claims: &str) -> Result<bool, AadstsError> {
    let v: Value = serde_json::from_str(claims).map_err(|e| {
        AadstsError::malformed(&format!(
            "The 'claims' parameter is not valid JSON ({e}). Send the claims challenge exactly as received, e.g. {{\"access_token\":{{\"polids\":{{\"essential\":true,\"values\":[\"<id>\"]}}}}}}."
        ))
    })?;
    let Some(top) = v.as_object() else {
        return Err(AadstsError::malformed(
            "The 'claims' parameter must be a JSON object with 'access_token', 'id_token' or 'userinfo' members.",
        ));
    };
    let mut step_up = false;
    for (member, requests) in top {
        if requests.is_null() {
            continue;
        }
        let Some(requests) = requests.as_object() else {
            return Err(AadstsError::malformed(&format!(
                "The 'claims' parameter's '{member}' member must be a JSON object of claim requests."
            )));
        };
        if member != "access_token" && member != "id_token" {
            continue;
        }
        for name in ["polids", "acrs"] {
            if let Some(r) = requests.get(name) {
                let essential = r.get("essential").and_then(Value::as_bool).unwrap_or(false);
                let asks = r
                    .get("values")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                    || r.get("value").is_some_and(|v| !v.is_null());
                step_up |= essential && asks;
            }
        }
    }
    Ok(step_up)
}

/// The claims challenge for policies that need multifactor authentication.
pub fn challenge_for_policies(policy_ids: &[String]) -> String {
    json!({"access_token": {"polids": {"essential": true, "values": policy_ids}}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_needs_an_essential_polids_or_acrs_request() {
        for (claims, want) in [
            (
                r#"{"access_token":{"polids":{"essential":true,"values":["p1"]}}}"#,
                true,
            ),
            (
                r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#,
                true,
            ),
            (
                r#"{"id_token":{"acrs":{"essential":true,"values":["c1","c2"]}}}"#,
                true,
            ),
            // Not essential, or nothing asked: no step-up.
            (
                r#"{"access_token":{"polids":{"essential":false,"values":["p1"]}}}"#,
                false,
            ),
            (
                r#"{"access_token":{"polids":{"essential":true,"values":[]}}}"#,
                false,
            ),
            (r#"{"access_token":{"acrs":{"essential":true}}}"#, false),
            // Client capabilities and other claims ask nothing of the sign-in.
            (r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#, false),
            (
                r#"{"userinfo":{"acrs":{"essential":true,"value":"c1"}}}"#,
                false,
            ),
            (r#"{"access_token":null}"#, false),
            ("{}", false),
        ] {
            assert_eq!(requires_step_up(claims).unwrap(), want, "{claims}");
        }
    }

    #[test]
    fn malformed_claims_are_90014_naming_the_problem() {
        for bad in ["{", "[1]", "\"x\"", r#"{"access_token":[1]}"#] {
            let e = requires_step_up(bad).unwrap_err();
            assert_eq!(e.code, 90014, "{bad}");
            assert!(e.message.contains("'claims'"), "{}", e.message);
        }
    }

    #[test]
    fn the_challenge_round_trips_as_a_step_up_request() {
        let c = challenge_for_policies(&["a".into(), "b".into()]);
        let v: Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["access_token"]["polids"]["values"], json!(["a", "b"]));
        assert!(requires_step_up(&c).unwrap());
    }
}
