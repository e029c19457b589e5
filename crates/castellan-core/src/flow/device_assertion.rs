//! Device proof at sign-in (a Castellan design; Entra's own primary refresh token is not
//! reproduced): the device holds the private half of the EC P-256 key registered on its device
//! object (`alternativeSecurityIds`) and sends a short-lived JWT, the *device assertion*, in the
//! `x-castellan-device-assertion` header of `/authorize` and `/token` requests:
//!
//! - header `{"alg":"ES256","typ":"JWT","kid":"<deviceId>"}` — the algorithm is fixed by the
//!   key type (ES256 for P-256), never taken from the header;
//! - claims `iss` = `sub` (when present) = `kid` = the deviceId, `aud` = the tenant's issuer
//!   (`https://host/{tenant-id}/v2.0`) or its authorize or token endpoint, `iat`, `exp` at most
//!   five minutes after `iat`, `jti` used once.
//!
//! An assertion that is presented but fails any rule refuses the sign-in (AADSTS50155,
//! 700003 or 135011): it is never read as "no device", so a broken or stolen-and-replayed
//! assertion cannot quietly turn into a different decision. No header means no device.
//! This module is the pure part: which device is claimed, whether that device may prove
//! itself, and the claim rules. The server checks the signature between the steps.

use crate::error::AadstsError;
use crate::model::{Device, SignInDevice};
use crate::policy::{DevicePlatform, DeviceState};
use crate::time::Timestamp;

/// The request header carrying the assertion.
pub const HEADER: &str = "x-castellan-device-assertion";
/// Longest lifetime (`exp` − `iat`) accepted.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew allowed on `iat`, `nbf` and `exp`.
pub const LEEWAY_SECS: i64 = 60;

