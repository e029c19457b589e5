//! Graph throttling for identity and access requests, as Microsoft documents it ("Microsoft
//! Graph service-specific throttling limits", identity and access): every request has a cost in
//! resource units (RU) and, for writes, a write cost; each application + tenant pair has an RU
//! budget per 10 seconds that grows with the tenant's size (S under 50 users, M 50–500, L above
//! 500) and a write budget per 150 seconds; a tenant has a write budget per 5 minutes for all its
//! applications together. A request over a budget is refused (429) with the seconds after
//! which it would fit; a refused request consumes nothing.
//!
//! Pure: the caller passes the clock and keeps the [`Budgets`] (per node).

use std::collections::HashMap;

use crate::{AppId, TenantId, Timestamp};

/// A request's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Resource units (at least 1).
    pub ru: u32,
    /// Write units (0 for reads).
    pub write: u32,
}

/// What the cost of a request depends on.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestShape<'a> {
    /// `GET`, `POST`, `PATCH`, `PUT`, `DELETE`.
    pub method: &'a str,
    /// The path after `/v1.0/`, e.g. `groups/{id}/transitiveMembers` (any casing).
    pub path: &'a str,
    /// `$select` present.
    pub select: bool,
    /// `$expand` present.
    pub expand: bool,
    /// `$top`'s value, when present.
    pub top: Option<u32>,
}

/// Base RU costs of the paths Microsoft lists (path segments; `*` is any one segment, `me`
/// stands for `users/*` too). Anything else costs 1.
const BASE: &[(&str, &[&str], u32)] = &[
    ("GET", &["applications"], 2),
    ("GET", &["applications", "*", "extensionProperties"], 2),
    ("GET", &["contracts"], 3),
    ("POST", &["directoryObjects", "getByIds"], 3),
    ("GET", &["domains", "*", "domainNameReferences"], 4),
    ("POST", &["getObjectsById"], 3),
    ("GET", &["groups", "*", "members"], 3),
    ("GET", &["groups", "*", "transitiveMembers"], 5),
    ("POST", &["isMemberOf"], 4),
    ("POST", &["me", "checkMemberGroups"], 4),
    ("POST", &["me", "checkMemberObjects"], 4),
    ("POST", &["me", "getMemberGroups"], 2),
    ("POST", &["me", "getMemberObjects"], 2),
    ("GET", &["me", "licenseDetails"], 2),
    ("GET", &["me", "memberOf"], 2),
    ("GET", &["me", "ownedObjects"], 2),
    ("GET", &["me", "transitiveMemberOf"], 2),
    ("GET", &["oauth2PermissionGrants"], 2),
    ("GET", &["oauth2PermissionGrants", "*"], 2),
    ("GET", &["servicePrincipals", "*", "appRoleAssignments"], 2),
    ("GET", &["subscribedSkus"], 3),
    ("GET", &["users"], 2),
    // A batch is charged request by request (each goes through the same check); the envelope
    // itself costs 1 RU and no write.
    ("POST", &["$batch"], 1),
];

fn matches(pattern: &[&str], segs: &[&str]) -> bool {
    let same = |p: &[&str], s: &[&str]| {
        p.len() == s.len()
            && p.iter()
                .zip(s)
                .all(|(p, s)| *p == "*" || p.eq_ignore_ascii_case(s))
    };
    // `me/...` also stands for `users/{id}/...`.
    match (pattern, segs) {
        (["me", rest_p @ ..], [u, _, rest_s @ ..]) if u.eq_ignore_ascii_case("users") => {
            same(rest_p, rest_s)
        }
        _ => same(pattern, segs),
    }
}

/// A request's cost: the base cost of its path, `$select` −1, `$expand` +1, `$top` under 20
/// −1, never under 1; writes (POST, PATCH, PUT, DELETE) also cost 1 write unit, except the
/// read-only POST actions Microsoft lists with write cost 0.
pub fn cost(r: &RequestShape<'_>) -> Cost {
    let segs: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
    let method = r.method.to_ascii_uppercase();
    let listed = BASE
        .iter()
        .find(|(m, p, _)| *m == method && matches(p, &segs));
    let mut ru = i64::from(listed.map_or(1, |(_, _, c)| *c));
    if r.select {
        ru -= 1;
    }
    if r.expand {
        ru += 1;
    }
    if r.top.is_some_and(|t| t < 20) {
        ru -= 1;
    }
    let write = match method.as_str() {
        "GET" | "HEAD" | "OPTIONS" => 0,
        _ if listed.is_some() => 0,
        _ => 1,
    };
    Cost {
        ru: u32::try_from(ru.max(1)).unwrap_or(1),
        write,
    }
}

