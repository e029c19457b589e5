//! How Azure Resource Manager presents the hierarchy to its clients (pure): canonical id casing
//! (`resourceGroups`, provider namespaces and types as registered), the resource providers and
//! locations Castellan registers, which scopes a caller sees in a list (any role assignment at,
//! above or below them — how `az login` finds a subscription for a principal with a role on one
//! resource group), which resources `/resources` lists (top-level only) and the `$filter` forms
//! ARM documents for it ("Resources - List", `$filter`: `resourceType eq`, `name eq`,
//! `substringof(…, name)`, `startswith(name, …)`, `tagName eq … [and tagValue eq …]`).
//! Anything else is refused, never ignored.

use crate::azure_rbac::normalise_scope;
use crate::model::ArmResource;

/// A resource provider Castellan registers in every subscription: its namespace as Azure spells
/// it, and its resource types (child types as `parent/child`), as spelled in Azure.
#[derive(Clone, Copy, Debug)]
pub struct Provider {
    /// `Microsoft.Storage`.
    pub namespace: &'static str,
    /// `storageAccounts`, `storageAccounts/blobServices`, ...
    pub resource_types: &'static [&'static str],
}

/// The registered providers (all `Registered`, as in a fresh Azure subscription's defaults).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        namespace: "Microsoft.Authorization",
        resource_types: &[
            "roleAssignments",
            "roleDefinitions",
            "permissions",
            "denyAssignments",
            "locks",
            "checkAccess",
            "elevateAccess",
        ],
    },
    Provider {
        namespace: "Microsoft.Compute",
        resource_types: &["virtualMachines", "virtualMachineScaleSets", "disks"],
    },
    Provider {
        namespace: "Microsoft.ContainerService",
        resource_types: &["managedClusters"],
    },
    Provider {
        namespace: "Microsoft.KeyVault",
        resource_types: &["vaults", "vaults/secrets"],
    },
    Provider {
        namespace: "Microsoft.ManagedIdentity",
        resource_types: &[
            "userAssignedIdentities",
            "userAssignedIdentities/federatedIdentityCredentials",
            "identities",
        ],
    },
    Provider {
        namespace: "Microsoft.Management",
        resource_types: &["managementGroups"],
    },
    Provider {
        namespace: "Microsoft.Network",
        resource_types: &["virtualNetworks", "virtualNetworks/subnets"],
    },
    Provider {
        namespace: "Microsoft.Resources",
        resource_types: &[
            "subscriptions",
            "resourceGroups",
            "subscriptions/resourceGroups",
            "subscriptions/locations",
            "subscriptions/providers",
            "subscriptions/tagNames",
            "deployments",
            "tags",
        ],
    },
    Provider {
        namespace: "Microsoft.Storage",
        resource_types: &[
            "storageAccounts",
            "storageAccounts/blobServices",
            "storageAccounts/blobServices/containers",
        ],
    },
    Provider {
        namespace: "Microsoft.Web",
        resource_types: &["sites", "serverFarms"],
    },
];

/// A registered provider by namespace, case-insensitively.
pub fn provider(namespace: &str) -> Option<&'static Provider> {
    PROVIDERS
        .iter()
        .find(|p| p.namespace.eq_ignore_ascii_case(namespace))
}

/// A location: `name` (as in `location` fields), display name, regional display name.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    /// `westeurope`.
    pub name: &'static str,
    /// `West Europe`.
    pub display_name: &'static str,
    /// Geography group (`Europe`, `US`, ...).
    pub geography_group: &'static str,
    /// Latitude, longitude (as Azure publishes them).
    pub lat_long: (&'static str, &'static str),
}

