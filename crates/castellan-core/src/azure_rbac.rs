//! The resource plane's authorization engine (Azure RBAC), pure: role definitions with Actions /
//! NotActions / DataActions / NotDataActions (Azure's built-in roles from
//! `data/azure-roles.tsv`, generated from `shared/reference/azure-builtin-roles.json`), scopes and
//! their ancestry (root `/` > management groups > subscription > resource group > resource and
//! child resources), and `check`, which decides one operation for one principal and explains
//! itself — which assignment allowed it, or why the nearest ones did not.
//!
//! The directory plane (`directory_roles`) is separate on purpose: nothing here looks at
//! directory roles, so a Global Administrator has no resource access unless assigned here.
//!
//! Bounds: a scope (or resource id) is at most [`MAX_SCOPE_LEN`] bytes and
//! [`MAX_SCOPE_SEGMENTS`] `/`-separated segments ([`check_scope_bounds`]); every caller that takes
//! one from a request checks it before walking its ancestry, whose cost grows with the segments.

use std::sync::OnceLock;

pub use crate::abac::op_matches;
pub use crate::model::resource::{normalise_scope, AzureRole, DenyAssignment};
use crate::ObjectId;

const TSV: &str = include_str!("../data/azure-roles.tsv");

/// The longest accepted scope or resource id, in bytes. ARM ids are far shorter; a data-plane
/// scope ends in a blob path (Azure: blob names up to 1,024 characters), which fits.
pub const MAX_SCOPE_LEN: usize = 2048;
/// The most `/`-separated segments a scope may have (Azure: a blob name has at most 254 path
/// segments; resource ids a few dozen).
pub const MAX_SCOPE_SEGMENTS: usize = 300;

/// Refuses a scope beyond [`MAX_SCOPE_LEN`] or [`MAX_SCOPE_SEGMENTS`]; the message names the
/// limit and the value (the caller adds its own error shape).
pub fn check_scope_bounds(scope: &str) -> Result<(), String> {
    if scope.len() > MAX_SCOPE_LEN {
        return Err(format!(
            "the scope is {} bytes long; at most {MAX_SCOPE_LEN} are accepted",
            scope.len()
        ));
    }
    let segments = scope.split('/').filter(|s| !s.is_empty()).count();
    if segments > MAX_SCOPE_SEGMENTS {
        return Err(format!(
            "the scope has {segments} segments; at most {MAX_SCOPE_SEGMENTS} are accepted"
        ));
    }
    Ok(())
}

fn words(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Azure's built-in roles.
pub fn built_in_roles() -> &'static [AzureRole] {
    static ALL: OnceLock<Vec<AzureRole>> = OnceLock::new();
    ALL.get_or_init(|| {
        TSV.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some(AzureRole {
                    id: uuid::Uuid::parse_str(f.first()?).ok()?,
                    name: (*f.get(1)?).to_string(),
                    description: (*f.get(2)?).to_string(),
                    actions: words(f.get(3).copied()),
                    not_actions: words(f.get(4).copied()),
                    data_actions: words(f.get(5).copied()),
                    not_data_actions: words(f.get(6).copied()),
                    assignable_scopes: vec![],
                })
            })
            .collect()
    })
}

/// A built-in role by id (hash lookup).
pub fn built_in_by_id(id: uuid::Uuid) -> Option<&'static AzureRole> {
    static BY_ID: std::sync::OnceLock<std::collections::HashMap<uuid::Uuid, usize>> =
        std::sync::OnceLock::new();
    let map = BY_ID.get_or_init(|| {
        built_in_roles()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect()
    });
    map.get(&id).and_then(|i| built_in_roles().get(*i))
}

/// A built-in role by name (case-insensitive).
pub fn built_in_by_name(name: &str) -> Option<&'static AzureRole> {
    built_in_roles()
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// Whether a role grants an operation: `Actions − NotActions` for control-plane operations,
/// `DataActions − NotDataActions` for data-plane ones (never mixed).
pub fn role_grants(role: &AzureRole, op: &str, data: bool) -> bool {
    let (allow, deny) = if data {
        (&role.data_actions, &role.not_data_actions)
    } else {
        (&role.actions, &role.not_actions)
    };
    allow.iter().any(|a| op_matches(a, op)) && !deny.iter().any(|d| op_matches(d, op))
}