/// Entra's tenant size classes for the application + tenant RU budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantSize {
    /// Under 50 users.
    Small,
    /// 50 to 500 users.
    Medium,
    /// Over 500 users.
    Large,
}

impl TenantSize {
    /// The class of a tenant with `users` users.
    pub fn of(users: usize) -> Self {
        match users {
            0..=49 => Self::Small,
            50..=500 => Self::Medium,
            _ => Self::Large,
        }
    }
}

/// The budgets in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limits {
    /// Entra's: RU per 10 s per application + tenant by tenant size (3,500 / 5,000 / 8,000),
    /// 3,000 writes per 150 s per application + tenant, 18,000 writes per 5 min per tenant.
    Entra,
    /// The operator's: `ru` per 10 s and `writes` per 150 s per application + tenant (the
    /// tenant write budget is six times the pair's, Entra's ratio).
    Fixed {
        /// RU per 10 s.
        ru: u32,
        /// Writes per 150 s.
        writes: u32,
    },
    /// No throttling.
    Off,
}

const RU_WINDOW_MS: i64 = 10_000;
const WRITE_WINDOW_MS: i64 = 150_000;
const TENANT_WRITE_WINDOW_MS: i64 = 300_000;

impl Limits {
    fn pair_ru(self, size: TenantSize) -> u32 {
        match self {
            Self::Entra => match size {
                TenantSize::Small => 3_500,
                TenantSize::Medium => 5_000,
                TenantSize::Large => 8_000,
            },
            Self::Fixed { ru, .. } => ru,
            Self::Off => u32::MAX,
        }
    }
    fn pair_writes(self) -> u32 {
        match self {
            Self::Entra => 3_000,
            Self::Fixed { writes, .. } => writes,
            Self::Off => u32::MAX,
        }
    }
    fn tenant_writes(self) -> u32 {
        match self {
            Self::Entra => 18_000,
            Self::Fixed { writes, .. } => writes.saturating_mul(6),
            Self::Off => u32::MAX,
        }
    }
}

/// A token bucket: `capacity` units refilled evenly over `window_ms`. Kept in milli-units so
/// the refill is exact integer arithmetic.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli: i64,
    at: Timestamp,
}

impl Bucket {
    fn full(capacity: u32, now: Timestamp) -> Self {
        Self {
            milli: i64::from(capacity) * 1000,
            at: now,
        }
    }
    /// The bucket's level at `now`.
    fn level(&self, capacity: u32, window_ms: i64, now: Timestamp) -> i64 {
        let cap = i64::from(capacity) * 1000;
        let elapsed = (now.millis() - self.at.millis()).max(0);
        // capacity units per window: cap milli-units per window_ms.
        let refill = elapsed.saturating_mul(cap) / window_ms.max(1);
        self.milli.saturating_add(refill).min(cap)
    }
    /// Milliseconds until `need` units fit (0 if they fit now); `None` when they never can.
    fn wait_ms(&self, need: u32, capacity: u32, window_ms: i64, now: Timestamp) -> Option<i64> {
        if need > capacity {
            return None;
        }
        let level = self.level(capacity, window_ms, now);
        let want = i64::from(need) * 1000;
        if level >= want {
            return Some(0);
        }
        let cap = i64::from(capacity) * 1000;
        // (want - level) milli-units at cap per window_ms.
        Some(((want - level) * window_ms + cap - 1) / cap.max(1))
    }
    fn take(&mut self, need: u32, capacity: u32, window_ms: i64, now: Timestamp) {
        self.milli = self.level(capacity, window_ms, now) - i64::from(need) * 1000;
        self.at = now;
    }
}

/// Which budget refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The application + tenant RU budget (10 s).
    TenantApplicationReadWrite,
    /// The application + tenant write budget (150 s).
    TenantApplicationWrite,
    /// The tenant's write budget for all applications (5 min).
    TenantWrite,
}

impl Scope {
    /// `x-ms-throttle-scope`'s first two parts, as Graph names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantApplicationReadWrite => "Tenant_Application/ReadWrite",
            Self::TenantApplicationWrite => "Tenant_Application/Write",
            Self::TenantWrite => "Tenant/Write",
        }
    }
}

/// A refusal: which budget, and whole seconds after which the request would fit (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// The budget.
    pub scope: Scope,
    /// `Retry-After`, seconds.
    pub retry_after: u32,
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    ru: Bucket,
    writes: Bucket,
}

/// Every budget's state (one node's).
#[derive(Debug, Default)]
pub struct Budgets {
    pairs: HashMap<(TenantId, AppId), Pair>,
    tenants: HashMap<TenantId, Bucket>,
}

/// Entries idle for this long are full again and can be forgotten.
const IDLE_MS: i64 = TENANT_WRITE_WINDOW_MS;

