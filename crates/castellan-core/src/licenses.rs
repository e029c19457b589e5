//! Licences: the SKU catalogue (Microsoft's real SKU and service-plan ids), a tenant's
//! subscriptions (prepaid units set by the operator), licence assignments to users and groups,
//! and the pure decisions over them: what each user holds (direct and inherited from the groups
//! it is a direct member of, computed at read time so it always follows membership), which
//! assignments are beyond the prepaid count (`CountViolation`), the tenant's licence tier that
//! gates premium features, and which SKU allows or refuses a feature.
//!
//! An over-limit tenant degrades: the assignments beyond the count are in error, new direct
//! assignments of that SKU are refused, and features keep working (no one is locked out).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ids::{ObjectId, TenantId};
use crate::model::{LicenseTier, Membership, ObjectKind};
use crate::time::Timestamp;

/// A service plan of a SKU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    /// `servicePlanId`.
    pub id: &'static str,
    /// `servicePlanName`.
    pub name: &'static str,
    /// `assignedPlans[].service`.
    pub service: &'static str,
}

/// A product (SKU) Castellan knows, with Microsoft's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sku {
    /// `skuId`.
    pub id: &'static str,
    /// `skuPartNumber`.
    pub part_number: &'static str,
    /// The product name.
    pub product: &'static str,
    /// The operator's short name (`castellan tenant license set --sku …`).
    pub short: &'static str,
    /// The tier it grants to the tenant while it has units.
    pub tier: LicenseTier,
    /// Its service plans.
    pub plans: &'static [ServicePlan],
}

const AAD_PREMIUM_PLAN: ServicePlan = ServicePlan {
    id: "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    name: "AAD_PREMIUM",
    service: "AADPremiumService",
};
const MFA_PREMIUM_PLAN: ServicePlan = ServicePlan {
    id: "8a256a2b-b617-496d-b51b-e76466e88db0",
    name: "MFA_PREMIUM",
    service: "MultiFactorService",
};
const AAD_PREMIUM_P2_PLAN: ServicePlan = ServicePlan {
    id: "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    name: "AAD_PREMIUM_P2",
    service: "AADPremiumService",
};
const GOVERNANCE_PLAN: ServicePlan = ServicePlan {
    id: "e866a266-3cff-43a3-acca-0c90a7e00c8b",
    name: "Entra_Identity_Governance",
    service: "AADPremiumService",
};

/// Microsoft Entra ID P1.
pub const P1: Sku = Sku {
    id: "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
    part_number: "AAD_PREMIUM",
    product: "Microsoft Entra ID P1",
    short: "P1",
    tier: LicenseTier::P1,
    plans: &[AAD_PREMIUM_PLAN, MFA_PREMIUM_PLAN],
};

/// Microsoft Entra ID P2.
pub const P2: Sku = Sku {
    id: "84a661c4-e949-4bd2-a560-ed7766fcaf2b",
    part_number: "AAD_PREMIUM_P2",
    product: "Microsoft Entra ID P2",
    short: "P2",
    tier: LicenseTier::P2,
    plans: &[AAD_PREMIUM_PLAN, MFA_PREMIUM_PLAN, AAD_PREMIUM_P2_PLAN],
};

/// Microsoft Entra ID Governance (includes PIM and the P2 governance features).
pub const GOVERNANCE: Sku = Sku {
    id: "cf6b0d46-4093-4546-a0ab-0b1546dcc10e",
    part_number: "Microsoft_Entra_ID_Governance",
    product: "Microsoft Entra ID Governance",
    short: "GOVERNANCE",
    tier: LicenseTier::P2,
    plans: &[GOVERNANCE_PLAN],
};

/// Every SKU Castellan knows.
pub const SKUS: &[Sku] = &[P1, P2, GOVERNANCE];

/// The SKU with this `skuId` (any case).
pub fn sku_by_id(id: &str) -> Option<&'static Sku> {
    SKUS.iter().find(|s| s.id.eq_ignore_ascii_case(id.trim()))
}