/// The locations `GET /subscriptions/{id}/locations` lists. Castellan stores any `location`
/// string a PUT gives; these are the ones clients offer and validate against (the demo's
/// `westeurope`, the conformance suite's `northeurope`, the common US regions, ...).
pub const LOCATIONS: &[Location] = &[
    Location {
        name: "eastus",
        display_name: "East US",
        geography_group: "US",
        lat_long: ("37.3719", "-79.8164"),
    },
    Location {
        name: "eastus2",
        display_name: "East US 2",
        geography_group: "US",
        lat_long: ("36.6681", "-78.3889"),
    },
    Location {
        name: "westus",
        display_name: "West US",
        geography_group: "US",
        lat_long: ("37.783", "-122.417"),
    },
    Location {
        name: "westus2",
        display_name: "West US 2",
        geography_group: "US",
        lat_long: ("47.233", "-119.852"),
    },
    Location {
        name: "centralus",
        display_name: "Central US",
        geography_group: "US",
        lat_long: ("41.5908", "-93.6208"),
    },
    Location {
        name: "northeurope",
        display_name: "North Europe",
        geography_group: "Europe",
        lat_long: ("53.3478", "-6.2597"),
    },
    Location {
        name: "westeurope",
        display_name: "West Europe",
        geography_group: "Europe",
        lat_long: ("52.3667", "4.9"),
    },
    Location {
        name: "uksouth",
        display_name: "UK South",
        geography_group: "Europe",
        lat_long: ("50.941", "-0.799"),
    },
    Location {
        name: "germanywestcentral",
        display_name: "Germany West Central",
        geography_group: "Europe",
        lat_long: ("50.110924", "8.682127"),
    },
    Location {
        name: "francecentral",
        display_name: "France Central",
        geography_group: "Europe",
        lat_long: ("46.3772", "2.3730"),
    },
    Location {
        name: "swedencentral",
        display_name: "Sweden Central",
        geography_group: "Europe",
        lat_long: ("60.67488", "17.14127"),
    },
    Location {
        name: "southeastasia",
        display_name: "Southeast Asia",
        geography_group: "Asia Pacific",
        lat_long: ("1.283", "103.833"),
    },
    Location {
        name: "japaneast",
        display_name: "Japan East",
        geography_group: "Asia Pacific",
        lat_long: ("35.68", "139.77"),
    },
    Location {
        name: "australiaeast",
        display_name: "Australia East",
        geography_group: "Asia Pacific",
        lat_long: ("-33.86", "151.2094"),
    },
];

/// An ARM id (or scope) in the casing Azure answers with, whatever the request's: the fixed
/// segments (`subscriptions`, `resourceGroups`, `providers`), provider namespaces and resource
/// types as registered; names as given. Unknown namespaces and types keep their spelling.
pub fn canonical_id(id: &str) -> String {
    let t = id.trim().trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    let segs: Vec<&str> = t.trim_start_matches('/').split('/').collect();
    let mut out: Vec<String> = Vec::with_capacity(segs.len());
    let mut i = 0;
    // Where we are: the namespace of the last `providers` segment and the type path so far.
    while let Some(seg) = segs.get(i) {
        let lower = seg.to_ascii_lowercase();
        let prev = i
            .checked_sub(1)
            .and_then(|p| segs.get(p))
            .map(|s| s.to_ascii_lowercase());
        if i == 0 && lower == "subscriptions" {
            out.push("subscriptions".into());
        } else if prev.as_deref() == Some("subscriptions") && i == 1 {
            // A subscription id is a GUID; Azure answers it in lower case.
            out.push(seg.to_ascii_lowercase());
        } else if i == 2
            && lower == "resourcegroups"
            && out.first().is_some_and(|s| s == "subscriptions")
        {
            out.push("resourceGroups".into());
        } else if lower == "providers" && i % 2 == 0 {
            out.push("providers".into());
            // Namespace, then type/name pairs (child types nest under the namespace).
            let Some(ns) = segs.get(i + 1) else {
                break;
            };
            let p = provider(ns);
            out.push(p.map_or_else(|| (*ns).to_string(), |p| p.namespace.to_string()));
            let mut type_path: Vec<String> = Vec::new();
            let mut j = i + 2;
            while let Some(ty) = segs.get(j) {
                if ty.eq_ignore_ascii_case("providers") && !type_path.is_empty() {
                    break; // an extension resource: …/providers/Microsoft.Authorization/…
                }
                let mut candidate = type_path.join("/");
                if !candidate.is_empty() {
                    candidate.push('/');
                }
                candidate.push_str(ty);
                let spelled = p
                    .and_then(|p| {
                        p.resource_types
                            .iter()
                            .find(|k| k.eq_ignore_ascii_case(&candidate))
                    })
                    .and_then(|k| k.rsplit('/').next())
                    .unwrap_or(ty);
                out.push(spelled.to_string());
                type_path.push(spelled.to_string());
                if let Some(name) = segs.get(j + 1) {
                    out.push((*name).to_string());
                }
                j += 2;
            }
            i = j;
            continue;
        } else {
            out.push((*seg).to_string());
        }
        i += 1;
    }
    format!("/{}", out.join("/"))
}

