//! Groups, membership edges and the pure rules over them (transitive closure, cycles).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::ids::{ObjectId, TenantId};
use crate::model::ObjectKind;
use crate::time::Timestamp;

/// A group (security or Microsoft 365).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Object id.
    pub id: ObjectId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// `["Unified"]` for Microsoft 365 groups, empty for security groups.
    pub group_types: Vec<String>,
    /// Mail-enabled.
    pub mail_enabled: bool,
    /// Security-enabled.
    pub security_enabled: bool,
    /// Mail nickname.
    pub mail_nickname: String,
    /// Role-assignable (`isAssignableToRole`, set at creation only): may hold directory roles;
    /// only Privileged Role Administrators (or Global Administrators) change its members.
    pub is_assignable_to_role: bool,
    /// Creation time.
    pub created: Timestamp,
    /// `membershipRule` (dynamic groups: `groupTypes` holds `DynamicMembership`).
    pub membership_rule: Option<String>,
    /// `membershipRuleProcessingState` (dynamic groups).
    pub membership_rule_processing_state: Option<RuleProcessingState>,
}

impl Group {
    /// `groupTypes` holds `DynamicMembership`: members follow `membershipRule`.
    pub fn is_dynamic(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    }
    /// A dynamic group whose rule is being applied (`On`).
    pub fn rule_is_on(&self) -> bool {
        self.is_dynamic() && self.membership_rule_processing_state == Some(RuleProcessingState::On)
    }
}

/// `membershipRuleProcessingState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleProcessingState {
    /// The rule decides the members.
    On,
    /// Members stay as they are until the rule is turned on again.
    Paused,
}

impl RuleProcessingState {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::On => "On",
            Self::Paused => "Paused",
        }
    }
    /// Graph's spelling, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("On") {
            Some(Self::On)
        } else if s.eq_ignore_ascii_case("Paused") {
            Some(Self::Paused)
        } else {
            None
        }
    }
}

/// A membership edge: `member` is a direct member of `group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The group.
    pub group_id: ObjectId,
    /// The member.
    pub member_id: ObjectId,
    /// What the member is.
    pub member_kind: ObjectKind,
}

/// Checks a group's mail nickname the way Graph does.
pub fn validate_mail_nickname(nick: &str) -> Result<(), String> {
    if nick.is_empty() || nick.len() > 64 {
        return Err(format!("mailNickname '{nick}' must be 1 to 64 characters"));
    }
    if let Some(c) = nick
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || "@()\\[]\";:<>, ".contains(*c))
    {
        return Err(format!("mailNickname '{nick}' contains '{c}', which is not allowed (no spaces, non-ASCII or @()\\[]\";:<>,)"));
    }
    Ok(())
}

/// The membership graph of one tenant, indexed both ways.
#[derive(Default, Debug)]
pub struct MembershipGraph {
    children: HashMap<ObjectId, Vec<(ObjectId, ObjectKind)>>,
    parents: HashMap<ObjectId, Vec<ObjectId>>,
}

impl MembershipGraph {
    /// Builds the index from a tenant's edges.
    pub fn new(edges: &[Membership]) -> Self {
        let mut g = Self::default();
        for e in edges {
            g.children
                .entry(e.group_id)
                .or_default()
                .push((e.member_id, e.member_kind));
            g.parents.entry(e.member_id).or_default().push(e.group_id);
        }
        g
    }

    /// Direct members of `group`.
    pub fn direct_members(&self, group: ObjectId) -> Vec<(ObjectId, ObjectKind)> {
        self.children.get(&group).cloned().unwrap_or_default()
    }

    /// Every member reachable through nested groups, each once, in breadth-first order.
    pub fn transitive_members(&self, group: ObjectId) -> Vec<(ObjectId, ObjectKind)> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([group]);
        let mut queue = VecDeque::from([group]);
        while let Some(g) = queue.pop_front() {
            for (m, k) in self.children.get(&g).into_iter().flatten() {
                if seen.insert(*m) {
                    out.push((*m, *k));
                    if *k == ObjectKind::Group {
                        queue.push_back(*m);
                    }
                }
            }
        }
        out
    }

    /// Groups `object` is a direct member of.
    pub fn direct_member_of(&self, object: ObjectId) -> Vec<ObjectId> {
        self.parents.get(&object).cloned().unwrap_or_default()
    }

    /// Every group `object` is in, directly or through nesting, each once.
    pub fn transitive_member_of(&self, object: ObjectId) -> Vec<ObjectId> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([object]);
        let mut queue = VecDeque::from([object]);
        while let Some(o) = queue.pop_front() {
            for p in self.parents.get(&o).into_iter().flatten() {
                if seen.insert(*p) {
                    out.push(*p);
                    queue.push_back(*p);
                }
            }
        }
        out
    }

    /// Whether adding `member` (a group) to `group` would close a cycle: true when `group`
    /// is `member` itself or already nested (transitively) inside `member`.
    pub fn would_cycle(&self, group: ObjectId, member: ObjectId) -> bool {
        group == member
            || self
                .transitive_members(member)
                .iter()
                .any(|(m, _)| *m == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_random([n; 16])
    }
    fn edge(g: u8, m: u8, k: ObjectKind) -> Membership {
        Membership {
            group_id: id(g),
            member_id: id(m),
            member_kind: k,
        }
    }

    #[test]
    fn transitive_closure_and_cycles() {
        use ObjectKind::*;
        // 1 ⊃ 2 ⊃ 3 ⊃ user 10; 1 ⊃ user 11; 4 ⊃ 3 (diamond-ish)
        let g = MembershipGraph::new(&[
            edge(1, 2, Group),
            edge(2, 3, Group),
            edge(3, 10, User),
            edge(1, 11, User),
            edge(4, 3, Group),
        ]);
        let mut t: Vec<ObjectId> = g
            .transitive_members(id(1))
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        t.sort();
        let mut want = vec![id(2), id(3), id(10), id(11)];
        want.sort();
        assert_eq!(t, want);
        assert_eq!(g.direct_members(id(1)).len(), 2);
        let mut of: Vec<ObjectId> = g.transitive_member_of(id(10));
        of.sort();
        let mut want = vec![id(1), id(2), id(3), id(4)];
        want.sort();
        assert_eq!(of, want);
        assert_eq!(g.direct_member_of(id(10)), vec![id(3)]);
        assert!(
            g.would_cycle(id(3), id(1)),
            "3 is inside 1, so 1 cannot join 3"
        );
        assert!(g.would_cycle(id(2), id(2)), "self");
        assert!(!g.would_cycle(id(4), id(1)), "4 is not inside 1");
        assert!(!g.would_cycle(id(1), id(4)));
    }

    #[test]
    fn closure_terminates_on_existing_cycle() {
        use ObjectKind::*;
        let g = MembershipGraph::new(&[edge(1, 2, Group), edge(2, 1, Group)]);
        assert_eq!(
            g.transitive_members(id(1)).len(),
            1,
            "1 itself is not reported"
        );
        assert_eq!(g.transitive_member_of(id(1)), vec![id(2)]);
    }

    #[test]
    fn mail_nickname_rules() {
        assert!(validate_mail_nickname("engineering-team").is_ok());
        for bad in ["", "has space", "a@b", "ünï", &"x".repeat(65), "semi;colon"] {
            assert!(validate_mail_nickname(bad).is_err(), "{bad}");
        }
    }
}
