//! Device proof at sign-in: reads the `x-castellan-device-assertion` header, checks it with
//! the pure rules in `castellan_core::flow::device_assertion` and the signature with the
//! device's registered EC P-256 key (ES256, fixed by the key type — the header's `alg` must
//! say ES256 but never chooses the algorithm), and remembers the `jti` so an assertion works
//! once. No header: no device. A header that fails any check: the sign-in is refused.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::error::AadstsError;
use castellan_core::flow::device_assertion::{self as rules, AssertionClaims, HEADER};
use castellan_core::model::{p256_point, Device, Grant, GrantKind, GrantState, SignIn, Tenant};
use castellan_core::policy::{DevicePlatform, DeviceState};
use castellan_core::store::StoreError;
use castellan_core::Timestamp;
use serde_json::Value;

use crate::state::AppState;

/// Longest header accepted (an ES256 assertion is well under 1 KiB).
const MAX_LEN: usize = 4096;

/// A device that proved itself in this request.
#[derive(Clone, Debug)]
pub struct Proven(pub Device);

impl Proven {
    /// For Conditional Access.
    pub fn state(&self) -> DeviceState {
        rules::state(&self.0)
    }
    /// For Conditional Access.
    pub fn platform(&self) -> DevicePlatform {
        rules::platform(&self.0)
    }
}

/// Conditional Access inputs for an optional proven device.
pub fn ca_inputs(d: Option<&Proven>) -> (DeviceState, Option<DevicePlatform>) {
    d.map_or((DeviceState::None, None), |d| {
        (d.state(), Some(d.platform()))
    })
}

/// Fills the sign-in record's `deviceDetail`.
pub fn annotate(d: Option<&Proven>, rec: &mut SignIn) {
    rec.device = d.map(|d| rules::sign_in_device(&d.0));
}

/// Why a device assertion was not accepted.
#[derive(Debug)]
pub enum ProofError {
    /// Refuse the sign-in with this error.
    Refused(AadstsError),
    /// The store failed.
    Store(StoreError),
}

impl From<AadstsError> for ProofError {
    fn from(e: AadstsError) -> Self {
        Self::Refused(e)
    }
}

impl From<StoreError> for ProofError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn failed(why: &str) -> ProofError {
    ProofError::Refused(AadstsError::device_authentication_failed(why))
}

/// The audiences a device assertion may name for `tenant`: its issuer, authorize and token
/// endpoints, under every origin of this server (tenant GUID form).
pub fn audiences(s: &AppState, tenant: &Tenant) -> Vec<String> {
    let tid = tenant.id.to_string();
    s.origins
        .all()
        .into_iter()
        .flat_map(|o| {
            [
                format!("{o}/{tid}/v2.0"),
                format!("{o}/{tid}/oauth2/v2.0/authorize"),
                format!("{o}/{tid}/oauth2/v2.0/token"),
            ]
        })
        .collect()
}

fn decode(part: Option<&str>) -> Option<Value> {
    URL_SAFE_NO_PAD
        .decode(part?)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
}

fn claims_of(header: &Value, body: &Value) -> AssertionClaims {
    let s = |v: &Value| v.as_str().map(str::to_string);
    // NumericDate may carry a fraction.
    #[allow(clippy::cast_possible_truncation)]
    let n = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
    AssertionClaims {
        kid: s(&header["kid"]),
        iss: s(&body["iss"]),
        sub: s(&body["sub"]),
        aud: match &body["aud"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(v) => v
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        },
        iat: n(&body["iat"]),
        nbf: n(&body["nbf"]),
        exp: n(&body["exp"]),
        jti: s(&body["jti"]),
    }
}

/// Verifies the request's device assertion, if any, for `tenant`.
pub async fn verify(
    s: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Option<Proven>, ProofError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(raw) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(failed(
            "the request carries more than one device assertion header.",
        ));
    }
    let raw = raw
        .to_str()
        .map_err(|_| failed("the device assertion header is not ASCII."))?
        .trim();
    if raw.len() > MAX_LEN {
        return Err(failed("the device assertion is longer than 4096 bytes."));
    }
    let mut parts = raw.split('.');
    let (h, b, sig) = (parts.next(), parts.next(), parts.next());
    let (Some(header), Some(body), Some(sig), None) = (decode(h), decode(b), sig, parts.next())
    else {
        return Err(failed(
            "the device assertion is not a well-formed JWT (header.payload.signature, base64url JSON).",
        ));
    };
    let claims = claims_of(&header, &body);
    let device_id = rules::claimed_device_id(&claims)?;
    let stored = s.store.device_by_device_id(tenant.id, device_id).await?;
    let device = rules::usable(stored.as_ref(), device_id)?;
    // The algorithm follows the registered key (EC P-256 → ES256); a header naming another
    // algorithm (none, HS256, RS256, ...) is refused rather than obeyed.
    if header["alg"].as_str() != Some("ES256") {
        return Err(failed(
            "the device key is EC P-256, so the assertion must be signed with ES256.",
        ));
    }
    let key = device.public_key.as_deref().unwrap_or_default();
    let point = p256_point(key).map_err(|m| failed(&m))?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| failed("the assertion's signature is not base64url."))?;
    let signed = raw.rsplit_once('.').map(|(m, _)| m).unwrap_or_default();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        point,
    )
    .verify(signed.as_bytes(), &signature)
    .map_err(|_| failed("the signature does not verify with the key registered for the device."))?;
    let (jti, forget) = rules::check_claims(&claims, &audiences(s, tenant), now)?;
    // One use per jti: a unique insert decides, so two parallel replays cannot both pass.
    let remember = Grant {
        handle: format!("devjti:{}:{device_id}:{jti}", tenant.id),
        kind: GrantKind::AssertionId,
        tenant_id: tenant.id,
        family: None,
        user_id: None,
        lookup: None,
        state: GrantState::Used,
        created: now,
        expires: forget,
        attrs: vec![],
    };
    match s.store.insert_grant(&remember).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(failed(
                "this device assertion (its jti) was already used; every sign-in needs a fresh assertion.",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Some(Proven(device.clone())))
}

/// Records the device's sign-in time (best effort: a failure is logged, never fatal — the
/// sign-in itself is already decided and logged).
pub async fn touch(s: &AppState, d: Option<&Proven>, now: Timestamp) {
    if let Some(d) = d {
        if let Err(e) =
            castellan_core::ops::devices::record_sign_in(s.store.as_ref(), &d.0, now).await
        {
            tracing::warn!(device = %d.0.device_id, error = %e, "could not record the device's sign-in time");
        }
    }
}
