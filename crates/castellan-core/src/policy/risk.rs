//! Identity Protection, pure: each detection is a function over explicit inputs (the sign-in,
//! the user's recent history, admin-supplied lists) returning an optional `RiskDetection`;
//! sign-in risk and user risk are aggregated from them; admin actions (dismiss, confirm
//! compromised) and self-remediation (secure password change) are state transitions on
//! `UserRisk`.
//!
//! Detection names are Graph's `riskEventType` values (`riskDetection` resource). Entra's own
//! detections are machine-learned; the rules here are simple, documented and deterministic,
//! with the thresholds as public constants.

use core::net::IpAddr;
use std::collections::HashSet;
use std::fmt::Write as _;

use ipnet::IpNet;
use sha1::{Digest, Sha1};

use crate::time::Timestamp;

use super::location::canonical;
use super::model::RiskLevel;

/// Graph's `riskEventType` for the detections Castellan makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskEventType {
    /// `impossibleTravel`: two sign-ins farther apart than anyone could travel in between.
    ImpossibleTravel,
    /// `anonymizedIPAddress`: from an anonymising proxy or Tor exit (admin-supplied ranges).
    AnonymizedIpAddress,
    /// `unfamiliarFeatures`: network, country and client never seen for this user.
    UnfamiliarFeatures,
    /// `passwordSpray`: many accounts failing from one address.
    PasswordSpray,
    /// `leakedCredentials`: the password appears in a breach corpus.
    LeakedCredentials,
}

impl RiskEventType {
    /// Graph's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ImpossibleTravel => "impossibleTravel",
            Self::AnonymizedIpAddress => "anonymizedIPAddress",
            Self::UnfamiliarFeatures => "unfamiliarFeatures",
            Self::PasswordSpray => "passwordSpray",
            Self::LeakedCredentials => "leakedCredentials",
        }
    }

    /// Every detection Castellan makes.
    pub const ALL: [Self; 5] = [
        Self::ImpossibleTravel,
        Self::AnonymizedIpAddress,
        Self::UnfamiliarFeatures,
        Self::PasswordSpray,
        Self::LeakedCredentials,
    ];

    /// Graph's value back (exact spelling, ignoring ASCII case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Graph's `activity`: `user` for detections about the account (offline, not tied to one
    /// sign-in's facts: leaked credentials), `signin` for the others.
    pub const fn activity(self) -> &'static str {
        match self {
            Self::LeakedCredentials => "user",
            _ => "signin",
        }
    }

    /// Graph's `detectionTimingType`: Castellan makes every detection while the sign-in is
    /// under way (`realtime`), except leaked credentials, which Entra finds offline.
    pub const fn timing(self) -> &'static str {
        match self {
            Self::LeakedCredentials => "offline",
            _ => "realtime",
        }
    }
}

/// One detection.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskDetection {
    /// What was detected.
    pub kind: RiskEventType,
    /// How risky.
    pub level: RiskLevel,
    /// Why, in words (for `additionalInfo` and the admin).
    pub detail: String,
}

// ---------------------------------------------------------------------------------------------
// Impossible travel
// ---------------------------------------------------------------------------------------------

/// A sign-in placed on the globe (GeoIP coordinates, looked up by the server).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoSignIn {
    /// When.
    pub at: Timestamp,
    /// Latitude in degrees (−90…90).
    pub latitude: f64,
    /// Longitude in degrees (−180…180).
    pub longitude: f64,
}

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Faster than this between two sign-ins is impossible travel: a little above an airliner's
/// cruising ground speed.
pub const IMPOSSIBLE_SPEED_KMH: f64 = 900.0;
/// Three times that is not a fast flight with a tail wind; the detection is then `high`.
pub const HIGH_RISK_SPEED_KMH: f64 = 2700.0;
/// Below this distance no travel is flagged: GeoIP places the same city's addresses hundreds
/// of km apart, and mobile carriers route through distant gateways.
pub const IMPOSSIBLE_TRAVEL_MIN_KM: f64 = 500.0;