/// Why a scope's spelling is refused: the offending segment (as written) and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeSyntaxError {
    /// The segment that broke the rule (`..`, `a%2Fb`, `x\\y`, or `""` for an empty one).
    pub segment: String,
    /// Which rule.
    pub why: &'static str,
}

/// Checks how a scope is *spelled* before anything compares it: ARM ids are plain `/`-separated
/// segments, so a `.` or `..` segment, an empty segment (`//`), a backslash or an encoded
/// separator or dot (`%2F`, `%5C`, `%2E`, and `%00`) is refused instead of being normalised —
/// a scope that two components could read as two different places (a path-normalising proxy, a
/// prefix compare over the raw text) must not reach the engine. One trailing slash is allowed
/// (`/subscriptions/{id}/`), as ARM does.
pub fn check_scope_syntax(scope: &str) -> Result<(), ScopeSyntaxError> {
    if scope.is_empty() || scope == "/" {
        return Ok(());
    }
    let bad = |segment: &str, why| {
        Err(ScopeSyntaxError {
            segment: segment.to_string(),
            why,
        })
    };
    let Some(body) = scope.strip_prefix('/') else {
        return bad(scope, "a scope starts with '/'");
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    for seg in body.split('/') {
        if seg.is_empty() {
            return bad(seg, "empty segments ('//') are not allowed");
        }
        if seg == "." || seg == ".." {
            return bad(seg, "'.' and '..' segments are not allowed");
        }
        if seg.contains('\\') {
            return bad(seg, "backslashes are not allowed");
        }
        let lower = seg.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        {
            return bad(
                seg,
                "percent-encoded separators or dots (%2F, %5C, %2E, %00) are not allowed",
            );
        }
        if seg.chars().any(char::is_control) {
            return bad(seg, "control characters are not allowed");
        }
    }
    Ok(())
}

/// The ancestry of a scope, nearest first and ending at `/`: a resource's parents (child types
/// strip two segments at a time), its resource group, its subscription, then the management
/// groups the subscription sits under (`management_groups`: nearest first, ids only), then root.
pub fn ancestors(scope: &str, management_groups: &[String]) -> Vec<String> {
    let s = normalise_scope(scope);
    let mut out = vec![s.clone()];
    if s == "/" {
        return out;
    }
    let segs: Vec<&str> = s.trim_start_matches('/').split('/').collect();
    if segs.first() == Some(&"subscriptions") {
        // /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}]*
        let mut n = segs.len();
        while n > 2 {
            n = if n > 6 && segs.get(4) == Some(&"providers") {
                // drop one (type, name) pair; the provider namespace stays with the first pair.
                if n - 2 >= 7 {
                    n - 2
                } else {
                    4
                }
            } else if n > 4 {
                4
            } else {
                2
            };
            out.push(format!(
                "/{}",
                segs.get(..n).map(|x| x.join("/")).unwrap_or_default()
            ));
        }
        for mg in management_groups {
            out.push(format!(
                "/providers/microsoft.management/managementgroups/{}",
                mg.to_ascii_lowercase()
            ));
        }
    } else if s.starts_with("/providers/microsoft.management/managementgroups/") {
        for mg in management_groups {
            let p = format!(
                "/providers/microsoft.management/managementgroups/{}",
                mg.to_ascii_lowercase()
            );
            if p != s {
                out.push(p);
            }
        }
    }
    out.dedup();
    out.push("/".into());
    out
}

/// A role assignment as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// Assignment id.
    pub id: String,
    /// The principal (user, group, service principal, managed identity).
    pub principal_id: ObjectId,
    /// The role definition id.
    pub role_id: uuid::Uuid,
    /// The scope (normalised by the engine).
    pub scope: String,
    /// An ABAC condition: the assignment grants only requests it holds for.
    pub condition: Option<crate::abac::Condition>,
}