impl Budgets {
    /// Charges `cost` to `app` in `tenant` (of `size`) at `now`, or refuses without charging.
    pub fn charge(
        &mut self,
        limits: Limits,
        tenant: TenantId,
        app: AppId,
        size: TenantSize,
        cost: Cost,
        now: Timestamp,
    ) -> Result<(), Throttled> {
        if limits == Limits::Off {
            return Ok(());
        }
        let (ru_cap, w_cap, t_cap) = (
            limits.pair_ru(size),
            limits.pair_writes(),
            limits.tenant_writes(),
        );
        let pair = self.pairs.entry((tenant, app)).or_insert_with(|| Pair {
            ru: Bucket::full(ru_cap, now),
            writes: Bucket::full(w_cap, now),
        });
        let tenant_bucket = self
            .tenants
            .entry(tenant)
            .or_insert_with(|| Bucket::full(t_cap, now));
        let refuse = |scope, wait: Option<i64>| Throttled {
            scope,
            // A request bigger than a whole budget waits a whole window.
            retry_after: u32::try_from((wait.unwrap_or(RU_WINDOW_MS) + 999) / 1000)
                .unwrap_or(u32::MAX)
                .max(1),
        };
        match pair.ru.wait_ms(cost.ru, ru_cap, RU_WINDOW_MS, now) {
            Some(0) => {}
            w => return Err(refuse(Scope::TenantApplicationReadWrite, w)),
        }
        if cost.write > 0 {
            match pair.writes.wait_ms(cost.write, w_cap, WRITE_WINDOW_MS, now) {
                Some(0) => {}
                w => return Err(refuse(Scope::TenantApplicationWrite, w)),
            }
            match tenant_bucket.wait_ms(cost.write, t_cap, TENANT_WRITE_WINDOW_MS, now) {
                Some(0) => {}
                w => return Err(refuse(Scope::TenantWrite, w)),
            }
            pair.writes.take(cost.write, w_cap, WRITE_WINDOW_MS, now);
            tenant_bucket.take(cost.write, t_cap, TENANT_WRITE_WINDOW_MS, now);
        }
        pair.ru.take(cost.ru, ru_cap, RU_WINDOW_MS, now);
        Ok(())
    }

    /// Forgets entries idle long enough to be full again (bounds memory).
    pub fn sweep(&mut self, now: Timestamp) {
        self.pairs
            .retain(|_, p| now.millis() - p.ru.at.millis().max(p.writes.at.millis()) < IDLE_MS);
        self.tenants
            .retain(|_, b| now.millis() - b.at.millis() < IDLE_MS);
    }

