//! Which tenant a sign-in at `/common` or `/organizations` issues from, for a person who is a
//! member of one tenant (home) and an accepted guest of others. Entra resolves these
//! authorities to the user's home tenant; a request naming a tenant (`domain_hint` with one of
//! its domains or its id) decides instead; when the app is available in more than one of the
//! person's tenants and nothing in the request decides, the person picks (the home tenant
//! first and preselected). Pure: the server gathers the candidates.

use crate::ids::{ObjectId, TenantId};

/// One tenant the person can sign in to with this app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The tenant.
    pub tenant: TenantId,
    /// Its display name (for the picker).
    pub name: String,
    /// Its domains (initial and verified, lower case), matched by `domain_hint`.
    pub domains: Vec<String>,
    /// The guest object there (`None` for the home tenant).
    pub guest: Option<ObjectId>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Sign in to this tenant without asking.
    Use(Candidate),
    /// Ask: these tenants (the home tenant first).
    Pick(Vec<Candidate>),
}

/// Decides for `home` and the guest tenants `guests` (already filtered to those where the
/// request's app is available), given the request's `domain_hint`.
pub fn choose(home: Candidate, guests: Vec<Candidate>, domain_hint: Option<&str>) -> Choice {
    let hint = domain_hint
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    if let Some(h) = hint {
        let names = |c: &Candidate| c.tenant.to_string() == h || c.domains.contains(&h);
        if names(&home) {
            return Choice::Use(home);
        }
        if let Some(g) = guests.iter().find(|c| names(c)) {
            return Choice::Use(g.clone());
        }
        // A hint naming none of the person's tenants: Entra's default, the home tenant.
        return Choice::Use(home);
    }
    if guests.is_empty() {
        return Choice::Use(home);
    }
    let mut all = vec![home];
    all.extend(guests);
    Choice::Pick(all)
}

/// Decides for a person with no home tenant on this server — a guest who signs in at an
/// external identity provider — among the tenants `guests` where they are an accepted guest
/// and the app is available: `None` when there is none; one, or the one `domain_hint` names,
/// is used; otherwise the person picks (a hint naming none of them does not decide).
pub fn choose_without_home(guests: Vec<Candidate>, domain_hint: Option<&str>) -> Option<Choice> {
    let hint = domain_hint
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    if let Some(h) = hint {
        if let Some(g) = guests
            .iter()
            .find(|c| c.tenant.to_string() == h || c.domains.contains(&h))
        {
            return Some(Choice::Use(g.clone()));
        }
    }
    match guests.len() {
        0 => None,
        1 => guests.into_iter().next().map(Choice::Use),
        _ => Some(Choice::Pick(guests)),
    }
}

/// The candidate the picker's answer `chosen` names, if it was offered.
pub fn picked(offered: &[Candidate], chosen: &str) -> Option<Candidate> {
    let chosen = chosen.trim().to_ascii_lowercase();
    offered
        .iter()
        .find(|c| c.tenant.to_string() == chosen)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u128) -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn cand(n: u128, guest: bool) -> Candidate {
        Candidate {
            tenant: tid(n),
            name: format!("T{n}"),
            domains: vec![format!("t{n}.example")],
            guest: guest.then(|| ObjectId::from_uuid(uuid::Uuid::from_u128(n + 100))),
        }
    }

    #[test]
    fn home_without_guest_tenants_is_used_without_asking() {
        assert_eq!(
            choose(cand(1, false), vec![], None),
            Choice::Use(cand(1, false))
        );
    }

    #[test]
    fn guest_tenants_make_a_picker_with_home_first() {
        let c = choose(cand(1, false), vec![cand(2, true), cand(3, true)], None);
        let Choice::Pick(list) = c else {
            panic!("{c:?}")
        };
        assert_eq!(list.len(), 3);
        assert_eq!(list.first(), Some(&cand(1, false)));
    }

    #[test]
    fn domain_hint_decides() {
        let guests = vec![cand(2, true), cand(3, true)];
        assert_eq!(
            choose(cand(1, false), guests.clone(), Some("T3.example")),
            Choice::Use(cand(3, true))
        );
        let id = tid(2).to_string();
        assert_eq!(
            choose(cand(1, false), guests.clone(), Some(&id)),
            Choice::Use(cand(2, true))
        );
        assert_eq!(
            choose(cand(1, false), guests.clone(), Some("t1.example")),
            Choice::Use(cand(1, false))
        );
        // A hint naming none of them: the home tenant (Entra's default), no picker.
        assert_eq!(
            choose(cand(1, false), guests, Some("elsewhere.example")),
            Choice::Use(cand(1, false))
        );
    }

    #[test]
    fn without_a_home_one_guest_tenant_is_used_several_are_picked_a_hint_decides() {
        assert_eq!(choose_without_home(vec![], None), None);
        assert_eq!(choose_without_home(vec![], Some("t2.example")), None);
        assert_eq!(
            choose_without_home(vec![cand(2, true)], None),
            Some(Choice::Use(cand(2, true)))
        );
        let both = vec![cand(2, true), cand(3, true)];
        assert_eq!(
            choose_without_home(both.clone(), None),
            Some(Choice::Pick(both.clone()))
        );
        assert_eq!(
            choose_without_home(both.clone(), Some("T3.example")),
            Some(Choice::Use(cand(3, true)))
        );
        // a hint naming neither: still the person's choice
        assert_eq!(
            choose_without_home(both.clone(), Some("elsewhere.example")),
            Some(Choice::Pick(both))
        );
    }

    #[test]
    fn only_offered_tenants_can_be_picked() {
        let offered = vec![cand(1, false), cand(2, true)];
        assert_eq!(picked(&offered, &tid(2).to_string()), Some(cand(2, true)));
        assert_eq!(picked(&offered, &tid(9).to_string()), None);
        assert_eq!(picked(&offered, "garbage"), None);
    }
}