/// Role assignments indexed by scope (normalised) and by principal. A check looks up the
/// handful of scopes on the target's ancestry and keeps the assignments whose principal is the
/// caller or one of its groups (a sorted set, binary-searched), so its cost depends on the
/// depth of the hierarchy and the assignments there — not on how many principals or groups the
/// tenant has, nor on the subscription's 4,000 assignments.
#[derive(Clone, Debug, Default)]
pub struct AssignmentIndex {
    by_scope: std::collections::HashMap<String, ScopeBucket>,
    by_principal: std::collections::HashMap<ObjectId, Vec<Assignment>, IdHash>,
}

/// The assignments at one scope, also keyed by principal.
#[derive(Clone, Debug, Default)]
struct ScopeBucket {
    all: Vec<Assignment>,
    by_principal: std::collections::HashMap<ObjectId, Vec<usize>, IdHash>,
}

/// Object ids are random GUIDs: folding their bytes is as good a hash as SipHash, and much
/// cheaper on the check path (the map is built from stored data, not attacker-chosen keys).
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHash;

/// The hasher of [`IdHash`].
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

impl AssignmentIndex {
    /// Builds the index (scopes are normalised here).
    pub fn new(assignments: &[Assignment]) -> Self {
        let mut idx = Self::default();
        for a in assignments {
            let mut a = a.clone();
            a.scope = normalise_scope(&a.scope);
            idx.by_principal
                .entry(a.principal_id)
                .or_default()
                .push(a.clone());
            let bucket = idx.by_scope.entry(a.scope.clone()).or_default();
            bucket
                .by_principal
                .entry(a.principal_id)
                .or_default()
                .push(bucket.all.len());
            bucket.all.push(a);
        }
        idx
    }
    /// A principal's assignments.
    pub fn of(&self, p: &ObjectId) -> &[Assignment] {
        self.by_principal.get(p).map_or(&[], Vec::as_slice)
    }
    /// The assignments at one (normalised) scope.
    pub fn at(&self, scope: &str) -> &[Assignment] {
        self.by_scope.get(scope).map_or(&[], |b| b.all.as_slice())
    }
    /// The assignments at one (normalised) scope held by any of `who` (sorted), in index order:
    /// looks each principal up when they are fewer than the scope's assignments, else scans.
    fn held_at<'a>(&'a self, scope: &str, who: &[ObjectId], out: &mut Vec<&'a Assignment>) {
        let Some(b) = self.by_scope.get(scope) else {
            return;
        };
        if who.len() < b.all.len() {
            for p in who {
                if let Some(ix) = b.by_principal.get(p) {
                    out.extend(ix.iter().filter_map(|i| b.all.get(*i)));
                }
            }
        } else {
            out.extend(
                b.all
                    .iter()
                    .filter(|a| who.binary_search(&a.principal_id).is_ok()),
            );
        }
    }
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by this assignment (id, role name, scope).
    Allowed {
        /// Assignment id.
        assignment: String,
        /// Role name.
        role: String,
        /// The assignment's scope.
        scope: String,
    },
    /// Not allowed; the explanation names the nearest assignments and why they did not cover it.
    Denied {
        /// Why.
        reason: String,
    },
}

/// Decides `op` (a data action if `data`) at `scope` for a principal whose identities are
/// `principals` (itself plus every group it is a transitive member of). `scope_chain` is
/// [`ancestors`] of the target scope. `roles` resolves role ids (built-ins and custom roles).
/// Assignment scopes are compared normalised ([`normalise_scope`]).
pub fn check<'r>(
    principals: &[ObjectId],
    op: &str,
    data: bool,
    scope_chain: &[String],
    assignments: &AssignmentIndex,
    roles: &dyn Fn(uuid::Uuid) -> Option<&'r AzureRole>,
    denies: &[DenyAssignment],
) -> Decision {
    check_with(
        principals,
        op,
        data,
        scope_chain,
        assignments,
        roles,
        denies,
        &crate::abac::Attributes::default(),
    )
}