/// The SKU the operator names: `P1`, `P2`, `GOVERNANCE`, a `skuPartNumber` or a `skuId`.
pub fn sku_by_name(name: &str) -> Option<&'static Sku> {
    let n = name.trim();
    SKUS.iter()
        .find(|s| s.short.eq_ignore_ascii_case(n) || s.part_number.eq_ignore_ascii_case(n))
        .or_else(|| sku_by_id(n))
}

/// The units a subscription holds beyond which nothing is seeded: tenants created with a tier
/// (and the demo tenant) hold this many units of it until the operator says otherwise.
pub const SEEDED_UNITS: u32 = 100;

/// One of a tenant's subscriptions (`subscribedSku`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The tenant.
    pub tenant_id: TenantId,
    /// `skuId` (lowercase; one of [`SKUS`]).
    pub sku_id: String,
    /// `prepaidUnits.enabled`.
    pub enabled: u32,
    /// `prepaidUnits.suspended`.
    pub suspended: u32,
    /// `prepaidUnits.warning`.
    pub warning: u32,
}

impl Subscription {
    /// Its SKU (`None` only for a row naming a SKU this build does not know).
    pub fn sku(&self) -> Option<&'static Sku> {
        sku_by_id(&self.sku_id)
    }
    /// Units that may be assigned: enabled plus warning (the grace period still works).
    pub fn capacity(&self) -> u32 {
        self.enabled.saturating_add(self.warning)
    }
    /// `capabilityStatus`.
    pub fn capability_status(&self) -> &'static str {
        if self.enabled > 0 {
            "Enabled"
        } else if self.warning > 0 {
            "Warning"
        } else if self.suspended > 0 {
            "Suspended"
        } else {
            "LockedOut"
        }
    }
}

/// The subscriptions a tenant holds: the stored ones, or — for a tenant no operator has set
/// units on (created with a tier, or stored before licences existed) — the subscription its
/// tier implies, so its tier and its `subscribedSkus` agree.
pub fn effective_subscriptions(
    tenant_id: TenantId,
    tier: LicenseTier,
    stored: Vec<Subscription>,
) -> Vec<Subscription> {
    if !stored.is_empty() {
        return stored;
    }
    let sku = match tier {
        LicenseTier::Free => return Vec::new(),
        LicenseTier::P1 => &P1,
        LicenseTier::P2 => &P2,
    };
    vec![Subscription {
        tenant_id,
        sku_id: sku.id.into(),
        enabled: SEEDED_UNITS,
        suspended: 0,
        warning: 0,
    }]
}

/// The tenant's tier from its subscriptions: P2 while an enabled P2 (or Governance)
/// subscription has units, P1 for P1, else Free (Entra gates these features per tenant).
pub fn tier_of(subs: &[Subscription]) -> LicenseTier {
    let mut tier = LicenseTier::Free;
    for s in subs.iter().filter(|s| s.capacity() > 0) {
        match s.sku().map(|k| k.tier) {
            Some(LicenseTier::P2) => return LicenseTier::P2,
            Some(LicenseTier::P1) => tier = LicenseTier::P1,
            _ => {}
        }
    }
    tier
}

/// A premium feature and the SKU Entra gates it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Conditional Access policies (P1).
    ConditionalAccess,
    /// Risk conditions in Conditional Access (P2).
    RiskBasedPolicies,
    /// Custom directory roles (P1).
    CustomRoles,
    /// Dynamic membership groups (P1).
    DynamicGroups,
    /// Identity Protection: riskDetections, riskyUsers (P2).
    IdentityProtection,
    /// Privileged Identity Management (P2 or Governance).
    Pim,
}

