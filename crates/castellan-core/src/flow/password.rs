//! `grant_type=password` (RFC 6749 §4.3; Microsoft identity platform "OAuth 2.0 Resource Owner
//! Password Credentials"): legacy, but MSAL supports it and test suites use it. The checks on
//! the user, in the order Entra applies them: exists, enabled, password, must-change.

use crate::error::AadstsError;
use crate::model::User;

/// The user side of ROPC, after the password was verified (`password_ok`).
pub fn check_user(
    user: Option<&User>,
    upn: &str,
    tenant: &str,
    password_ok: bool,
) -> Result<(), AadstsError> {
    let Some(u) = user else {
        return Err(AadstsError::user_not_found(upn, tenant));
    };
    if !u.account_enabled {
        return Err(AadstsError::user_disabled());
    }
    if !password_ok {
        return Err(AadstsError::invalid_credentials());
    }
    if u.force_change_password_next_sign_in {
        return Err(AadstsError::password_must_change());
    }
    Ok(())
}