/// [`check`] for a request with attributes, so role-assignment conditions can be decided
/// (`attributes.action` is set to `op` here).
#[allow(clippy::too_many_arguments)]
pub fn check_with<'r>(
    principals: &[ObjectId],
    op: &str,
    data: bool,
    scope_chain: &[String],
    assignments: &AssignmentIndex,
    roles: &dyn Fn(uuid::Uuid) -> Option<&'r AzureRole>,
    denies: &[DenyAssignment],
    attributes: &crate::abac::Attributes,
) -> Decision {
    let depth = |s: &str| -> Option<usize> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) || (s.len() > 1 && s.ends_with('/')) {
            let n = normalise_scope(s);
            scope_chain.iter().position(|c| *c == n)
        } else {
            scope_chain.iter().position(|c| c == s)
        }
    };
    for d in denies.iter().filter(|d| depth(&d.scope).is_some()) {
        let applies =
            d.principals.is_empty() || d.principals.iter().any(|p| principals.contains(p));
        let list = if data { &d.data_actions } else { &d.actions };
        if applies && list.iter().any(|a| op_matches(a, op)) {
            return Decision::Denied {
                reason: format!(
                    "The deny assignment '{}' at scope '{}' denies '{op}'.",
                    d.name, d.scope
                ),
            };
        }
    }
    // The principal's assignments on the chain, nearest first: look up each scope of the chain
    // and keep those held by the principal or one of its groups.
    let mut who: Vec<ObjectId> = principals.to_vec();
    who.sort_unstable();
    let mut mine: Vec<(usize, &Assignment)> = Vec::new();
    let mut here: Vec<&Assignment> = Vec::new();
    for (d, scope) in scope_chain.iter().enumerate() {
        here.clear();
        if scope.bytes().any(|b| b.is_ascii_uppercase()) {
            assignments.held_at(&normalise_scope(scope), &who, &mut here);
        } else {
            assignments.held_at(scope, &who, &mut here);
        }
        mine.extend(here.iter().map(|a| (d, *a)));
    }
    // Grants are decided per distinct role, once.
    let mut decided: Vec<(uuid::Uuid, bool)> = Vec::new();
    for (_, a) in &mine {
        let grants = match decided.iter().find(|(id, _)| *id == a.role_id) {
            Some((_, g)) => *g,
            None => {
                let g = roles(a.role_id).is_some_and(|r| role_grants(r, op, data));
                decided.push((a.role_id, g));
                g
            }
        };
        let condition_holds = || {
            a.condition.as_ref().is_none_or(|c| {
                let mut at = attributes.clone();
                at.action = op.to_string();
                crate::abac::evaluate(c, &at)
            })
        };
        if grants && condition_holds() {
            return Decision::Allowed {
                assignment: a.id.clone(),
                role: roles(a.role_id).map(|r| r.name.clone()).unwrap_or_default(),
                scope: a.scope.clone(),
            };
        }
    }
    let notes: Vec<String> = mine
        .iter()
        .filter_map(|(_, a)| roles(a.role_id).map(|r| (a, r)))
        .take(3)
        .map(|(a, role)| {
            let why = if role_grants(role, op, data) && a.condition.is_some() {
                "its condition does not hold for this request".to_string()
            } else if data && role.data_actions.is_empty() {
                "control-plane only, no DataActions".to_string()
            } else if !data && role.actions.is_empty() {
                "data-plane only, no Actions".to_string()
            } else if (if data {
                &role.not_data_actions
            } else {
                &role.not_actions
            })
            .iter()
            .any(|n| op_matches(n, op))
            {
                format!(
                    "'{op}' is in its Not{}Actions",
                    if data { "Data" } else { "" }
                )
            } else {
                format!(
                    "its {}Actions do not include '{op}'",
                    if data { "Data" } else { "" }
                )
            };
            format!("{} at '{}': {why}", role.name, a.scope)
        })
        .collect();
    let reason = if notes.is_empty() {
        format!(
            "The principal has no role assignment at '{}' or any scope above it that grants '{op}'.",
            scope_chain.first().map_or("/", String::as_str)
        )
    } else {
        format!(
            "No assignment grants '{op}'. Nearest assignments: {}.",
            notes.join("; ")
        )
    };
    Decision::Denied { reason }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scope_syntax_refuses_dot_empty_and_encoded_segments() {
        for ok in [
            "/",
            "",
            "/subscriptions/8f2c5b6e-1111-2222-3333-444455556666",
            "/subscriptions/8f2c5b6e-1111-2222-3333-444455556666/",
            "/subscriptions/s/resourceGroups/rg.v1/providers/Microsoft.Storage/storageAccounts/a",
            "/providers/Microsoft.Management/managementGroups/prod",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/c/blobs/dir/file%2520name.txt",
        ] {
            assert_eq!(check_scope_syntax(ok), Ok(()), "{ok}");
        }
        for (bad, seg) in [
            ("/subscriptions/s/resourceGroups/rg/..", ".."),
            ("/subscriptions/s/../t", ".."),
            ("/subscriptions/s/./resourceGroups/rg", "."),
            ("/subscriptions//resourceGroups/rg", ""),
            ("/subscriptions/s/resourceGroups/a%2Fb", "a%2Fb"),
            ("/subscriptions/s/resourceGroups/a%2fb", "a%2fb"),
            ("/subscriptions/s/resourceGroups/%2E%2E", "%2E%2E"),
            ("/subscriptions/s/resourceGroups/a%5Cb", "a%5Cb"),
            ("/subscriptions/s/resourceGroups/a\\b", "a\\b"),
            ("/subscriptions/s/resourceGroups/a%00", "a%00"),
            ("subscriptions/s", "subscriptions/s"),
        ] {
            match check_scope_syntax(bad) {
                Err(e) => assert_eq!(e.segment, seg, "{bad}"),
                Ok(()) => panic!("{bad} should be refused"),
            }
        }
    }

    #[test]
    fn scope_bounds() {
        assert!(check_scope_bounds("/").is_ok());
        assert!(check_scope_bounds(&"/a".repeat(MAX_SCOPE_SEGMENTS)).is_ok());
        let e = check_scope_bounds(&"/a".repeat(MAX_SCOPE_SEGMENTS + 1)).unwrap_err();
        assert!(e.contains("301 segments; at most 300"), "{e}");
        let e = check_scope_bounds(&"a".repeat(MAX_SCOPE_LEN + 1)).unwrap_err();
        assert!(e.contains("2049 bytes long; at most 2048"), "{e}");
    }

    use super::*;

    fn builtin(id: uuid::Uuid) -> Option<&'static AzureRole> {
        built_in_roles().iter().find(|r| r.id == id)
    }

    fn role(name: &str) -> uuid::Uuid {
        built_in_by_name(name)
            .map(|r| r.id)
            .unwrap_or_else(|| panic!("no built-in role {name}"))
    }

    const SUB: &str = "/subscriptions/11111111-1111-1111-1111-111111111111";

    fn container() -> String {
        format!("{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/docs")
    }

    #[test]
    fn the_catalogue_has_the_roles_the_issue_names_with_azures_ids() {
        for name in [
            "Owner",
            "Contributor",
            "Reader",
            "User Access Administrator",
            "Role Based Access Control Administrator",
            "Storage Blob Data Owner",
            "Storage Blob Data Contributor",
            "Storage Blob Data Reader",
            "Key Vault Secrets User",
            "Key Vault Secrets Officer",
            "Virtual Machine Contributor",
            "Managed Identity Operator",
        ] {
            assert!(built_in_by_name(name).is_some(), "{name}");
        }
        assert_eq!(
            role("Owner").to_string(),
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
        );
        assert_eq!(
            role("Storage Blob Data Reader").to_string(),
            "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
        );
    }

    #[test]
    fn wildcards_are_case_insensitive_globs() {
        assert!(op_matches("*", "Microsoft.Storage/storageAccounts/read"));
        assert!(op_matches(
            "*/read",
            "microsoft.storage/storageaccounts/READ"
        ));
        assert!(op_matches(
            "Microsoft.Storage/*",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(op_matches(
            "Microsoft.Storage/*/read",
            "Microsoft.Storage/storageAccounts/blobServices/read"
        ));
        assert!(!op_matches(
            "Microsoft.Storage/*/read",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(!op_matches(
            "Microsoft.Compute/*",
            "Microsoft.Storage/storageAccounts/read"
        ));
        assert!(op_matches("a*b*c", "axxbyyc") && !op_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn ancestry_walks_up_to_root() {
        let chain = ancestors(&container(), &["child-mg".into(), "tenant-root".into()]);
        let s = SUB.to_ascii_lowercase();
        assert_eq!(chain.first(), Some(&container().to_ascii_lowercase()));
        assert!(chain.contains(&format!(
            "{s}/resourcegroups/rg1/providers/microsoft.storage/storageaccounts/acct"
        )));
        assert!(chain.contains(&format!("{s}/resourcegroups/rg1")));
        assert!(chain.contains(&s));
        assert!(chain
            .contains(&"/providers/microsoft.management/managementgroups/child-mg".to_string()));
        assert_eq!(chain.last().map(String::as_str), Some("/"));
        let rg = chain
            .iter()
            .position(|c| c.ends_with("/resourcegroups/rg1"))
            .unwrap_or(0);
        let sub = chain.iter().position(|c| *c == s).unwrap_or(0);
        assert!(rg < sub, "nearest first");
        assert_eq!(ancestors("/", &[]), vec!["/".to_string()]);
    }

    fn assign(id: &str, p: ObjectId, role_name: &str, scope: &str) -> Assignment {
        Assignment {
            condition: None,
            id: id.into(),
            principal_id: p,
            role_id: role(role_name),
            scope: scope.into(),
        }
    }

    #[test]
    fn control_and_data_planes_are_separate_and_inherited() {
        let user = ObjectId::from_random([1; 16]);
        let chain = ancestors(&container(), &[]);
        let read_blob = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";
        let contributor = vec![assign(
            "a1",
            user,
            "Contributor",
            &format!("{SUB}/resourceGroups/rg1"),
        )];
        // Contributor at the resource group: control plane yes, blobs no — and says why.
        assert!(matches!(
            check(
                &[user],
                "Microsoft.Storage/storageAccounts/write",
                false,
                &chain,
                &AssignmentIndex::new(&contributor),
                &builtin,
                &[]
            ),
            Decision::Allowed { .. }
        ));
        match check(
            &[user],
            read_blob,
            true,
            &chain,
            &AssignmentIndex::new(&contributor),
            &builtin,
            &[],
        ) {
            Decision::Denied { reason } => assert!(
                reason.contains("Contributor") && reason.contains("no DataActions"),
                "{reason}"
            ),
            d => panic!("{d:?}"),
        }
        // Contributor's NotActions: it cannot assign roles.
        assert!(matches!(
            check(
                &[user],
                "Microsoft.Authorization/roleAssignments/write",
                false,
                &chain,
                &AssignmentIndex::new(&contributor),
                &builtin,
                &[]
            ),
            Decision::Denied { .. }
        ));
        // Storage Blob Data Reader at the container: blobs yes, writing no.
        let reader = vec![assign("a2", user, "Storage Blob Data Reader", &container())];
        assert!(
            matches!(check(&[user], read_blob, true, &chain, &AssignmentIndex::new(&reader), &builtin, &[]), Decision::Allowed { ref role, .. } if role == "Storage Blob Data Reader")
        );
        assert!(matches!(
            check(
                &[user],
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                true,
                &chain,
                &AssignmentIndex::new(&reader),
                &builtin,
                &[]
            ),
            Decision::Denied { .. }
        ));
        // Inherited from the subscription through a group.
        let group = ObjectId::from_random([2; 16]);
        let owner = vec![assign("a3", group, "Owner", SUB)];
        assert!(matches!(
            check(
                &[user, group],
                "Microsoft.Authorization/roleAssignments/write",
                false,
                &chain,
                &AssignmentIndex::new(&owner),
                &builtin,
                &[]
            ),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            check(
                &[user],
                "Microsoft.Authorization/roleAssignments/write",
                false,
                &chain,
                &AssignmentIndex::new(&owner),
                &builtin,
                &[]
            ),
            Decision::Denied { .. }
        ));
        // An assignment on a sibling scope does not apply.
        let other = vec![assign(
            "a4",
            user,
            "Owner",
            "/subscriptions/22222222-2222-2222-2222-222222222222",
        )];
        match check(
            &[user],
            "Microsoft.Storage/storageAccounts/read",
            false,
            &chain,
            &AssignmentIndex::new(&other),
            &builtin,
            &[],
        ) {
            Decision::Denied { reason } => {
                assert!(reason.contains("no role assignment"), "{reason}")
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn a_conditioned_assignment_grants_only_where_its_condition_holds() {
        let user = ObjectId::from_random([7; 16]);
        let mut a = assign("c1", user, "Storage Blob Data Reader", SUB);
        a.condition = Some(
            crate::abac::parse("((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'docs'))")
                .unwrap(),
        );
        let idx = AssignmentIndex::new(&[a]);
        let read = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";
        let decide = |scope: &str| {
            let chain = ancestors(scope, &[]);
            let attrs = crate::abac::Attributes {
                values: crate::abac::storage_attributes(scope),
                ..Default::default()
            };
            check_with(&[user], read, true, &chain, &idx, &builtin, &[], &attrs)
        };
        let blob = format!("{}/blobs/x.txt", container());
        assert!(matches!(decide(&blob), Decision::Allowed { .. }));
        let other = blob.replace("/containers/docs/", "/containers/secret/");
        match decide(&other) {
            Decision::Denied { reason } => {
                assert!(reason.contains("condition does not hold"), "{reason}")
            }
            d => panic!("{d:?}"),
        }
        // Without attributes (plain `check`) the condition cannot hold either.
        let chain = ancestors(&blob, &[]);
        assert!(matches!(
            check(&[user], read, true, &chain, &idx, &builtin, &[]),
            Decision::Denied { .. }
        ));
    }

    #[test]
    fn deny_assignments_win() {
        let user = ObjectId::from_random([1; 16]);
        let chain = ancestors(&container(), &[]);
        let owner = vec![assign("a1", user, "Owner", SUB)];
        let deny = vec![DenyAssignment {
            id: "d1".into(),
            name: "System deny".into(),
            principals: vec![],
            scope: format!("{SUB}/resourceGroups/rg1"),
            actions: vec!["Microsoft.Storage/*/delete".into()],
            data_actions: vec![],
        }];
        assert!(
            matches!(check(&[user], "Microsoft.Storage/storageAccounts/delete", false, &chain, &AssignmentIndex::new(&owner), &builtin, &deny), Decision::Denied { ref reason } if reason.contains("System deny"))
        );
        assert!(matches!(
            check(
                &[user],
                "Microsoft.Storage/storageAccounts/write",
                false,
                &chain,
                &AssignmentIndex::new(&owner),
                &builtin,
                &deny
            ),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn every_built_in_role_is_consistent() {
        for r in built_in_roles() {
            // A role never grants what it excludes.
            for n in &r.not_actions {
                assert!(
                    !role_grants(r, n, false) || n.contains('*'),
                    "{}: {n}",
                    r.name
                );
            }
            for n in &r.not_data_actions {
                assert!(
                    !role_grants(r, n, true) || n.contains('*'),
                    "{}: {n}",
                    r.name
                );
            }
            // Actions never leak into the data plane.
            if r.data_actions.is_empty() {
                assert!(
                    !role_grants(
                        r,
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                        true
                    ),
                    "{}",
                    r.name
                );
            }
        }
        let reader = built_in_by_name("Reader")
            .cloned()
            .unwrap_or_else(|| panic!("Reader"));
        assert!(role_grants(
            &reader,
            "Microsoft.Compute/virtualMachines/read",
            false
        ));
        assert!(!role_grants(
            &reader,
            "Microsoft.Compute/virtualMachines/write",
            false
        ));
    }

    /// Randomised properties over many generated worlds (a deterministic xorshift, so a failure
    /// reproduces): adding an assignment never turns Allowed into Denied; a matching deny
    /// assignment always wins; a role without DataActions never allows a data operation; case
    /// does not matter.
    #[test]
    fn properties_hold_over_random_worlds() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let roles = built_in_roles();
        let scopes = [
            "/".to_string(),
            SUB.to_string(),
            format!("{SUB}/resourceGroups/rg1"),
            format!("{SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/acct"),
            container(),
            format!("{SUB}/resourceGroups/rg2"),
        ];
        let ops: Vec<(&str, bool)> = vec![
            (
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                true,
            ),
            (
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                true,
            ),
            ("Microsoft.Storage/storageAccounts/read", false),
            ("Microsoft.Storage/storageAccounts/delete", false),
            ("Microsoft.Authorization/roleAssignments/write", false),
            ("Microsoft.KeyVault/vaults/secrets/getSecret/action", true),
        ];
        let people: Vec<ObjectId> = (1..=6u8).map(|n| ObjectId::from_random([n; 16])).collect();
        let pick = |n: u64, len: usize| (n % len as u64) as usize;
        for case in 0..3000 {
            let n_assign = pick(next(), 6);
            let mut assignments: Vec<Assignment> = (0..n_assign)
                .map(|k| Assignment {
                    id: format!("a{k}"),
                    principal_id: people[pick(next(), people.len())],
                    role_id: roles[pick(next(), roles.len())].id,
                    scope: scopes[pick(next(), scopes.len())].clone(),
                    condition: None,
                })
                .collect();
            let who: Vec<ObjectId> = people.iter().copied().filter(|_| next() % 3 == 0).collect();
            let target = &scopes[pick(next(), scopes.len())];
            let (op, data) = ops[pick(next(), ops.len())];
            let chain = ancestors(target, &[]);
            let before = check(
                &who,
                op,
                data,
                &chain,
                &AssignmentIndex::new(&assignments),
                &builtin,
                &[],
            );
            // Monotonic.
            assignments.push(Assignment {
                id: "extra".into(),
                principal_id: people[pick(next(), people.len())],
                role_id: roles[pick(next(), roles.len())].id,
                scope: scopes[pick(next(), scopes.len())].clone(),
                condition: None,
            });
            let idx = AssignmentIndex::new(&assignments);
            let after = check(&who, op, data, &chain, &idx, &builtin, &[]);
            if matches!(before, Decision::Allowed { .. }) {
                assert!(
                    matches!(after, Decision::Allowed { .. }),
                    "case {case}: adding an assignment denied {op}"
                );
            }
            // Allowed means some assignment of the caller on the chain grants the op.
            if let Decision::Allowed { assignment, .. } = &after {
                let a = assignments.iter().find(|a| &a.id == assignment).unwrap();
                assert!(who.contains(&a.principal_id), "case {case}");
                assert!(chain.contains(&normalise_scope(&a.scope)), "case {case}");
                let r = builtin(a.role_id).unwrap();
                assert!(role_grants(r, op, data), "case {case}");
                assert!(
                    !data || !r.data_actions.is_empty(),
                    "case {case}: control-plane role allowed data"
                );
            }
            // Case-insensitive.
            let upper_chain = ancestors(&target.to_uppercase(), &[]);
            assert_eq!(
                matches!(
                    check(
                        &who,
                        &op.to_uppercase(),
                        data,
                        &upper_chain,
                        &idx,
                        &builtin,
                        &[]
                    ),
                    Decision::Allowed { .. }
                ),
                matches!(after, Decision::Allowed { .. }),
                "case {case}"
            );
            // A deny assignment at any scope on the chain covering the op wins.
            let deny = DenyAssignment {
                id: "d".into(),
                name: "System deny".into(),
                principals: vec![],
                scope: chain[pick(next(), chain.len())].clone(),
                actions: if data { vec![] } else { vec![op.to_string()] },
                data_actions: if data { vec![op.to_string()] } else { vec![] },
            };
            assert!(
                matches!(
                    check(&who, op, data, &chain, &idx, &builtin, &[deny]),
                    Decision::Denied { .. }
                ),
                "case {case}"
            );
        }
    }
}