/// A resource type (`Microsoft.Storage/storageAccounts/blobServices`) as registered.
pub fn canonical_type(resource_type: &str) -> String {
    let mut parts = resource_type.splitn(2, '/');
    let ns = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    match provider(ns) {
        Some(p) => {
            let ty = p
                .resource_types
                .iter()
                .find(|k| k.eq_ignore_ascii_case(rest))
                .copied()
                .unwrap_or(rest);
            if ty.is_empty() {
                p.namespace.to_string()
            } else {
                format!("{}/{ty}", p.namespace)
            }
        }
        None => resource_type.to_string(),
    }
}

/// A top-level resource type (`Namespace/type`), as `/resources` lists; child types
/// (`Namespace/type/child`) are reached through their parent only.
pub fn is_top_level(resource_type: &str) -> bool {
    resource_type.matches('/').count() == 1
}

/// A resource-type collection path — `{sub|rg}/providers/{ns}/{type}` (e.g. what
/// `storage_accounts.list_by_resource_group` and `az identity list -g` GET) or
/// `{resource}/{childType}` (`…/blobServices/default/containers`): its parent scope and the
/// resource type it lists. `None` for anything else (a resource id, a provider, tenant level).
pub fn collection(path: &str) -> Option<(String, String)> {
    let t = path.trim().trim_end_matches('/');
    let segs: Vec<&str> = t.trim_start_matches('/').split('/').collect();
    let i = segs
        .iter()
        .enumerate()
        .rev()
        .find(|(i, s)| i % 2 == 0 && s.eq_ignore_ascii_case("providers"))
        .map(|(i, _)| i)?;
    let tail = segs.get(i + 1..)?;
    if i == 0 || tail.len() < 2 || tail.len() % 2 != 0 {
        return None;
    }
    let mut ty = vec![*tail.first()?];
    ty.extend(tail.iter().skip(1).step_by(2));
    let parent = if tail.len() == 2 {
        segs.get(..i)?
    } else {
        segs.get(..segs.len() - 1)?
    };
    Some((
        format!("/{}", parent.join("/")),
        canonical_type(&ty.join("/")),
    ))
}

/// Whether a caller sees `scope` in a list: one of its (or its groups') role assignments is at
/// the scope, above it (`chain`: the scope's ancestry, normalised, from
/// [`crate::azure_rbac::ancestors`]) or anywhere below it. This is how ARM lists subscriptions:
/// a role on one resource group is enough for `GET /subscriptions` to return its subscription.
/// It shows the scope only; what the caller may do there is still RBAC's decision.
pub fn visible<'a>(
    scope: &str,
    chain: &[String],
    assignment_scopes: impl IntoIterator<Item = &'a str>,
) -> bool {
    let s = normalise_scope(scope);
    let below = format!("{s}/");
    assignment_scopes.into_iter().any(|a| {
        let a = normalise_scope(a);
        a == s || chain.contains(&a) || a.starts_with(&below)
    })
}

/// A tag name in use in a subscription, for `GET /subscriptions/{id}/tagNames`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagCount {
    /// The name (first spelling seen; tag names compare case-insensitively, as in Azure).
    pub name: String,
    /// How many scopes carry it.
    pub count: usize,
    /// Each value and how many scopes carry it.
    pub values: Vec<(String, usize)>,
}

/// Counts tag names and values over scopes' tags, sorted by name then value.
pub fn tag_counts<'a>(
    tag_lists: impl IntoIterator<Item = &'a [(String, String)]>,
) -> Vec<TagCount> {
    let mut out: Vec<TagCount> = Vec::new();
    for tags in tag_lists {
        for (k, v) in tags {
            let i = match out.iter().position(|t| t.name.eq_ignore_ascii_case(k)) {
                Some(i) => i,
                None => {
                    out.push(TagCount {
                        name: k.clone(),
                        count: 0,
                        values: vec![],
                    });
                    out.len() - 1
                }
            };
            if let Some(t) = out.get_mut(i) {
                t.count += 1;
                match t.values.iter_mut().find(|(x, _)| x == v) {
                    Some((_, n)) => *n += 1,
                    None => t.values.push((v.clone(), 1)),
                }
            }
        }
    }
    out.sort_by_key(|t| t.name.to_ascii_lowercase());
    for t in &mut out {
        t.values.sort();
    }
    out
}