impl Feature {
    /// What the feature is called in messages.
    pub const fn label(self) -> &'static str {
        match self {
            Self::ConditionalAccess => "Conditional Access",
            Self::RiskBasedPolicies => {
                "Risk-based Conditional Access (signInRiskLevels, userRiskLevels)"
            }
            Self::CustomRoles => "Custom directory roles",
            Self::DynamicGroups => "Dynamic membership groups",
            Self::IdentityProtection => "Identity Protection (riskDetections, riskyUsers)",
            Self::Pim => "Privileged Identity Management",
        }
    }
    /// The SKU that unlocks it.
    pub const fn sku(self) -> &'static Sku {
        match self {
            Self::ConditionalAccess | Self::CustomRoles | Self::DynamicGroups => &P1,
            Self::RiskBasedPolicies | Self::IdentityProtection | Self::Pim => &P2,
        }
    }
}

/// The gate: `Ok(skuPartNumber)` of the SKU that allows `feature` at `tier`, or the refusal
/// naming the SKU it needs (recorded with the decision either way).
pub fn gate(feature: Feature, tier: LicenseTier) -> Result<&'static str, String> {
    let need = feature.sku();
    let ok = match need.tier {
        LicenseTier::P1 => tier != LicenseTier::Free,
        _ => tier == LicenseTier::P2,
    };
    if ok {
        Ok(match tier {
            LicenseTier::P2 => P2.part_number,
            _ => P1.part_number,
        })
    } else {
        Err(format!(
            "{} needs a {} licence (skuPartNumber {}, skuId {}); this tenant is on {}. Add units of {} to the tenant (castellan tenant license set --sku {} --units N).",
            feature.label(),
            need.product,
            need.part_number,
            need.id,
            match tier {
                LicenseTier::Free => "Free",
                LicenseTier::P1 => "P1 (AAD_PREMIUM)",
                LicenseTier::P2 => "P2 (AAD_PREMIUM_P2)",
            },
            need.part_number,
            need.short,
        ))
    }
}

/// A licence assigned to a user or a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseAssignment {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user or group.
    pub principal_id: ObjectId,
    /// `skuId` (lowercase).
    pub sku_id: String,
    /// `disabledPlans` (lowercase service-plan ids).
    pub disabled_plans: Vec<String>,
    /// When it was assigned (or last changed).
    pub assigned: Timestamp,
}

/// `licenseAssignmentStates[].state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentState {
    /// In force.
    Active,
    /// Not in force: see the error.
    Error,
}

/// One entry of a user's `licenseAssignmentStates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserLicenseState {
    /// `skuId`.
    pub sku_id: String,
    /// `disabledPlans`.
    pub disabled_plans: Vec<String>,
    /// `assignedByGroup` (`None`: direct).
    pub assigned_by_group: Option<ObjectId>,
    /// `state`.
    pub state: AssignmentState,
    /// `error`: `None` or `CountViolation`.
    pub error: Option<&'static str>,
    /// `lastUpdatedDateTime`.
    pub last_updated: Timestamp,
}

/// What the tenant's users hold, computed from assignments, memberships and subscriptions.
#[derive(Clone, Debug, Default)]
pub struct LicenseView {
    /// Per user: its assignment states, direct first, then by group.
    pub users: HashMap<ObjectId, Vec<UserLicenseState>>,
    /// Per SKU (lowercase id): users holding it in force (`consumedUnits`).
    pub consumed: HashMap<String, u32>,
    /// Per SKU: distinct users assigned it (in force or not).
    pub assigned: HashMap<String, u32>,
}