/// Great-circle distance in km (haversine).
pub fn great_circle_km(a: &GeoSignIn, b: &GeoSignIn) -> f64 {
    let (la1, la2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dla = la2 - la1;
    let dlo = (b.longitude - a.longitude).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

fn valid(g: &GeoSignIn) -> bool {
    g.latitude.is_finite()
        && g.longitude.is_finite()
        && (-90.0..=90.0).contains(&g.latitude)
        && (-180.0..=180.0).contains(&g.longitude)
}

/// Impossible travel between a user's previous sign-in and this one.
///
/// Rule: distance ≥ `IMPOSSIBLE_TRAVEL_MIN_KM` (500 km) and implied speed (distance ÷ elapsed
/// time, order of the two ignored) > `IMPOSSIBLE_SPEED_KMH` (900 km/h) → detection; `high`
/// above `HIGH_RISK_SPEED_KMH` (2,700 km/h) or with no time elapsed, `medium` otherwise.
/// Coordinates outside the globe give no detection.
pub fn impossible_travel(previous: &GeoSignIn, current: &GeoSignIn) -> Option<RiskDetection> {
    if !valid(previous) || !valid(current) {
        return None;
    }
    let km = great_circle_km(previous, current);
    if km < IMPOSSIBLE_TRAVEL_MIN_KM {
        return None;
    }
    let hours = (current.at.millis().abs_diff(previous.at.millis())) as f64 / 3_600_000.0;
    let speed = if hours > 0.0 {
        km / hours
    } else {
        f64::INFINITY
    };
    if speed <= IMPOSSIBLE_SPEED_KMH {
        return None;
    }
    let level = if speed > HIGH_RISK_SPEED_KMH {
        RiskLevel::High
    } else {
        RiskLevel::Medium
    };
    Some(RiskDetection {
        kind: RiskEventType::ImpossibleTravel,
        level,
        detail: format!(
            "{km:.0} km in {:.0} min ({} km/h; more than {IMPOSSIBLE_SPEED_KMH:.0} km/h is impossible travel)",
            hours * 60.0,
            if speed.is_finite() { format!("{speed:.0}") } else { "∞".into() }
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Anonymous IP
// ---------------------------------------------------------------------------------------------

/// A sign-in from an address in `anonymizer_ranges` (Tor exits, anonymising VPNs — a list the
/// administrator maintains). Level `medium`: such networks are also used for privacy.
pub fn anonymous_ip(ip: IpAddr, anonymizer_ranges: &[IpNet]) -> Option<RiskDetection> {
    let ip = canonical(ip);
    let range = anonymizer_ranges.iter().find(|r| r.contains(&ip))?;
    Some(RiskDetection {
        kind: RiskEventType::AnonymizedIpAddress,
        level: RiskLevel::Medium,
        detail: format!("{ip} is in the anonymizer range {range}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Unfamiliar sign-in properties
// ---------------------------------------------------------------------------------------------

/// The properties of one sign-in that familiarity is judged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInProperties<'a> {
    /// The client address.
    pub ip: IpAddr,
    /// The country (ISO 3166-1 alpha-2), if known.
    pub country: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: &'a str,
}

/// With fewer earlier sign-ins than this the user's profile is still being learned and
/// nothing is unfamiliar (Entra also has a learning period).
pub const UNFAMILIAR_MIN_HISTORY: usize = 5;

/// The network an address belongs to for familiarity: the /24 of an IPv4 address, the /48 of
/// an IPv6 one (a site's allocation).
pub fn familiar_network(ip: IpAddr) -> IpNet {
    let ip = canonical(ip);
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or(IpNet::from(ip))
}

/// A user agent without its version numbers, so a browser update is not a new client.
fn agent_family(ua: &str) -> impl Iterator<Item = u8> + '_ {
    ua.bytes()
        .filter(|b| !b.is_ascii_digit() && *b != b'.' && *b != b'_')
        .map(|b| b.to_ascii_lowercase())
}

fn same_family(a: &str, b: &str) -> bool {
    agent_family(a).eq(agent_family(b))
}

/// Unfamiliar sign-in properties: compares this sign-in's network (/24 or /48), country and
/// client (user agent without versions) with the user's earlier sign-ins.
///
/// Rule: with at least `UNFAMILIAR_MIN_HISTORY` earlier sign-ins, two unfamiliar properties
/// give a `low` detection and all three a `medium` one. An unknown country is not evidence
/// either way. One new property alone (a new laptop, travel, a new ISP) is normal.
pub fn unfamiliar_sign_in(
    current: &SignInProperties<'_>,
    history: &[SignInProperties<'_>],
) -> Option<RiskDetection> {
    if history.len() < UNFAMILIAR_MIN_HISTORY {
        return None;
    }
    let net = familiar_network(current.ip);
    let new_network = !history.iter().any(|h| familiar_network(h.ip) == net);
    let new_country = current.country.is_some_and(|c| {
        !history
            .iter()
            .any(|h| h.country.is_some_and(|hc| hc.eq_ignore_ascii_case(c)))
    });
    let new_agent = !history
        .iter()
        .any(|h| same_family(h.user_agent, current.user_agent));
    let count = usize::from(new_network) + usize::from(new_country) + usize::from(new_agent);
    let level = match count {
        3 => RiskLevel::Medium,
        2 => RiskLevel::Low,
        _ => return None,
    };
    let mut what = Vec::with_capacity(3);
    if new_network {
        what.push(format!("network {net}"));
    }
    if new_country {
        what.push(format!("country {}", current.country.unwrap_or("?")));
    }
    if new_agent {
        what.push("client (user agent)".to_string());
    }
    Some(RiskDetection {
        kind: RiskEventType::UnfamiliarFeatures,
        level,
        detail: format!(
            "never seen for this user in {} earlier sign-ins: {}",
            history.len(),
            what.join(", ")
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Password spray
// ---------------------------------------------------------------------------------------------

/// A failed password sign-in (wrong password) as the sign-in log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedSignIn<'a> {
    /// The client address.
    pub ip: IpAddr,
    /// The user name tried.
    pub username: &'a str,
    /// When.
    pub at: Timestamp,
}

/// Password-spray thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SprayRule {
    /// How far back failures count.
    pub window_secs: i64,
    /// Distinct user names failing from one source that make a spray.
    pub min_distinct_users: usize,
}

impl Default for SprayRule {
    /// Ten distinct accounts within an hour.
    fn default() -> Self {
        Self {
            window_secs: 3600,
            min_distinct_users: 10,
        }
    }
}

/// The source a spray is attributed to: the IPv4 address, or the IPv6 /64 (one host's
/// allocation, trivially rotated within).
pub fn spray_source(ip: IpAddr) -> IpNet {
    let ip = canonical(ip);
    let prefix = if ip.is_ipv4() { 32 } else { 64 };
    IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or(IpNet::from(ip))
}

/// Password spray from `ip`: `failures` are recent failed sign-ins (any source; the function
/// filters). Rule: at least `rule.min_distinct_users` distinct user names (ignoring case)
/// failed from the same source within `rule.window_secs` before `now` → `medium`; three times
/// as many → `high`.
pub fn password_spray(
    ip: IpAddr,
    failures: &[FailedSignIn<'_>],
    now: Timestamp,
    rule: SprayRule,
) -> Option<RiskDetection> {
    let src = spray_source(ip);
    let since = now
        .millis()
        .saturating_sub(rule.window_secs.saturating_mul(1000));
    let mut users: Vec<&str> = failures
        .iter()
        .filter(|f| f.at.millis() >= since && f.at.millis() <= now.millis())
        .filter(|f| spray_source(f.ip) == src)
        .map(|f| f.username.trim())
        .collect();
    users.sort_unstable_by(|a, b| {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    });
    users.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let n = users.len();
    if rule.min_distinct_users == 0 || n < rule.min_distinct_users {
        return None;
    }
    let level = if n >= rule.min_distinct_users.saturating_mul(3) {
        RiskLevel::High
    } else {
        RiskLevel::Medium
    };
    Some(RiskDetection {
        kind: RiskEventType::PasswordSpray,
        level,
        detail: format!(
            "{n} distinct accounts failed to sign in from {src} within {} min",
            rule.window_secs / 60
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Leaked credentials
// ---------------------------------------------------------------------------------------------

/// SHA-1 of the password (UTF-8), upper-case hex: the form breach corpora (Have I Been Pwned's
/// Pwned Passwords) publish.
pub fn password_sha1_hex(password: &str) -> String {
    let digest = Sha1::digest(password.as_bytes());
    let mut s = String::with_capacity(40);
    for b in digest {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The k-anonymity split of a password's hash: the 5-character prefix the server may send to
/// a range service, and the 35-character suffix it must keep and compare locally.
pub fn password_hash_range(password: &str) -> (String, String) {
    let h = password_sha1_hex(password);
    let (p, s) = h.split_at(5);
    (p.to_string(), s.to_string())
}

fn parse_hash(hex: &str) -> Option<[u8; 20]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Known-leaked password hashes: full SHA-1 hashes supplied by the administrator, and ranges
/// fetched by the server (k-anonymity: a 5-character prefix and the list of suffixes for it).
#[derive(Clone, Debug, Default)]
pub struct LeakedPasswords {
    hashes: HashSet<[u8; 20]>,
}

impl LeakedPasswords {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a full 40-character hex SHA-1 (either case).
    pub fn add_full_hash(&mut self, hex: &str) -> Result<(), String> {
        let h = parse_hash(hex)
            .ok_or_else(|| format!("'{hex}' is not a SHA-1 hash (40 hexadecimal characters)"))?;
        self.hashes.insert(h);
        Ok(())
    }
    /// Adds a k-anonymity range: `prefix` (5 hex characters) and its suffix list, one
    /// 35-character suffix per line, optionally followed by `:count` (the Pwned Passwords
    /// range format). Returns how many suffixes were added.
    pub fn add_range(&mut self, prefix: &str, suffixes: &str) -> Result<usize, String> {
        let prefix = prefix.trim();
        if prefix.len() != 5 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{prefix}' is not a 5-character hex prefix"));
        }
        let mut n = 0;
        for line in suffixes.lines() {
            let suffix = line.split(':').next().unwrap_or("").trim();
            if suffix.is_empty() {
                continue;
            }
            let h = parse_hash(&format!("{prefix}{suffix}"))
                .ok_or_else(|| format!("'{suffix}' is not a 35-character hex suffix"))?;
            self.hashes.insert(h);
            n += 1;
        }
        Ok(n)
    }
    /// Whether the set holds the password's hash.
    pub fn contains_password(&self, password: &str) -> bool {
        let d: [u8; 20] = Sha1::digest(password.as_bytes()).into();
        self.hashes.contains(&d)
    }
    /// How many hashes are known.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }
    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Leaked credentials: the password just proven correct is in a breach corpus. Level `high`:
/// whoever holds the corpus can sign in as the user.
pub fn leaked_credentials(password: &str, leaked: &LeakedPasswords) -> Option<RiskDetection> {
    leaked.contains_password(password).then(|| RiskDetection {
        kind: RiskEventType::LeakedCredentials,
        level: RiskLevel::High,
        detail: "the user's valid password appears in a list of leaked credentials".into(),
    })
}

// ---------------------------------------------------------------------------------------------
// Aggregation and state
// ---------------------------------------------------------------------------------------------

/// A sign-in's risk: the highest level among its own detections (`none` without any).
pub fn sign_in_risk(detections: &[RiskDetection]) -> RiskLevel {
    detections
        .iter()
        .map(|d| d.level)
        .max()
        .unwrap_or(RiskLevel::None)
}

/// Graph's `riskState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskState {
    /// `none`: nothing detected.
    None,
    /// `atRisk`: open detections.
    AtRisk,
    /// `confirmedCompromised`: an administrator confirmed the account is compromised.
    ConfirmedCompromised,
    /// `dismissed`: an administrator dismissed the risk.
    Dismissed,
    /// `remediated`: the user remediated it (secure password change).
    Remediated,
}

impl RiskState {
    /// Graph's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::AtRisk => "atRisk",
            Self::ConfirmedCompromised => "confirmedCompromised",
            Self::Dismissed => "dismissed",
            Self::Remediated => "remediated",
        }
    }

    /// Graph's value back (ignoring ASCII case).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::None,
            Self::AtRisk,
            Self::ConfirmedCompromised,
            Self::Dismissed,
            Self::Remediated,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Graph's `riskDetail` for the transitions Castellan makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskDetail {
    /// `none`.
    None,
    /// `adminDismissedAllRiskForUser`.
    AdminDismissedAllRiskForUser,
    /// `adminConfirmedUserCompromised`.
    AdminConfirmedUserCompromised,
    /// `userPerformedSecuredPasswordChange`.
    UserPerformedSecuredPasswordChange,
}

impl RiskDetail {
    /// Graph's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::AdminDismissedAllRiskForUser => "adminDismissedAllRiskForUser",
            Self::AdminConfirmedUserCompromised => "adminConfirmedUserCompromised",
            Self::UserPerformedSecuredPasswordChange => "userPerformedSecuredPasswordChange",
        }
    }

    /// Graph's value back (ignoring ASCII case).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::None,
            Self::AdminDismissedAllRiskForUser,
            Self::AdminConfirmedUserCompromised,
            Self::UserPerformedSecuredPasswordChange,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A detection recorded against a user.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRiskDetection {
    /// The detection.
    pub detection: RiskDetection,
    /// When it was made.
    pub at: Timestamp,
    /// Its state: `atRisk` while open.
    pub state: RiskState,
}

/// A user's risk (Graph `riskyUser`): detections and the state administrators and the user
/// move it through.
///
/// Aggregation rule: the user's risk level is `high` while an administrator's confirmation of
/// compromise stands; otherwise the highest level among open (`atRisk`) detections, `none`
/// without any. Detections do not age out (as in Entra, risk stays until remediated or
/// dismissed).
#[derive(Clone, Debug, PartialEq)]
pub struct UserRisk {
    /// Every detection, open or closed.
    pub detections: Vec<UserRiskDetection>,
    /// `riskState`.
    pub state: RiskState,
    /// `riskDetail`.
    pub detail: RiskDetail,
    /// `riskLastUpdatedDateTime`.
    pub updated_at: Timestamp,
}

impl Default for UserRisk {
    fn default() -> Self {
        Self {
            detections: Vec::new(),
            state: RiskState::None,
            detail: RiskDetail::None,
            updated_at: Timestamp(0),
        }
    }
}

impl UserRisk {
    /// `riskLevel`.
    pub fn level(&self) -> RiskLevel {
        if self.state == RiskState::ConfirmedCompromised {
            return RiskLevel::High;
        }
        self.detections
            .iter()
            .filter(|d| d.state == RiskState::AtRisk)
            .map(|d| d.detection.level)
            .max()
            .unwrap_or(RiskLevel::None)
    }

    /// Records a new detection: the user is at risk again (a confirmed compromise stays
    /// confirmed).
    #[must_use]
    pub fn record(mut self, detection: RiskDetection, at: Timestamp) -> Self {
        self.detections.push(UserRiskDetection {
            detection,
            at,
            state: RiskState::AtRisk,
        });
        if self.state != RiskState::ConfirmedCompromised {
            self.state = RiskState::AtRisk;
            self.detail = RiskDetail::None;
        }
        self.updated_at = at;
        self
    }

    fn close(mut self, to: RiskState, detail: RiskDetail, at: Timestamp) -> Self {
        for d in &mut self.detections {
            if matches!(d.state, RiskState::AtRisk | RiskState::ConfirmedCompromised) {
                d.state = to;
            }
        }
        self.state = to;
        self.detail = detail;
        self.updated_at = at;
        self
    }

    /// An administrator dismisses the user's risk (`dismiss` on `riskyUsers`): every open
    /// detection is dismissed and the level drops to `none`.
    #[must_use]
    pub fn dismiss(self, at: Timestamp) -> Self {
        self.close(
            RiskState::Dismissed,
            RiskDetail::AdminDismissedAllRiskForUser,
            at,
        )
    }

    /// An administrator confirms the account compromised (`confirmCompromised`): level `high`
    /// until dismissed or remediated.
    #[must_use]
    pub fn confirm_compromised(mut self, at: Timestamp) -> Self {
        for d in &mut self.detections {
            if d.state == RiskState::AtRisk {
                d.state = RiskState::ConfirmedCompromised;
            }
        }
        self.state = RiskState::ConfirmedCompromised;
        self.detail = RiskDetail::AdminConfirmedUserCompromised;
        self.updated_at = at;
        self
    }

    /// The user changed the password securely (after MFA, as a `passwordChange` policy
    /// requires): open risk is remediated.
    #[must_use]
    pub fn remediate_with_password_change(self, at: Timestamp) -> Self {
        self.close(
            RiskState::Remediated,
            RiskDetail::UserPerformedSecuredPasswordChange,
            at,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }
    fn geo(at: i64, lat: f64, lon: f64) -> GeoSignIn {
        GeoSignIn {
            at: t(at),
            latitude: lat,
            longitude: lon,
        }
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Paris 48.8566 N 2.3522 E; New York 40.7128 N 74.0060 W: ~5,837 km apart.
    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const NEW_YORK: (f64, f64) = (40.7128, -74.0060);
    const LYON: (f64, f64) = (45.7640, 4.8357);

    #[test]
    fn great_circle_distance_is_right() {
        let d = great_circle_km(&geo(0, PARIS.0, PARIS.1), &geo(0, NEW_YORK.0, NEW_YORK.1));
        assert!((d - 5837.0).abs() < 10.0, "{d}");
        let d = great_circle_km(&geo(0, 0.0, 0.0), &geo(0, 0.0, 180.0));
        assert!(
            (d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 0.01,
            "{d}"
        );
        assert_eq!(
            great_circle_km(&geo(0, 10.0, 10.0), &geo(0, 10.0, 10.0)),
            0.0
        );
    }

    #[test]
    fn impossible_travel_flags_too_fast_and_not_a_real_flight() {
        let paris = geo(0, PARIS.0, PARIS.1);
        // One hour later in New York: ~5,800 km/h → high.
        let d = impossible_travel(&paris, &geo(3600, NEW_YORK.0, NEW_YORK.1)).unwrap();
        assert_eq!(d.kind, RiskEventType::ImpossibleTravel);
        assert_eq!(d.level, RiskLevel::High);
        assert!(
            d.detail.contains("5837 km") || d.detail.contains("5838 km"),
            "{}",
            d.detail
        );
        // Four hours later: ~1,460 km/h → medium.
        let d = impossible_travel(&paris, &geo(4 * 3600, NEW_YORK.0, NEW_YORK.1)).unwrap();
        assert_eq!(d.level, RiskLevel::Medium);
        // Eight hours later: ~730 km/h, a real flight → nothing.
        assert!(impossible_travel(&paris, &geo(8 * 3600, NEW_YORK.0, NEW_YORK.1)).is_none());
        // Order does not matter.
        assert!(impossible_travel(&geo(3600, NEW_YORK.0, NEW_YORK.1), &paris).is_some());
        // Same instant, far apart → high.
        let d = impossible_travel(&paris, &geo(0, NEW_YORK.0, NEW_YORK.1)).unwrap();
        assert_eq!(d.level, RiskLevel::High);
    }

    #[test]
    fn short_hops_and_bad_coordinates_are_not_travel() {
        let paris = geo(0, PARIS.0, PARIS.1);
        // Paris → Lyon (~390 km) in 1 minute: GeoIP noise, under the 500 km floor.
        assert!(impossible_travel(&paris, &geo(60, LYON.0, LYON.1)).is_none());
        assert!(impossible_travel(&paris, &geo(60, f64::NAN, 0.0)).is_none());
        assert!(impossible_travel(&paris, &geo(60, 91.0, 0.0)).is_none());
        assert!(impossible_travel(&paris, &geo(60, 0.0, 181.0)).is_none());
    }

    #[test]
    fn graph_words_parse_back() {
        for k in RiskEventType::ALL {
            assert_eq!(RiskEventType::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            RiskEventType::parse("IMPOSSIBLETRAVEL"),
            Some(RiskEventType::ImpossibleTravel)
        );
        assert_eq!(RiskEventType::parse("malwareInfectedIPAddress"), None);
        for st in [
            RiskState::None,
            RiskState::AtRisk,
            RiskState::ConfirmedCompromised,
            RiskState::Dismissed,
            RiskState::Remediated,
        ] {
            assert_eq!(RiskState::parse(st.as_str()), Some(st));
        }
        assert_eq!(RiskState::parse("confirmedSafe"), None);
        for d in [
            RiskDetail::None,
            RiskDetail::AdminDismissedAllRiskForUser,
            RiskDetail::AdminConfirmedUserCompromised,
            RiskDetail::UserPerformedSecuredPasswordChange,
        ] {
            assert_eq!(RiskDetail::parse(d.as_str()), Some(d));
        }
        assert_eq!(RiskDetail::parse("hidden"), None);
        assert_eq!(RiskEventType::LeakedCredentials.activity(), "user");
        assert_eq!(RiskEventType::ImpossibleTravel.activity(), "signin");
        assert_eq!(RiskEventType::LeakedCredentials.timing(), "offline");
        assert_eq!(RiskEventType::PasswordSpray.timing(), "realtime");
        assert_eq!(
            spray_source(ip("2001:db8::1:2")).to_string(),
            "2001:db8::/64"
        );
        assert_eq!(spray_source(ip("192.0.2.7")).to_string(), "192.0.2.7/32");
    }

    #[test]
    fn anonymous_ip_only_inside_the_ranges() {
        let ranges = vec![
            "185.220.100.0/22".parse().unwrap(),
            "2a0b:f4c0::/32".parse().unwrap(),
        ];
        let d = anonymous_ip(ip("185.220.101.4"), &ranges).unwrap();
        assert_eq!(d.kind, RiskEventType::AnonymizedIpAddress);
        assert_eq!(d.level, RiskLevel::Medium);
        assert!(d.detail.contains("185.220.100.0/22"));
        assert!(anonymous_ip(ip("2a0b:f4c0:1::1"), &ranges).is_some());
        assert!(anonymous_ip(ip("::ffff:185.220.101.4"), &ranges).is_some());
        assert!(anonymous_ip(ip("185.220.104.1"), &ranges).is_none());
        assert!(anonymous_ip(ip("185.220.101.4"), &[]).is_none());
    }

    const CHROME_120: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.6099.71";
    const CHROME_121: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/121.0.6167.85";
    const CURL: &str = "curl/8.5.0";

    fn history() -> Vec<SignInProperties<'static>> {
        (0..5)
            .map(|i| SignInProperties {
                ip: if i % 2 == 0 {
                    ip("198.51.100.10")
                } else {
                    ip("2001:db8:aa:1::5")
                },
                country: Some("DE"),
                user_agent: CHROME_120,
            })
            .collect()
    }

    #[test]
    fn unfamiliar_needs_two_new_properties_after_learning() {
        let h = history();
        // Everything familiar (other host in the same /24, browser updated).
        let cur = SignInProperties {
            ip: ip("198.51.100.99"),
            country: Some("de"),
            user_agent: CHROME_121,
        };
        assert!(unfamiliar_sign_in(&cur, &h).is_none());
        // Same /48 over IPv6.
        let cur6 = SignInProperties {
            ip: ip("2001:db8:aa:ffff::1"),
            ..cur
        };
        assert!(unfamiliar_sign_in(&cur6, &h).is_none());
        // Only the network is new: normal.
        let one = SignInProperties {
            ip: ip("203.0.113.7"),
            ..cur
        };
        assert!(unfamiliar_sign_in(&one, &h).is_none());
        // Network and country new: low.
        let two = SignInProperties {
            ip: ip("203.0.113.7"),
            country: Some("BR"),
            user_agent: CHROME_121,
        };
        let d = unfamiliar_sign_in(&two, &h).unwrap();
        assert_eq!(d.level, RiskLevel::Low);
        assert!(
            d.detail.contains("203.0.113.0/24") && d.detail.contains("BR"),
            "{}",
            d.detail
        );
        // All three new: medium.
        let three = SignInProperties {
            user_agent: CURL,
            ..two
        };
        assert_eq!(
            unfamiliar_sign_in(&three, &h).unwrap().level,
            RiskLevel::Medium
        );
        // Unknown country is not evidence: network + agent = 2 → low.
        let unknown = SignInProperties {
            country: None,
            ..three
        };
        assert_eq!(
            unfamiliar_sign_in(&unknown, &h).unwrap().level,
            RiskLevel::Low
        );
        // Still learning: nothing.
        assert!(unfamiliar_sign_in(&three, &h[..4]).is_none());
    }

    fn fails<'a>(src: &str, users: &[&'a str], at: i64) -> Vec<FailedSignIn<'a>> {
        users
            .iter()
            .map(|u| FailedSignIn {
                ip: ip(src),
                username: u,
                at: t(at),
            })
            .collect()
    }

    #[test]
    fn password_spray_counts_distinct_users_from_one_source_in_the_window() {
        let names: Vec<String> = (0..40).map(|i| format!("user{i}@contoso.com")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let now = t(10_000);
        let rule = SprayRule::default();
        // 9 distinct users: below threshold.
        let f = fails("192.0.2.1", &refs[..9], 9_000);
        assert!(password_spray(ip("192.0.2.1"), &f, now, rule).is_none());
        // 10 → medium.
        let f = fails("192.0.2.1", &refs[..10], 9_000);
        let d = password_spray(ip("192.0.2.1"), &f, now, rule).unwrap();
        assert_eq!(d.level, RiskLevel::Medium);
        assert_eq!(d.kind, RiskEventType::PasswordSpray);
        // 30 → high.
        let f = fails("192.0.2.1", &refs[..30], 9_000);
        assert_eq!(
            password_spray(ip("192.0.2.1"), &f, now, rule)
                .unwrap()
                .level,
            RiskLevel::High
        );
        // The same user many times is one user (case ignored).
        let mut f = fails("192.0.2.1", &["Alice@contoso.com"; 20], 9_000);
        f.extend(fails("192.0.2.1", &["alice@CONTOSO.com"], 9_000));
        assert!(password_spray(ip("192.0.2.1"), &f, now, rule).is_none());
        // Another source does not count; old failures do not count.
        let f = fails("192.0.2.2", &refs[..10], 9_000);
        assert!(password_spray(ip("192.0.2.1"), &f, now, rule).is_none());
        let f = fails("192.0.2.1", &refs[..10], 10_000 - 3_601);
        assert!(password_spray(ip("192.0.2.1"), &f, now, rule).is_none());
        // IPv6: the /64 is one source.
        let mut f = fails("2001:db8:1:1::1", &refs[..5], 9_000);
        f.extend(fails("2001:db8:1:1::2", &refs[5..10], 9_000));
        assert!(password_spray(ip("2001:db8:1:1::ff"), &f, now, rule).is_some());
        assert!(password_spray(ip("2001:db8:1:2::1"), &f, now, rule).is_none());
    }

    #[test]
    fn sha1_is_upper_case_hex_and_splits_for_k_anonymity() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        assert_eq!(
            password_sha1_hex("password"),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
        let (p, s) = password_hash_range("password");
        assert_eq!(p, "5BAA6");
        assert_eq!(s, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn leaked_credentials_from_full_hashes_and_ranges() {
        let mut l = LeakedPasswords::new();
        assert!(leaked_credentials("password", &l).is_none());
        l.add_full_hash("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8")
            .unwrap();
        let d = leaked_credentials("password", &l).unwrap();
        assert_eq!(d.kind, RiskEventType::LeakedCredentials);
        assert_eq!(d.level, RiskLevel::High);
        assert!(leaked_credentials("Password", &l).is_none());
        assert!(l.add_full_hash("XYZ").is_err());
        // A range body in the Pwned Passwords format.
        let (prefix, suffix) = password_hash_range("correct horse battery staple");
        let body = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{suffix}:3\r\n");
        let mut r = LeakedPasswords::new();
        assert_eq!(r.add_range(&prefix, &body).unwrap(), 2);
        assert!(leaked_credentials("correct horse battery staple", &r).is_some());
        assert!(leaked_credentials("correct horse battery stapler", &r).is_none());
        assert!(r.add_range("ZZZZZ", &body).is_err());
        assert!(r.add_range(&prefix, "nothex").is_err());
    }

    fn det(level: RiskLevel) -> RiskDetection {
        RiskDetection {
            kind: RiskEventType::UnfamiliarFeatures,
            level,
            detail: String::new(),
        }
    }

    #[test]
    fn sign_in_risk_is_the_highest_detection() {
        assert_eq!(sign_in_risk(&[]), RiskLevel::None);
        assert_eq!(
            sign_in_risk(&[
                det(RiskLevel::Low),
                det(RiskLevel::High),
                det(RiskLevel::Medium)
            ]),
            RiskLevel::High
        );
        assert_eq!(sign_in_risk(&[det(RiskLevel::Low)]), RiskLevel::Low);
    }

    #[test]
    fn user_risk_aggregates_open_detections_and_admin_actions_move_it() {
        let r = UserRisk::default();
        assert_eq!(r.level(), RiskLevel::None);
        assert_eq!(r.state, RiskState::None);
        let r = r
            .record(det(RiskLevel::Low), t(1))
            .record(det(RiskLevel::Medium), t(2));
        assert_eq!(r.level(), RiskLevel::Medium);
        assert_eq!(r.state, RiskState::AtRisk);
        // Dismiss: everything closed, level none.
        let d = r.clone().dismiss(t(3));
        assert_eq!(d.level(), RiskLevel::None);
        assert_eq!(d.state, RiskState::Dismissed);
        assert_eq!(d.detail.as_str(), "adminDismissedAllRiskForUser");
        assert!(d.detections.iter().all(|x| x.state == RiskState::Dismissed));
        // A new detection after dismissal counts alone.
        let d = d.record(det(RiskLevel::Low), t(4));
        assert_eq!(d.level(), RiskLevel::Low);
        assert_eq!(d.state, RiskState::AtRisk);
        // Confirm compromised: high whatever the detections, and a new low one keeps it high.
        let c = r.clone().confirm_compromised(t(5));
        assert_eq!(c.level(), RiskLevel::High);
        assert_eq!(c.detail.as_str(), "adminConfirmedUserCompromised");
        let c = c.record(det(RiskLevel::Low), t(6));
        assert_eq!(c.level(), RiskLevel::High);
        assert_eq!(c.state, RiskState::ConfirmedCompromised);
        // Dismissing a confirmed compromise clears it.
        let c = c.dismiss(t(7));
        assert_eq!(c.level(), RiskLevel::None);
        // Secure password change remediates.
        let m = r.remediate_with_password_change(t(8));
        assert_eq!(m.level(), RiskLevel::None);
        assert_eq!(m.state.as_str(), "remediated");
        assert_eq!(m.detail.as_str(), "userPerformedSecuredPasswordChange");
        assert_eq!(m.updated_at, t(8));
    }
}