/// A property a `/resources` `$filter` may compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `resourceType`.
    ResourceType,
    /// `name`.
    Name,
    /// `location`.
    Location,
    /// `resourceGroup` (the group the resource is in).
    ResourceGroup,
}

impl Field {
    fn parse(word: &str) -> Option<Self> {
        [
            ("resourceType", Self::ResourceType),
            ("name", Self::Name),
            ("location", Self::Location),
            ("resourceGroup", Self::ResourceGroup),
        ]
        .into_iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, f)| f)
    }

    fn of(self, r: &ArmResource) -> String {
        match self {
            Self::ResourceType => r.resource_type.clone(),
            Self::Name => r.name.clone(),
            Self::Location => r.location.clone().unwrap_or_default(),
            Self::ResourceGroup => {
                let segs: Vec<&str> = r.id.split('/').collect();
                segs.iter()
                    .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
                    .and_then(|i| segs.get(i + 1))
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            }
        }
        .to_ascii_lowercase()
    }
}

/// A `$filter` on `/resources`, parsed. The forms of ARM's "Resources - List": `eq`/`ne` on
/// `resourceType`, `name`, `location`, `resourceGroup`; `substringof('…', name|resourceGroup)`;
/// `startswith(name|resourceGroup|tagName, '…')`; `tagName eq '…'` optionally followed by
/// `and tagValue eq '…'`; clauses joined by `and`. Values compare case-insensitively, except
/// tag values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceFilter {
    /// No filter.
    All,
    /// `{field} eq '{value}'` (`equal`) or `{field} ne '{value}'`.
    Compare {
        /// The property.
        field: Field,
        /// The literal.
        value: String,
        /// `eq` rather than `ne`.
        equal: bool,
    },
    /// `substringof('x', field)`.
    Contains(Field, String),
    /// `startswith(field, 'x')`.
    StartsWith(Field, String),
    /// `startswith(tagName, 'x')` (`az resource list --tag 'x*'`).
    TagStartsWith(String),
    /// `tagName eq 'x'` (with `tagValue eq 'y'`: that value).
    Tag(String, Option<String>),
    /// Both hold (`… and …`).
    And(Box<ResourceFilter>, Box<ResourceFilter>),
}

/// Why a `$filter` was refused (ARM answers 400 `InvalidFilterInQueryString`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(pub String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A quoted OData string literal (`'it''s'` → `it's`) and what follows it.
fn literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch == '\'' {
            if body.get(i + 1..).is_some_and(|r| r.starts_with('\'')) {
                out.push('\'');
                chars.next();
            } else {
                return Some((out, body.get(i + 1..).unwrap_or("")));
            }
        } else {
            out.push(ch);
        }
    }
    None
}

/// Splits on the first top-level ` and ` (outside quotes), case-insensitively.
fn split_and(s: &str) -> Option<(&str, &str)> {
    let lower = s.to_ascii_lowercase();
    let mut quoted = false;
    for (i, ch) in lower.char_indices() {
        if ch == '\'' {
            quoted = !quoted;
        } else if !quoted && lower.get(i..).is_some_and(|r| r.starts_with(" and ")) {
            return Some((s.get(..i)?, s.get(i + 5..)?));
        }
    }
    None
}

/// A leading identifier (letters only) and the rest.
fn ident(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    (s.get(..end).unwrap_or(""), s.get(end..).unwrap_or(""))
}

/// `word op 'literal'` with nothing after: (word, op, literal).
fn comparison(s: &str) -> Option<(&str, &str, String)> {
    let (word, rest) = ident(s);
    if word.is_empty() || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let (op, rest) = ident(rest);
    if !rest.starts_with([' ', '\'']) {
        return None;
    }
    let (v, tail) = literal(rest)?;
    tail.trim().is_empty().then_some((word, op, v))
}

/// `name(` … `)`: the text between the parentheses.
fn call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let (word, rest) = ident(s);
    if !word.eq_ignore_ascii_case(name) {
        return None;
    }
    rest.trim_start()
        .strip_prefix('(')?
        .trim_end()
        .strip_suffix(')')
}