impl LicenseView {
    /// Computes the view. `users`: the tenant's user ids; `groups`: its group ids; a group's
    /// licence reaches its direct user members. Per SKU, users are ranked (direct assignment
    /// first, then earliest assignment, then id) and those beyond the subscription's capacity
    /// hold it in error (`CountViolation`).
    pub fn compute(
        subs: &[Subscription],
        assignments: &[LicenseAssignment],
        memberships: &[Membership],
        users: &HashSet<ObjectId>,
        groups: &HashSet<ObjectId>,
    ) -> Self {
        let mut members: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        for m in memberships {
            if m.member_kind == ObjectKind::User && users.contains(&m.member_id) {
                members.entry(m.group_id).or_default().push(m.member_id);
            }
        }
        // (user, sku) -> entries
        let mut held: BTreeMap<(String, ObjectId), Vec<UserLicenseState>> = BTreeMap::new();
        for a in assignments {
            let sku = a.sku_id.to_ascii_lowercase();
            let entry = |by: Option<ObjectId>| UserLicenseState {
                sku_id: sku.clone(),
                disabled_plans: a.disabled_plans.clone(),
                assigned_by_group: by,
                state: AssignmentState::Active,
                error: None,
                last_updated: a.assigned,
            };
            if users.contains(&a.principal_id) {
                held.entry((sku.clone(), a.principal_id))
                    .or_default()
                    .push(entry(None));
            } else if groups.contains(&a.principal_id) {
                for u in members.get(&a.principal_id).into_iter().flatten() {
                    held.entry((sku.clone(), *u))
                        .or_default()
                        .push(entry(Some(a.principal_id)));
                }
            }
        }
        let capacity: HashMap<String, u32> = subs
            .iter()
            .map(|s| (s.sku_id.to_ascii_lowercase(), s.capacity()))
            .collect();
        let mut per_sku: BTreeMap<String, Vec<(bool, Timestamp, ObjectId)>> = BTreeMap::new();
        for ((sku, u), es) in &held {
            let direct = es.iter().any(|e| e.assigned_by_group.is_none());
            let first = es.iter().map(|e| e.last_updated).min().unwrap_or_default();
            per_sku
                .entry(sku.clone())
                .or_default()
                .push((!direct, first, *u));
        }
        let mut view = LicenseView::default();
        for (sku, mut ranked) in per_sku {
            ranked.sort();
            let cap = capacity.get(&sku).copied().unwrap_or(0) as usize;
            view.assigned.insert(sku.clone(), ranked.len() as u32);
            view.consumed
                .insert(sku.clone(), ranked.len().min(cap) as u32);
            for (i, (_, _, u)) in ranked.into_iter().enumerate() {
                let mut es = held.remove(&(sku.clone(), u)).unwrap_or_default();
                if i >= cap {
                    for e in &mut es {
                        e.state = AssignmentState::Error;
                        e.error = Some("CountViolation");
                    }
                }
                view.users.entry(u).or_default().extend(es);
            }
        }
        for v in view.users.values_mut() {
            v.sort_by(|a, b| {
                (
                    a.assigned_by_group.is_some(),
                    a.assigned_by_group,
                    &a.sku_id,
                )
                    .cmp(&(
                        b.assigned_by_group.is_some(),
                        b.assigned_by_group,
                        &b.sku_id,
                    ))
            });
        }
        view
    }

    /// A user's assignment states.
    pub fn states(&self, user: ObjectId) -> &[UserLicenseState] {
        self.users.get(&user).map_or(&[], Vec::as_slice)
    }

    /// A user's `assignedLicenses`: one per SKU in force; its disabled plans are those every
    /// source in force disables (a plan enabled by any source is enabled).
    pub fn assigned_licenses(&self, user: ObjectId) -> Vec<(String, Vec<String>)> {
        let mut out: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        for s in self
            .states(user)
            .iter()
            .filter(|s| s.state == AssignmentState::Active)
        {
            let slot = out.entry(s.sku_id.clone()).or_default();
            *slot = Some(match slot.take() {
                None => s.disabled_plans.clone(),
                Some(prev) => prev
                    .into_iter()
                    .filter(|p| s.disabled_plans.contains(p))
                    .collect(),
            });
        }
        out.into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }

