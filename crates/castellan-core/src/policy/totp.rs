//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), the authenticator-app factor
//! that satisfies the `mfa` grant control, and recovery codes. Pure: the caller passes `now`
//! and stores the returned step (replay guard), the secret, and the recovery-code hashes.
//!
//! - `Totp::verify` accepts the current step and one step either side (RFC 6238 §5.2 allows
//!   a small window for clock drift and typing time), refuses any step at or before the last
//!   one used (§5.2: "the verifier MUST NOT accept the second attempt of the same OTP"), and
//!   compares every candidate in constant time.
//! - `Totp::otpauth_uri` builds the Key Uri Format authenticator apps scan
//!   (`otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30`).
//! - Recovery codes are 80 random bits (from the caller's entropy) shown once as
//!   `XXXX-XXXX-XXXX-XXXX` and stored as SHA-256: high entropy makes a slow hash pointless, as
//!   for client secrets.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::time::Timestamp;

/// The HMAC hash (`algorithm` in the otpauth URI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1: what every authenticator app supports; the default.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl TotpAlgorithm {
    /// The otpauth URI spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

/// Why a TOTP operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The code is not `digits` decimal digits.
    #[error("the verification code must be {0} digits")]
    Malformed(u32),
    /// No step in the window produces the code.
    #[error("the verification code is not valid; check the device clock and try the next code")]
    Invalid,
    /// The code is valid but its step was already used.
    #[error("this verification code was already used; wait for the next one")]
    Replayed,
    /// The secret is not Base32 or too short.
    #[error("the secret must be Base32 and at least 128 bits (RFC 4226 §4 R6)")]
    BadSecret,
    /// Digits or period out of range.
    #[error("digits must be 6–8 and the period 1–300 seconds")]
    BadParameters,
}

impl TotpError {
    /// A stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "totpMalformed",
            Self::Invalid => "totpInvalid",
            Self::Replayed => "totpReplayed",
            Self::BadSecret => "totpBadSecret",
            Self::BadParameters => "totpBadParameters",
        }
    }
}

/// RFC 4226 §5.3 HOTP: HMAC of the big-endian counter, dynamic truncation, modulo 10^digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32, algorithm: TotpAlgorithm) -> u32 {
    let msg = counter.to_be_bytes();
    let mac: Vec<u8> = match algorithm {
        TotpAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(secret, &msg),
        TotpAlgorithm::Sha256 => mac::<Hmac<Sha256>>(secret, &msg),
        TotpAlgorithm::Sha512 => mac::<Hmac<Sha512>>(secret, &msg),
    };
    let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
    let word = mac
        .get(offset..offset + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
        & 0x7fff_ffff;
    word % 10u32.pow(digits.min(9))
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => Vec::new(),
    }
}

/// A user's TOTP configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Totp {
    secret: Vec<u8>,
    digits: u32,
    period_secs: u64,
    algorithm: TotpAlgorithm,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<redacted>")
            .field("digits", &self.digits)
            .field("period_secs", &self.period_secs)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// The step window accepted either side of now (RFC 6238 §5.2; one step = 30 s).
pub const TOTP_WINDOW_STEPS: u64 = 1;

impl Totp {
    /// Authenticator-app defaults: HMAC-SHA-1, 6 digits, 30 s. The secret must be at least
    /// 16 bytes (RFC 4226 R6); 20 random bytes is usual.
    pub fn new(secret: Vec<u8>) -> Result<Self, TotpError> {
        Self::with_parameters(secret, TotpAlgorithm::Sha1, 6, 30)
    }

    /// Explicit parameters (digits 6–8, period 1–300 s).
    pub fn with_parameters(
        secret: Vec<u8>,
        algorithm: TotpAlgorithm,
        digits: u32,
        period_secs: u64,
    ) -> Result<Self, TotpError> {
        if secret.len() < 16 {
            return Err(TotpError::BadSecret);
        }
        if !(6..=8).contains(&digits) || !(1..=300).contains(&period_secs) {
            return Err(TotpError::BadParameters);
        }
        Ok(Self {
            secret,
            digits,
            period_secs,
            algorithm,
        })
    }

    /// From a Base32 secret as apps display it (case, spaces and `=` padding ignored).
    pub fn from_base32(secret: &str) -> Result<Self, TotpError> {
        Self::new(decode_base32(secret)?)
    }