fn single(s: &str) -> Option<ResourceFilter> {
    let s = s.trim();
    if let Some(args) = call(s, "substringof") {
        let (v, rest) = literal(args)?;
        let (word, tail) = ident(rest.trim_start().strip_prefix(',')?);
        let field = Field::parse(word)
            .filter(|f| matches!(f, Field::Name | Field::ResourceGroup))
            .filter(|_| tail.trim().is_empty())?;
        return Some(ResourceFilter::Contains(field, v));
    }
    if let Some(args) = call(s, "startswith") {
        let (word, rest) = ident(args);
        let (v, tail) = literal(rest.trim_start().strip_prefix(',')?)?;
        if !tail.trim().is_empty() {
            return None;
        }
        if word.eq_ignore_ascii_case("tagName") {
            return Some(ResourceFilter::TagStartsWith(v));
        }
        let field =
            Field::parse(word).filter(|f| matches!(f, Field::Name | Field::ResourceGroup))?;
        return Some(ResourceFilter::StartsWith(field, v));
    }
    let (word, op, value) = comparison(s)?;
    let equal = match op.to_ascii_lowercase().as_str() {
        "eq" => true,
        "ne" => false,
        _ => return None,
    };
    if word.eq_ignore_ascii_case("tagName") {
        return equal.then_some(ResourceFilter::Tag(value, None));
    }
    Some(ResourceFilter::Compare {
        field: Field::parse(word)?,
        value,
        equal,
    })
}

/// Parses a `/resources` `$filter`. The empty filter is [`ResourceFilter::All`]; `tagValue`
/// only right after `tagName eq`, as ARM requires; anything else is refused.
pub fn parse_resource_filter(filter: &str) -> Result<ResourceFilter, FilterError> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(ResourceFilter::All);
    }
    let refuse = || {
        FilterError(format!(
            "The $filter '{f}' is not supported. Use resourceType, name, location or resourceGroup with eq or ne ('…'), substringof('…', name|resourceGroup), startswith(name|resourceGroup|tagName, '…'), tagName eq '…' optionally followed by and tagValue eq '…', joined by 'and'."
        ))
    };
    let (first, rest) = match split_and(f) {
        Some((a, b)) => (a, Some(b)),
        None => (f, None),
    };
    let mut left = single(first).ok_or_else(refuse)?;
    let mut rest = rest;
    // tagName eq 'x' and tagValue eq 'y'
    if let (ResourceFilter::Tag(name, None), Some(b)) = (&left, rest) {
        let (clause, more) = match split_and(b) {
            Some((c, m)) => (c, Some(m)),
            None => (b, None),
        };
        if let Some((word, op, v)) = comparison(clause) {
            if word.eq_ignore_ascii_case("tagValue") {
                if !op.eq_ignore_ascii_case("eq") {
                    return Err(refuse());
                }
                left = ResourceFilter::Tag(name.clone(), Some(v));
                rest = more;
            }
        }
    }
    match rest {
        None => Ok(left),
        Some(b) => Ok(ResourceFilter::And(
            Box::new(left),
            Box::new(parse_resource_filter(b)?),
        )),
    }
}