    /// A user's `assignedPlans`: every plan of every SKU in force, `Enabled` unless disabled
    /// (`Deleted`), with the assignment time.
    pub fn assigned_plans(&self, user: ObjectId) -> Vec<AssignedPlan> {
        let mut out = Vec::new();
        for (sku_id, disabled) in self.assigned_licenses(user) {
            let Some(sku) = sku_by_id(&sku_id) else {
                continue;
            };
            let when = self
                .states(user)
                .iter()
                .filter(|s| s.sku_id == sku_id)
                .map(|s| s.last_updated)
                .min()
                .unwrap_or_default();
            for p in sku.plans {
                out.push(AssignedPlan {
                    plan: *p,
                    enabled: !disabled.iter().any(|d| d.eq_ignore_ascii_case(p.id)),
                    assigned: when,
                });
            }
        }
        out
    }

    /// Whether `user` holds `sku` at all (in force or in error).
    pub fn holds(&self, user: ObjectId, sku: &str) -> bool {
        self.states(user)
            .iter()
            .any(|s| s.sku_id.eq_ignore_ascii_case(sku))
    }
}

/// One of a user's `assignedPlans`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedPlan {
    /// The plan.
    pub plan: ServicePlan,
    /// `capabilityStatus` `Enabled` (else `Deleted`).
    pub enabled: bool,
    /// `assignedDateTime`.
    pub assigned: Timestamp,
}

/// Validates `usageLocation`: ISO 3166-1 alpha-2, two ASCII letters (stored upper case).
pub fn validate_usage_location(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        let up = t.to_ascii_uppercase();
        if ISO_3166_ALPHA2.split(' ').any(|c| c == up) {
            return Ok(up);
        }
    }
    Err(format!(
        "Property 'usageLocation' value '{v}' is not a valid ISO 3166-1 alpha-2 country code (two letters, such as US, GB, DE)."
    ))
}