    /// The secret in Base32 without padding (what the otpauth URI carries).
    pub fn secret_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.secret)
    }

    /// The raw secret (for the store, which encrypts it).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Digits per code.
    pub const fn digits(&self) -> u32 {
        self.digits
    }

    /// The time step containing `t` (RFC 6238 §4.2: `T = floor((t − T0) / X)`, T0 = 0).
    pub fn step(&self, t: Timestamp) -> u64 {
        u64::try_from(t.secs()).unwrap_or(0) / self.period_secs
    }

    /// The code for a step, zero-padded.
    pub fn code_at_step(&self, step: u64) -> String {
        let n = hotp(&self.secret, step, self.digits, self.algorithm);
        format!("{n:0width$}", width = self.digits as usize)
    }

    /// The code at `t`.
    pub fn code(&self, t: Timestamp) -> String {
        self.code_at_step(self.step(t))
    }

    /// Checks `code` at `now`. Accepts the current step ± `TOTP_WINDOW_STEPS`; refuses a step
    /// at or before `last_used_step`. On success returns the matched step, which the caller
    /// must store as the new `last_used_step` (in the same transaction that accepts the
    /// sign-in, so two concurrent uses cannot both pass).
    pub fn verify(
        &self,
        code: &str,
        now: Timestamp,
        last_used_step: Option<u64>,
    ) -> Result<u64, TotpError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::Malformed(self.digits));
        }
        let now_step = self.step(now);
        let first = now_step.saturating_sub(TOTP_WINDOW_STEPS);
        let mut fresh_match = subtle::Choice::from(0);
        let mut fresh_step = 0u64;
        let mut stale_match = subtle::Choice::from(0);
        // Every candidate is computed and compared, whatever matched earlier.
        for step in first..=now_step.saturating_add(TOTP_WINDOW_STEPS) {
            let eq = self.code_at_step(step).as_bytes().ct_eq(code.as_bytes());
            let fresh = last_used_step.is_none_or(|l| step > l);
            let take = eq & subtle::Choice::from(u8::from(fresh)) & !fresh_match;
            fresh_step.conditional_assign(&step, take);
            fresh_match |= eq & subtle::Choice::from(u8::from(fresh));
            stale_match |= eq & subtle::Choice::from(u8::from(!fresh));
        }
        if bool::from(fresh_match) {
            Ok(fresh_step)
        } else if bool::from(stale_match) {
            Err(TotpError::Replayed)
        } else {
            Err(TotpError::Invalid)
        }
    }

    /// The Key Uri Format URI for enrolment (`otpauth://totp/…`), with `issuer` and the
    /// user's `account` (usually the UPN) percent-encoded.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            percent(issuer),
            percent(account),
            self.secret_base32(),
            percent(issuer),
            self.algorithm.as_str(),
            self.digits,
            self.period_secs
        )
    }
}