    /// How many pairs are tracked.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> RequestShape<'_> {
        RequestShape {
            method: "GET",
            path,
            ..Default::default()
        }
    }

    #[test]
    fn costs_follow_microsofts_table() {
        assert_eq!(cost(&get("users")).ru, 2);
        assert_eq!(cost(&get("users/abc")).ru, 1);
        assert_eq!(cost(&get("groups/g1/transitiveMembers")).ru, 5);
        assert_eq!(cost(&get("Groups/g1/Members")).ru, 3);
        assert_eq!(cost(&get("me/memberOf")).ru, 2);
        // `me/…` costs apply to `users/{id}/…` alike.
        assert_eq!(cost(&get("users/u1/transitiveMemberOf")).ru, 2);
        assert_eq!(cost(&get("subscribedSkus")).ru, 3);
        // Modifiers: $select −1, $expand +1, $top < 20 −1, never under 1.
        let mut r = get("users");
        r.select = true;
        assert_eq!(cost(&r).ru, 1);
        r.top = Some(5);
        assert_eq!(cost(&r).ru, 1);
        let mut r = get("groups/g/members");
        r.expand = true;
        assert_eq!(cost(&r).ru, 4);
        r.top = Some(20);
        assert_eq!(cost(&r).ru, 4);
        // Writes cost a write unit; the listed read-only POST actions do not.
        let w = cost(&RequestShape {
            method: "PATCH",
            path: "users/u1",
            ..Default::default()
        });
        assert_eq!(w, Cost { ru: 1, write: 1 });
        let a = cost(&RequestShape {
            method: "POST",
            path: "directoryObjects/getByIds",
            ..Default::default()
        });
        assert_eq!(a, Cost { ru: 3, write: 0 });
        assert_eq!(cost(&get("users")).write, 0);
        let b = cost(&RequestShape {
            method: "POST",
            path: "$batch",
            ..Default::default()
        });
        assert_eq!(b, Cost { ru: 1, write: 0 });
    }

    #[test]
    fn tenant_size_classes() {
        assert_eq!(TenantSize::of(0), TenantSize::Small);
        assert_eq!(TenantSize::of(49), TenantSize::Small);
        assert_eq!(TenantSize::of(50), TenantSize::Medium);
        assert_eq!(TenantSize::of(500), TenantSize::Medium);
        assert_eq!(TenantSize::of(501), TenantSize::Large);
    }

    fn ids() -> (TenantId, AppId, AppId) {
        (
            TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            AppId::from_uuid(uuid::Uuid::from_u128(2)),
            AppId::from_uuid(uuid::Uuid::from_u128(3)),
        )
    }

    #[test]
    fn a_budget_refuses_past_its_quota_and_refills_over_its_window() {
        let (t, a, b) = ids();
        let limits = Limits::Fixed {
            ru: 10,
            writes: 100,
        };
        let mut s = Budgets::default();
        let c2 = Cost { ru: 2, write: 0 };
        let t0 = Timestamp(1_000_000);
        for _ in 0..5 {
            s.charge(limits, t, a, TenantSize::Small, c2, t0).unwrap();
        }
        // The sixth 2-RU read does not fit: 2 RU refill in 2 s (10 RU per 10 s).
        let e = s
            .charge(limits, t, a, TenantSize::Small, c2, t0)
            .unwrap_err();
        assert_eq!(e.scope, Scope::TenantApplicationReadWrite);
        assert_eq!(e.retry_after, 2);
        // A refused request consumed nothing: after 2 s exactly one fits again.
        let t2 = Timestamp(t0.millis() + 2_000);
        s.charge(limits, t, a, TenantSize::Small, c2, t2).unwrap();
        assert!(s.charge(limits, t, a, TenantSize::Small, c2, t2).is_err());
        // Another application in the same tenant has its own budget (the positive control).
        s.charge(limits, t, b, TenantSize::Small, c2, t2).unwrap();
        // A full window later the pair is full again.
        let t12 = Timestamp(t2.millis() + 10_000);
        for _ in 0..5 {
            s.charge(limits, t, a, TenantSize::Small, c2, t12).unwrap();
        }
    }

    #[test]
    fn writes_have_their_own_budgets_and_the_tenant_shares_one() {
        let (t, a, b) = ids();
        let limits = Limits::Fixed {
            ru: 1000,
            writes: 2,
        };
        let mut s = Budgets::default();
        let w = Cost { ru: 1, write: 1 };
        let now = Timestamp(5_000);
        s.charge(limits, t, a, TenantSize::Small, w, now).unwrap();
        s.charge(limits, t, a, TenantSize::Small, w, now).unwrap();
        let e = s
            .charge(limits, t, a, TenantSize::Small, w, now)
            .unwrap_err();
        assert_eq!(e.scope, Scope::TenantApplicationWrite);
        // 2 writes per 150 s: one more after 75 s.
        assert_eq!(e.retry_after, 75);
        // Reads still pass.
        s.charge(
            limits,
            t,
            a,
            TenantSize::Small,
            Cost { ru: 1, write: 0 },
            now,
        )
        .unwrap();
        // The tenant's write budget (6 × 2) is shared by every application.
        let mut apps = 0;
        let mut last = None;
        for i in 0..10u128 {
            let app = AppId::from_uuid(uuid::Uuid::from_u128(100 + i));
            for _ in 0..2 {
                match s.charge(limits, t, app, TenantSize::Small, w, now) {
                    Ok(()) => apps += 1,
                    Err(e) => last = Some(e),
                }
            }
        }
        assert_eq!(apps, 10, "12 tenant writes in all, 2 already used by app a");
        assert_eq!(last.unwrap().scope, Scope::TenantWrite);
        let _ = b;
    }

    #[test]
    fn entra_budgets_grow_with_the_tenant_and_off_never_refuses() {
        let (t, a, _) = ids();
        let now = Timestamp(0);
        let big = Cost {
            ru: 3_600,
            write: 0,
        };
        let mut s = Budgets::default();
        assert!(s
            .charge(Limits::Entra, t, a, TenantSize::Small, big, now)
            .is_err());
        let mut s = Budgets::default();
        s.charge(Limits::Entra, t, a, TenantSize::Medium, big, now)
            .unwrap();
        let mut s = Budgets::default();
        for _ in 0..1000 {
            s.charge(Limits::Off, t, a, TenantSize::Small, big, now)
                .unwrap();
        }
        assert!(s.is_empty());
    }

    #[test]
    fn idle_entries_are_forgotten() {
        let (t, a, _) = ids();
        let mut s = Budgets::default();
        let l = Limits::Fixed { ru: 5, writes: 5 };
        s.charge(
            l,
            t,
            a,
            TenantSize::Small,
            Cost { ru: 1, write: 0 },
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        s.sweep(Timestamp(IDLE_MS - 1));
        assert_eq!(s.len(), 1);
        s.sweep(Timestamp(IDLE_MS + 1));
        assert!(s.is_empty());
    }
}