/// The ISO 3166-1 alpha-2 country codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId::parse("11111111-1111-1111-1111-111111111111").unwrap()
    }
    fn oid(n: u8) -> ObjectId {
        ObjectId::from_random([n; 16])
    }
    fn sub(sku: &Sku, enabled: u32) -> Subscription {
        Subscription {
            tenant_id: t(),
            sku_id: sku.id.into(),
            enabled,
            suspended: 0,
            warning: 0,
        }
    }
    fn assign(p: ObjectId, sku: &Sku, at: i64) -> LicenseAssignment {
        LicenseAssignment {
            tenant_id: t(),
            principal_id: p,
            sku_id: sku.id.into(),
            disabled_plans: vec![],
            assigned: Timestamp(at),
        }
    }

    #[test]
    fn the_tier_follows_subscriptions_with_units() {
        assert_eq!(tier_of(&[]), LicenseTier::Free);
        assert_eq!(tier_of(&[sub(&P1, 5)]), LicenseTier::P1);
        assert_eq!(tier_of(&[sub(&P1, 5), sub(&P2, 1)]), LicenseTier::P2);
        assert_eq!(tier_of(&[sub(&GOVERNANCE, 1)]), LicenseTier::P2);
        assert_eq!(tier_of(&[sub(&P2, 0)]), LicenseTier::Free);
        assert_eq!(tier_of(&[sub(&P2, 0), sub(&P1, 2)]), LicenseTier::P1);
    }

    #[test]
    fn a_tier_without_stored_subscriptions_implies_its_sku() {
        let s = effective_subscriptions(t(), LicenseTier::P2, vec![]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].sku_id, P2.id);
        assert_eq!(tier_of(&s), LicenseTier::P2);
        assert!(effective_subscriptions(t(), LicenseTier::Free, vec![]).is_empty());
        let stored = vec![sub(&P2, 0)];
        assert_eq!(
            effective_subscriptions(t(), LicenseTier::P2, stored.clone()),
            stored
        );
    }

    #[test]
    fn the_gate_names_the_sku() {
        let e = gate(Feature::ConditionalAccess, LicenseTier::Free).unwrap_err();
        assert!(e.contains("AAD_PREMIUM") && e.contains(P1.id), "{e}");
        assert_eq!(
            gate(Feature::ConditionalAccess, LicenseTier::P1),
            Ok("AAD_PREMIUM")
        );
        let e = gate(Feature::Pim, LicenseTier::P1).unwrap_err();
        assert!(e.contains("AAD_PREMIUM_P2"), "{e}");
        assert_eq!(gate(Feature::Pim, LicenseTier::P2), Ok("AAD_PREMIUM_P2"));
    }

    #[test]
    fn group_licences_reach_direct_members_and_beyond_the_count_are_in_error() {
        let (u1, u2, u3, g) = (oid(1), oid(2), oid(3), oid(9));
        let users: HashSet<_> = [u1, u2, u3].into();
        let groups: HashSet<_> = [g].into();
        let edges = vec![
            Membership {
                group_id: g,
                member_id: u2,
                member_kind: ObjectKind::User,
            },
            Membership {
                group_id: g,
                member_id: u3,
                member_kind: ObjectKind::User,
            },
        ];
        let a = vec![assign(u1, &P2, 10), assign(g, &P2, 5)];
        let v = LicenseView::compute(&[sub(&P2, 2)], &a, &edges, &users, &groups);
        // u1 is direct (ranked first); of u2 and u3 (same time), the lower id wins the unit.
        assert_eq!(v.states(u1)[0].state, AssignmentState::Active);
        assert_eq!(v.states(u2)[0].assigned_by_group, Some(g));
        assert_eq!(v.states(u2)[0].state, AssignmentState::Active);
        assert_eq!(v.states(u3)[0].error, Some("CountViolation"));
        assert!(v.assigned_licenses(u3).is_empty());
        assert_eq!(v.consumed[P2.id], 2);
        assert_eq!(v.assigned[P2.id], 3);
        assert_eq!(v.assigned_plans(u1).len(), 3);
        // Membership ends: the inherited licence goes with it.
        let v = LicenseView::compute(&[sub(&P2, 2)], &a, &edges[..1], &users, &groups);
        assert!(v.states(u3).is_empty());
        assert_eq!(v.consumed[P2.id], 2);
    }

    #[test]
    fn disabled_plans_are_those_every_source_disables() {
        let (u, g) = (oid(1), oid(9));
        let mut direct = assign(u, &P2, 1);
        direct.disabled_plans = vec![MFA_PREMIUM_PLAN.id.into(), AAD_PREMIUM_P2_PLAN.id.into()];
        let mut via = assign(g, &P2, 2);
        via.disabled_plans = vec![MFA_PREMIUM_PLAN.id.into()];
        let edges = vec![Membership {
            group_id: g,
            member_id: u,
            member_kind: ObjectKind::User,
        }];
        let v = LicenseView::compute(
            &[sub(&P2, 5)],
            &[direct, via],
            &edges,
            &[u].into(),
            &[g].into(),
        );
        assert_eq!(
            v.assigned_licenses(u),
            vec![(P2.id.to_string(), vec![MFA_PREMIUM_PLAN.id.to_string()])]
        );
        let plans = v.assigned_plans(u);
        assert!(plans
            .iter()
            .any(|p| p.plan.name == "MFA_PREMIUM" && !p.enabled));
        assert!(plans
            .iter()
            .any(|p| p.plan.name == "AAD_PREMIUM_P2" && p.enabled));
    }

    #[test]
    fn usage_location_is_iso_3166_alpha_2() {
        assert_eq!(validate_usage_location("us"), Ok("US".into()));
        for bad in ["", "U", "USA", "ZZ", "1A"] {
            assert!(validate_usage_location(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skus_are_found_by_short_name_part_number_and_id() {
        assert_eq!(sku_by_name("p1"), Some(&P1));
        assert_eq!(sku_by_name("AAD_PREMIUM_P2"), Some(&P2));
        assert_eq!(sku_by_name(GOVERNANCE.id), Some(&GOVERNANCE));
        assert_eq!(sku_by_name("E5"), None);
    }
}