/// The assertion's header and claims as the server decoded them (signature not yet checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssertionClaims {
    /// Header `kid`.
    pub kid: Option<String>,
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`, if present.
    pub sub: Option<String>,
    /// `aud` (a string or an array).
    pub aud: Vec<String>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// `exp`.
    pub exp: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
}

fn failed(why: &str) -> AadstsError {
    AadstsError::device_authentication_failed(why)
}

/// Step 1: the deviceId the assertion speaks for (`kid` and `iss` must name the same GUID).
pub fn claimed_device_id(c: &AssertionClaims) -> Result<uuid::Uuid, AadstsError> {
    let Some(kid) = c.kid.as_deref() else {
        return Err(failed("the assertion header has no kid (the deviceId)."));
    };
    let id = uuid::Uuid::parse_str(kid)
        .map_err(|_| failed("the assertion's kid is not a deviceId GUID."))?;
    let same = |v: &str| uuid::Uuid::parse_str(v).is_ok_and(|u| u == id);
    if !c.iss.as_deref().is_some_and(same) {
        return Err(failed(
            "the assertion's iss must be the deviceId named by kid.",
        ));
    }
    if c.sub.as_deref().is_some_and(|s| !same(s)) {
        return Err(failed(
            "the assertion's sub, when present, must be the deviceId.",
        ));
    }
    Ok(id)
}

/// Step 2: the directory's device for that id may prove itself — it exists in this tenant, is
/// enabled, and has a registered key.
pub fn usable(device: Option<&Device>, device_id: uuid::Uuid) -> Result<&Device, AadstsError> {
    let Some(d) = device else {
        return Err(AadstsError::device_not_found(&device_id.to_string()));
    };
    if !d.account_enabled {
        return Err(AadstsError::device_disabled(&device_id.to_string()));
    }
    if d.public_key.is_none() {
        return Err(failed("the device has no registered key (alternativeSecurityIds), so it cannot prove itself; register it with a key."));
    }
    Ok(d)
}

/// Step 3, after the signature verified: audience, times and `jti`. Returns the `jti` and
/// when the replay guard may forget it.
pub fn check_claims(
    c: &AssertionClaims,
    audiences: &[String],
    now: Timestamp,
) -> Result<(String, Timestamp), AadstsError> {
    if !c.aud.iter().any(|a| audiences.iter().any(|x| x == a)) {
        return Err(failed(&format!(
            "the assertion's aud must be this tenant's issuer ({}) or its authorize or token endpoint.",
            audiences.first().map(String::as_str).unwrap_or("")
        )));
    }
    let now = now.secs();
    let (Some(iat), Some(exp)) = (c.iat, c.exp) else {
        return Err(failed("the assertion must carry iat and exp."));
    };
    if exp <= iat {
        return Err(failed("the assertion's exp is not after its iat."));
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(failed(
            "the assertion lives too long: exp may be at most 300 seconds after iat.",
        ));
    }
    if iat - LEEWAY_SECS > now || c.nbf.is_some_and(|n| n - LEEWAY_SECS > now) {
        return Err(failed(
            "the assertion is not valid yet (iat or nbf in the future).",
        ));
    }
    if exp + LEEWAY_SECS <= now {
        return Err(failed("the assertion has expired."));
    }
    let Some(jti) = c.jti.clone().filter(|j| !j.is_empty() && j.len() <= 256) else {
        return Err(failed("the assertion has no jti (1 to 256 characters)."));
    };
    Ok((jti, Timestamp::from_secs(exp + LEEWAY_SECS)))
}

/// What Conditional Access knows about a proven device.
pub fn state(d: &Device) -> DeviceState {
    DeviceState::Registered {
        is_compliant: d.is_compliant,
        trust_type: d.trust_type,
    }
}

/// The Conditional Access platform of a proven device.
pub fn platform(d: &Device) -> DevicePlatform {
    d.operating_system.platform()
}

/// The sign-in log's `deviceDetail` for a proven device.
pub fn sign_in_device(d: &Device) -> SignInDevice {
    SignInDevice {
        device_id: d.device_id.to_string(),
        display_name: d.display_name.clone(),
        operating_system: d.operating_system.as_str().into(),
        is_compliant: d.is_compliant,
        is_managed: d.is_managed,
        trust_type: d.trust_type.as_str().into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::{p256_spki, DeviceOs};
    use crate::policy::DeviceTrustType;
    use crate::{ObjectId, TenantId};

    const DEV: &str = "6f9b1d1e-0c1a-4a59-9d0e-1d2b3c4d5e6f";
    const AUD: &str = "https://127.0.0.1:8443/t/v2.0";

    fn claims() -> AssertionClaims {
        AssertionClaims {
            kid: Some(DEV.into()),
            iss: Some(DEV.into()),
            sub: None,
            aud: vec![AUD.into()],
            iat: Some(1_000),
            nbf: None,
            exp: Some(1_240),
            jti: Some("j1".into()),
        }
    }

    fn device() -> Device {
        Device {
            id: ObjectId::from_random([1; 16]),
            tenant_id: TenantId::from_random([2; 16]),
            device_id: uuid::Uuid::parse_str(DEV).unwrap(),
            display_name: "LAPTOP-1".into(),
            operating_system: DeviceOs::MacOs,
            operating_system_version: "14.5".into(),
            trust_type: DeviceTrustType::AzureAd,
            is_compliant: true,
            is_managed: true,
            account_enabled: true,
            public_key: Some(p256_spki(&[4; 65])),
            created: Timestamp::from_secs(0),
            last_sign_in: None,
        }
    }

    /// One scenario: a change to the good claims and the expected answer at `now`.
    fn check(change: impl FnOnce(&mut AssertionClaims), now: i64, expected: Result<(), &str>) {
        let mut c = claims();
        change(&mut c);
        let got = claimed_device_id(&c)
            .and_then(|_| check_claims(&c, &[AUD.to_string()], Timestamp::from_secs(now)))
            .map(|_| ())
            .map_err(|e| e.message);
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(m), Err(want)) => assert!(m.contains(want), "{m:?} should mention {want:?}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn the_claim_rules() {
        check(|_| {}, 1_010, Ok(()));
        check(|c| c.sub = Some(DEV.to_uppercase()), 1_010, Ok(()));
        check(|c| c.aud = vec!["x".into(), AUD.into()], 1_010, Ok(()));
        check(|c| c.kid = None, 1_010, Err("no kid"));
        check(
            |c| c.kid = Some("laptop".into()),
            1_010,
            Err("not a deviceId"),
        );
        check(|c| c.iss = None, 1_010, Err("iss must be"));
        check(
            |c| c.iss = Some("0b7c6a52-9a39-4a38-9f43-0f3a4d8f1a11".into()),
            1_010,
            Err("iss must be"),
        );
        check(|c| c.sub = Some("someone".into()), 1_010, Err("sub"));
        check(|c| c.aud = vec![], 1_010, Err("aud must be"));
        check(
            |c| c.aud = vec!["https://127.0.0.1:8443/other/v2.0".into()],
            1_010,
            Err("aud must be"),
        );
        check(|c| c.iat = None, 1_010, Err("iat and exp"));
        check(|c| c.exp = None, 1_010, Err("iat and exp"));
        check(|c| c.exp = Some(1_000), 1_000, Err("not after"));
        check(|c| c.exp = Some(1_301), 1_010, Err("too long"));
        check(|c| c.exp = Some(1_300), 1_010, Ok(()));
        // Expiry, with the leeway.
        check(|_| {}, 1_299, Ok(()));
        check(|_| {}, 1_300, Err("expired"));
        // Not yet valid.
        check(|_| {}, 939, Err("not valid yet"));
        check(|_| {}, 940, Ok(()));
        check(|c| c.nbf = Some(1_100), 1_010, Err("not valid yet"));
        check(|c| c.jti = None, 1_010, Err("no jti"));
        check(|c| c.jti = Some(String::new()), 1_010, Err("no jti"));
        check(|c| c.jti = Some("x".repeat(257)), 1_010, Err("no jti"));
    }

    #[test]
    fn the_replay_guard_outlives_the_assertion() {
        let (jti, forget) =
            check_claims(&claims(), &[AUD.to_string()], Timestamp::from_secs(1_010)).unwrap();
        assert_eq!(jti, "j1");
        assert_eq!(forget, Timestamp::from_secs(1_240 + LEEWAY_SECS));
    }

    #[test]
    fn only_an_enabled_keyed_device_in_the_tenant_may_prove_itself() {
        let id = uuid::Uuid::parse_str(DEV).unwrap();
        let d = device();
        assert_eq!(usable(Some(&d), id).unwrap(), &d);
        assert_eq!(usable(None, id).unwrap_err().code, 700003);
        let mut off = device();
        off.account_enabled = false;
        assert_eq!(usable(Some(&off), id).unwrap_err().code, 135011);
        let mut keyless = device();
        keyless.public_key = None;
        let e = usable(Some(&keyless), id).unwrap_err();
        assert_eq!(e.code, 50155);
        assert!(e.message.contains("no registered key"));
    }

    #[test]
    fn a_proven_device_feeds_conditional_access_and_the_log() {
        let mut d = device();
        assert_eq!(
            state(&d),
            DeviceState::Registered {
                is_compliant: true,
                trust_type: DeviceTrustType::AzureAd
            }
        );
        assert_eq!(platform(&d), DevicePlatform::MacOS);
        d.is_compliant = false;
        let log = sign_in_device(&d);
        assert_eq!(
            (
                log.device_id.as_str(),
                log.operating_system.as_str(),
                log.is_compliant,
                log.trust_type.as_str()
            ),
            (DEV, "MacOS", false, "AzureAd")
        );
    }
}