/// Decodes Base32 (RFC 4648), ignoring case, spaces, dashes and padding.
pub fn decode_base32(s: &str) -> Result<Vec<u8>, TotpError> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD
        .decode(clean.as_bytes())
        .map_err(|_| TotpError::BadSecret)
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A recovery code from 10 bytes of the caller's entropy: 16 Base32 characters in groups of
/// four (`ABCD-EFGH-IJKL-MNOP`, 80 bits).
pub fn recovery_code_from_entropy(bytes: [u8; 10]) -> String {
    let s = BASE32_NOPAD.encode(&bytes);
    let mut out = String::with_capacity(19);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The stored form of a recovery code: SHA-256 of the code without dashes or spaces, upper
/// case (so `abcd efgh…` typed by hand matches).
pub fn hash_recovery_code(code: &str) -> [u8; 32] {
    Sha256::digest(normalise_recovery_code(code).as_bytes()).into()
}

/// Which stored recovery code `code` is (its index), comparing against every entry in
/// constant time. The caller removes that entry: each code works once.
pub fn check_recovery_code(code: &str, stored: &[[u8; 32]]) -> Option<usize> {
    let h = hash_recovery_code(code);
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, s) in stored.iter().enumerate() {
        let eq = s.ct_eq(&h);
        index.conditional_assign(&(i as u64), eq & !found);
        found |= eq;
    }
    bool::from(found).then_some(index as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expect = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expect.iter().enumerate() {
            assert_eq!(
                hotp(SEED20, counter as u64, 6, TotpAlgorithm::Sha1),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_totp_vectors() {
        // (time, SHA1, SHA256, SHA512), 8 digits, 30 s.
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let t1 = Totp::with_parameters(SEED20.to_vec(), TotpAlgorithm::Sha1, 8, 30).unwrap();
        let t256 = Totp::with_parameters(SEED32.to_vec(), TotpAlgorithm::Sha256, 8, 30).unwrap();
        let t512 = Totp::with_parameters(SEED64.to_vec(), TotpAlgorithm::Sha512, 8, 30).unwrap();
        for (t, s1, s256, s512) in table {
            let now = Timestamp::from_secs(t);
            assert_eq!(t1.code(now), s1, "SHA1 at {t}");
            assert_eq!(t256.code(now), s256, "SHA256 at {t}");
            assert_eq!(t512.code(now), s512, "SHA512 at {t}");
            // And each verifies at that time.
            assert!(t1.verify(s1, now, None).is_ok());
            assert!(t512.verify(s512, now, None).is_ok());
        }
    }

    #[test]
    fn window_is_one_step_either_side() {
        let t = Totp::new(SEED20.to_vec()).unwrap();
        let now = Timestamp::from_secs(1_700_000_015);
        let s = t.step(now);
        assert_eq!(t.verify(&t.code_at_step(s), now, None), Ok(s));
        assert_eq!(t.verify(&t.code_at_step(s - 1), now, None), Ok(s - 1));
        assert_eq!(t.verify(&t.code_at_step(s + 1), now, None), Ok(s + 1));
        assert_eq!(
            t.verify(&t.code_at_step(s - 2), now, None),
            Err(TotpError::Invalid)
        );
        assert_eq!(
            t.verify(&t.code_at_step(s + 2), now, None),
            Err(TotpError::Invalid)
        );
    }

    #[test]
    fn a_used_step_is_never_accepted_again() {
        let t = Totp::new(SEED20.to_vec()).unwrap();
        let now = Timestamp::from_secs(1_700_000_015);
        let code = t.code(now);
        let step = t.verify(&code, now, None).unwrap();
        assert_eq!(t.verify(&code, now, Some(step)), Err(TotpError::Replayed));
        // Still replayed 30 s later (the step is inside the window).
        assert_eq!(
            t.verify(&code, now.plus_secs(30), Some(step)),
            Err(TotpError::Replayed)
        );
        // An earlier step than the last used one is a replay too.
        let earlier = t.code_at_step(step - 1);
        assert_eq!(
            t.verify(&earlier, now, Some(step)),
            Err(TotpError::Replayed)
        );
        // The next step's code works.
        let next = t.code_at_step(step + 1);
        assert_eq!(t.verify(&next, now.plus_secs(30), Some(step)), Ok(step + 1));
    }

    #[test]
    fn malformed_codes_and_parameters_are_refused() {
        let t = Totp::new(SEED20.to_vec()).unwrap();
        let now = Timestamp::from_secs(1_700_000_000);
        assert_eq!(t.verify("12345", now, None), Err(TotpError::Malformed(6)));
        assert_eq!(t.verify("12345a", now, None), Err(TotpError::Malformed(6)));
        assert_eq!(t.verify("", now, None), Err(TotpError::Malformed(6)));
        let spaced = {
            let c = t.code(now);
            format!("{} {}", &c[..3], &c[3..])
        };
        assert!(
            t.verify(&spaced, now, None).is_ok(),
            "apps show codes as 123 456"
        );
        assert_eq!(Totp::new(vec![1; 10]).unwrap_err(), TotpError::BadSecret);
        assert_eq!(
            Totp::with_parameters(SEED20.to_vec(), TotpAlgorithm::Sha1, 9, 30).unwrap_err(),
            TotpError::BadParameters
        );
        assert_eq!(
            Totp::with_parameters(SEED20.to_vec(), TotpAlgorithm::Sha1, 6, 0).unwrap_err(),
            TotpError::BadParameters
        );
        // Before the epoch is step 0, not a panic.
        assert_eq!(t.step(Timestamp::from_secs(-5)), 0);
    }

    #[test]
    fn base32_round_trip_and_otpauth_uri() {
        let t = Totp::new(SEED20.to_vec()).unwrap();
        // RFC 4648 Base32 of "12345678901234567890".
        assert_eq!(t.secret_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = Totp::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq====").unwrap();
        assert_eq!(back.secret(), SEED20);
        assert_eq!(
            Totp::from_base32("not base32!").unwrap_err(),
            TotpError::BadSecret
        );
        assert_eq!(
            t.otpauth_uri("Contoso Castellan", "alice@contoso.com"),
            "otpauth://totp/Contoso%20Castellan:alice%40contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Contoso%20Castellan&algorithm=SHA1&digits=6&period=30"
        );
        assert!(
            !format!("{t:?}").contains("GEZD"),
            "Debug must not print the secret"
        );
    }

    #[test]
    fn recovery_codes_hash_check_once_and_ignore_formatting() {
        let codes: Vec<String> = (0u8..5)
            .map(|i| recovery_code_from_entropy([i; 10]))
            .collect();
        assert_eq!(codes[1].len(), 19);
        assert_eq!(codes[1].matches('-').count(), 3);
        assert_ne!(codes[1], codes[2]);
        let stored: Vec<[u8; 32]> = codes.iter().map(|c| hash_recovery_code(c)).collect();
        assert_eq!(check_recovery_code(&codes[3], &stored), Some(3));
        assert_eq!(check_recovery_code(&codes[0], &stored), Some(0));
        let typed = codes[2].to_ascii_lowercase().replace('-', " ");
        assert_eq!(check_recovery_code(&typed, &stored), Some(2));
        assert_eq!(check_recovery_code("AAAA-BBBB-CCCC-DDDD", &stored), None);
        assert_eq!(check_recovery_code(&codes[2], &[]), None);
        // Used once: the caller removes it, and it no longer matches.
        let mut left = stored.clone();
        left.remove(2);
        assert_eq!(check_recovery_code(&codes[2], &left), None);
    }
}