impl ResourceFilter {
    /// Whether a resource passes.
    pub fn matches(&self, r: &ArmResource) -> bool {
        match self {
            Self::All => true,
            Self::Compare {
                field,
                value,
                equal,
            } => (field.of(r) == value.to_ascii_lowercase()) == *equal,
            Self::Contains(f, v) => f.of(r).contains(&v.to_ascii_lowercase()),
            Self::StartsWith(f, v) => f.of(r).starts_with(&v.to_ascii_lowercase()),
            Self::TagStartsWith(p) => r
                .tags
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase().starts_with(&p.to_ascii_lowercase())),
            Self::Tag(name, value) => r.tags.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case(name) && value.as_ref().is_none_or(|want| v == want)
            }),
            Self::And(a, b) => a.matches(r) && b.matches(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure_rbac::ancestors;
    use crate::model::{ResourceIdentity, ScopeKind};

    #[test]
    fn ids_come_back_in_azures_casing() {
        assert_eq!(
            canonical_id("/SUBSCRIPTIONS/0000/resourcegroups/My-RG/providers/microsoft.storage/STORAGEACCOUNTS/acct/blobservices/default/Containers/c1"),
            "/subscriptions/0000/resourceGroups/My-RG/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/c1"
        );
        assert_eq!(
            canonical_id("/providers/microsoft.management/managementgroups/Prod/"),
            "/providers/Microsoft.Management/managementGroups/Prod"
        );
        // Extension resources and unknown providers.
        assert_eq!(
            canonical_id("/subscriptions/s/resourcegroups/rg/providers/contoso.widgets/Gadgets/g1/providers/microsoft.authorization/roleassignments/x"),
            "/subscriptions/s/resourceGroups/rg/providers/contoso.widgets/Gadgets/g1/providers/Microsoft.Authorization/roleAssignments/x"
        );
        assert_eq!(canonical_id("/"), "/");
        assert_eq!(
            canonical_id("/subscriptions/AB12CD34-0000-0000-0000-00000000000F/resourceGroups/RG"),
            "/subscriptions/ab12cd34-0000-0000-0000-00000000000f/resourceGroups/RG"
        );
        assert_eq!(canonical_id("/subscriptions/s"), "/subscriptions/s");
        // A resource group named like a keyword keeps its name.
        assert_eq!(
            canonical_id("/subscriptions/s/resourcegroups/providers"),
            "/subscriptions/s/resourceGroups/providers"
        );
        assert_eq!(
            canonical_type("microsoft.managedidentity/USERASSIGNEDIDENTITIES"),
            "Microsoft.ManagedIdentity/userAssignedIdentities"
        );
        assert_eq!(canonical_type("Contoso.X/y"), "Contoso.X/y");
    }

    #[test]
    fn tags_are_counted_by_name_and_value() {
        let a = vec![("env".to_string(), "prod".to_string())];
        let b = vec![
            ("Env".to_string(), "dev".to_string()),
            ("team".to_string(), "x".to_string()),
        ];
        let c = vec![("env".to_string(), "prod".to_string())];
        let t = tag_counts([a.as_slice(), b.as_slice(), c.as_slice()]);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].name.as_str(), t[0].count), ("env", 3));
        assert_eq!(t[0].values, vec![("dev".into(), 1), ("prod".into(), 2)]);
        assert_eq!((t[1].name.as_str(), t[1].count), ("team", 1));
        assert!(tag_counts(std::iter::empty()).is_empty());
    }

    #[test]
    fn collections_name_their_parent_and_type() {
        let rg = "/subscriptions/s/resourceGroups/rg";
        assert_eq!(
            collection(&format!("{rg}/providers/microsoft.storage/storageaccounts")),
            Some((
                rg.to_string(),
                "Microsoft.Storage/storageAccounts".to_string()
            ))
        );
        assert_eq!(
            collection(
                "/subscriptions/s/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
            ),
            Some((
                "/subscriptions/s".to_string(),
                "Microsoft.ManagedIdentity/userAssignedIdentities".to_string()
            ))
        );
        let acct = format!("{rg}/providers/Microsoft.Storage/storageAccounts/a");
        assert_eq!(
            collection(&format!("{acct}/blobServices/default/containers")),
            Some((
                format!("{acct}/blobServices/default"),
                "Microsoft.Storage/storageAccounts/blobServices/containers".to_string()
            ))
        );
        assert_eq!(collection(&acct), None);
        assert_eq!(
            collection(&format!("{rg}/providers/Microsoft.Storage")),
            None
        );
        assert_eq!(
            collection("/providers/Microsoft.Storage/storageAccounts"),
            None
        );
        assert_eq!(collection(rg), None);
    }

    #[test]
    fn top_level_types_only() {
        assert!(is_top_level("Microsoft.Storage/storageAccounts"));
        assert!(!is_top_level(
            "Microsoft.Storage/storageAccounts/blobServices"
        ));
    }

    #[test]
    fn a_role_anywhere_at_or_below_makes_a_scope_visible() {
        let sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
        let chain = ancestors(sub, &["root".into()]);
        let rg = format!("{sub}/resourceGroups/RG");
        assert!(visible(sub, &chain, [rg.as_str()]));
        assert!(visible(
            sub,
            &chain,
            [format!("{rg}/providers/Microsoft.Web/sites/a").as_str()]
        ));
        assert!(visible(sub, &chain, [sub]));
        assert!(visible(sub, &chain, ["/"]));
        assert!(visible(
            sub,
            &chain,
            ["/providers/Microsoft.Management/managementGroups/root"]
        ));
        // Another subscription (even one whose id starts alike), or nothing: not visible.
        assert!(!visible(
            sub,
            &chain,
            [format!("{sub}2/resourceGroups/x").as_str()]
        ));
        assert!(!visible(
            sub,
            &chain,
            ["/subscriptions/22222222-2222-2222-2222-222222222222"]
        ));
        assert!(!visible(sub, &chain, std::iter::empty::<&str>()));
    }

    fn res(name: &str, ty: &str, tags: &[(&str, &str)]) -> ArmResource {
        ArmResource {
            tenant_id: crate::ids::TenantId::from_uuid(uuid::Uuid::nil()),
            id: format!("/subscriptions/s/resourceGroups/rg/providers/{ty}/{name}"),
            kind: ScopeKind::Resource,
            name: name.into(),
            resource_type: ty.into(),
            parent: None,
            display_name: name.into(),
            location: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            properties: "{}".into(),
            identity_principal: None,
            identity: ResourceIdentity::default(),
            federated_credential: None,
            created: crate::time::Timestamp::from_secs(0),
        }
    }

    #[test]
    fn documented_filters_parse_and_match() {
        let mut a = res("webapp1", "Microsoft.Web/sites", &[("env", "prod")]);
        a.location = Some("westeurope".into());
        let b = res(
            "store1",
            "Microsoft.Storage/storageAccounts",
            &[("env", "dev")],
        );
        let f = |s: &str| parse_resource_filter(s).unwrap();
        assert_eq!(f(""), ResourceFilter::All);
        assert!(f("resourceType eq 'microsoft.web/SITES'").matches(&a));
        assert!(!f("resourceType eq 'Microsoft.Web/sites'").matches(&b));
        assert!(f("resourceType ne 'Microsoft.Web/sites'").matches(&b));
        assert!(f("name eq 'STORE1'").matches(&b));
        assert!(f("location eq 'WestEurope'").matches(&a));
        assert!(!f("location eq 'westeurope'").matches(&b));
        assert!(f("resourceGroup eq 'RG'").matches(&a));
        assert!(!f("resourceGroup ne 'rg'").matches(&a));
        assert!(f("substringof('app', name)").matches(&a));
        assert!(!f("substringof('app', name)").matches(&b));
        assert!(f("substringof('r', resourceGroup)").matches(&b));
        assert!(f("startswith(name, 'sto')").matches(&b));
        assert!(f("startswith(tagname, 'en')").matches(&b));
        assert!(f("tagName eq 'env'").matches(&a));
        assert!(f("tagname eq 'env' and tagvalue eq 'prod'").matches(&a));
        assert!(!f("tagName eq 'env' and tagValue eq 'prod'").matches(&b));
        assert!(
            !f("tagName eq 'env' and tagValue eq 'PROD'").matches(&a),
            "tag values are exact"
        );
        // What `az resource list -g rg --resource-type … --name …` sends.
        assert!(f("resourceGroup eq 'rg' and name eq 'store1' and resourceType eq 'Microsoft.Storage/storageAccounts'").matches(&b));
        assert!(
            !f("resourceType eq 'Microsoft.Storage/storageAccounts' and name eq 'x'").matches(&b)
        );
        assert!(f("tagName eq 'env' and tagValue eq 'dev' and name eq 'store1'").matches(&b));
        assert_eq!(
            f("name eq 'it''s'"),
            ResourceFilter::Compare {
                field: Field::Name,
                value: "it's".into(),
                equal: true
            }
        );
        assert_eq!(
            f("name eq 'a and b'"),
            ResourceFilter::Compare {
                field: Field::Name,
                value: "a and b".into(),
                equal: true
            }
        );
    }

    #[test]
    fn any_other_filter_is_refused() {
        for bad in [
            "provisioningState eq 'Succeeded'",
            "name gt 'x'",
            "name eq x",
            "name eq 'x' or name eq 'y'",
            "tagValue eq 'y'",
            "tagName ne 'y'",
            "tagName eq 'x' and tagValue ne 'y'",
            "resourceType eq 'a' extra",
            "substringof('x', location)",
            "startswith(name, 'x'",
            "startswith(location, 'x')",
            "name eq 'unterminated",
            "nameeq 'x'",
        ] {
            let e = parse_resource_filter(bad).unwrap_err();
            assert!(e.0.contains("substringof"), "{bad}: {e}");
        }
    }
}
