//! An indexed table of rendered entities: the same answers as [`super::apply`] without
//! filtering, sorting and rendering every entity on every request.
//!
//! Built once from rendered rows (the caller keeps it until the rows change), a [`Table`]
//! holds each row behind `Arc`, the row order of the key and of every sortable property in
//! both directions, and a sorted index of the (lower-cased) values of chosen properties. A
//! query then
//! * narrows the candidates with the most selective indexable term among the filter's
//!   top-level `and`s (`p eq 'text'`, `p eq true`, `startswith(p, 'text')`; ASCII literals only,
//!   so the index's lower-casing is exactly the evaluator's);
//! * walks the requested order from the `$skiptoken` cursor (a binary search), testing the
//!   candidates with the full filter ([`super::eval`]: the index only ever narrows) until the
//!   page is full;
//! * counts (`$count`) from the index alone when the filter is that one term.
//!
//! Equivalence with `apply` — same rows, order, count and `$skiptoken`s — is tested over
//! generated data.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{
    get_ci, key_string, next_token, project_for, row_cmp, Filter, Lit, ODataError, Op, Page, Query,
    SortVal,
};

/// One sortable property's order: the rows' sort values, the row ids sorted ascending and
/// descending (ties broken by key, ascending, as `apply` does) and each row's position in both.
struct Order {
    sort: Vec<SortVal>,
    asc: Vec<u32>,
    desc: Vec<u32>,
    asc_rank: Vec<u32>,
    desc_rank: Vec<u32>,
}

impl Order {
    fn build(rows: &[Arc<Value>], keys: &[String], prop: &str) -> Self {
        let sort: Vec<SortVal> = rows
            .iter()
            .map(|r| SortVal::of(get_ci(r, prop).unwrap_or(&Value::Null)))
            .collect();
        let by = |desc: bool| {
            let mut v: Vec<(&SortVal, &str, u32)> = sort
                .iter()
                .zip(keys)
                .zip(0u32..)
                .map(|((s, k), i)| (s, k.as_str(), i))
                .collect();
            v.sort_by(|a, b| row_cmp((a.0, a.1), (b.0, b.1), desc));
            v.into_iter().map(|(_, _, i)| i).collect::<Vec<u32>>()
        };
        let (asc, desc) = (by(false), by(true));
        let rank = |seq: &[u32]| {
            let mut r = vec![0u32; seq.len()];
            for (pos, &row) in (0u32..).zip(seq) {
                if let Some(slot) = r.get_mut(row as usize) {
                    *slot = pos;
                }
            }
            r
        };
        let (asc_rank, desc_rank) = (rank(&asc), rank(&desc));
        Self {
            sort,
            asc,
            desc,
            asc_rank,
            desc_rank,
        }
    }
}

/// Below this share of the table, a query walks its candidates (sorted by their position in the
/// order) instead of the whole order.
const WALK_CANDIDATES_BELOW: usize = 8;

/// An indexed, immutable table of rendered entities of one type.
pub struct Table {
    rows: Vec<Arc<Value>>,
    keys: Vec<String>,
    /// Lower-cased property name → its order.
    orders: HashMap<String, Order>,
    /// Lower-cased property name → sorted (index key, row).
    values: HashMap<String, Vec<(String, u32)>>,
}

/// The index key of a value: strings lower-cased as the evaluator compares them, booleans
/// tagged apart (so `'true'` the text is not `true` the boolean). Other types are not indexed.
fn index_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("s:{}", lower(s))),
        Value::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// The rows an indexable term can match, as a range of one property's index.
fn candidates<'t>(t: &'t Table, f: &Filter) -> Option<&'t [(String, u32)]> {
    let (path, probe, prefix) = match f {
        Filter::Cmp(p, Op::Eq, Lit::Str(s) | Lit::Guid(s)) if s.is_ascii() => {
            (p, format!("s:{}", s.to_ascii_lowercase()), false)
        }
        Filter::Cmp(p, Op::Eq, Lit::Bool(b)) => (p, format!("b:{b}"), false),
        Filter::StartsWith(p, s) if s.is_ascii() => {
            (p, format!("s:{}", s.to_ascii_lowercase()), true)
        }
        _ => return None,
    };
    let [prop] = path.as_slice() else {
        return None;
    };
    let index = t.values.get(&prop.to_ascii_lowercase())?;
    let lo = index.partition_point(|(k, _)| k.as_str() < probe.as_str());
    let rest = index.get(lo..)?;
    let n = if prefix {
        rest.partition_point(|(k, _)| k.starts_with(probe.as_str()))
    } else {
        rest.partition_point(|(k, _)| k.as_str() == probe.as_str())
    };
    rest.get(..n)
}

/// The rows an indexed term leaves: one index range, or the union of several (an `or` of
/// indexable terms, an `in` list), as row numbers in ascending order.
enum Range<'t> {
    Index(&'t [(String, u32)]),
    Union(Vec<u32>),
}

impl Range<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Index(c) => c.len(),
            Self::Union(v) => v.len(),
        }
    }
    fn rows(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Self::Index(c) => Box::new(c.iter().map(|(_, r)| *r)),
            Self::Union(v) => Box::new(v.iter().copied()),
        }
    }
}

/// The rows a term can match when every part of it is indexed: a comparison or prefix (one
/// range), `a or b` of such terms and `p in (…)` (the union of their ranges, no row twice).
fn term_range<'t>(t: &'t Table, f: &Filter) -> Option<Range<'t>> {
    let union = |parts: Vec<Range<'t>>| {
        let mut v: Vec<u32> = parts.iter().flat_map(Range::rows).collect();
        v.sort_unstable();
        v.dedup();
        Range::Union(v)
    };
    match f {
        Filter::Or(a, b) => Some(union(vec![term_range(t, a)?, term_range(t, b)?])),
        Filter::In(p, lits) if !lits.is_empty() => {
            let parts = lits
                .iter()
                .map(|l| term_range(t, &Filter::Cmp(p.clone(), Op::Eq, l.clone())))
                .collect::<Option<Vec<_>>>()?;
            Some(union(parts))
        }
        _ => candidates(t, f).map(Range::Index),
    }
}

/// A scoped thread's result (its panic, if it panicked, goes on in the caller).
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The filter's top-level `and` terms.
fn conjuncts<'f>(f: &'f Filter, out: &mut Vec<&'f Filter>) {
    match f {
        Filter::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

impl Table {
    /// Indexes `rows` (rendered entities whose key property is `key`): every property in
    /// `sortable` gets its orders, every property in `indexed` a value index.
    pub fn build(rows: Vec<Value>, key: &str, sortable: &[&str], indexed: &[&str]) -> Self {
        let mut rows: Vec<Arc<Value>> = rows.into_iter().map(Arc::new).collect();
        rows.sort_by_cached_key(|r| key_string(get_ci(r, key)));
        let keys: Vec<String> = rows.iter().map(|r| key_string(get_ci(r, key))).collect();
        // Each order and each index is built on its own thread (they only read the rows).
        let mut sorted: Vec<&str> = sortable.iter().copied().chain([key]).collect();
        sorted.sort_unstable_by_key(|p| p.to_ascii_lowercase());
        sorted.dedup_by_key(|p| p.to_ascii_lowercase());
        let (orders, values) = std::thread::scope(|s| {
            let (rows, keys) = (&rows, &keys);
            let orders: Vec<_> = sorted
                .iter()
                .map(|p| s.spawn(move || (p.to_ascii_lowercase(), Order::build(rows, keys, p))))
                .collect();
            let values: Vec<_> = indexed
                .iter()
                .map(|p| {
                    s.spawn(move || {
                        let mut v: Vec<(String, u32)> = rows
                            .iter()
                            .enumerate()
                            .filter_map(|(i, r)| Some((index_key(get_ci(r, p)?)?, i as u32)))
                            .collect();
                        v.sort_unstable();
                        (p.to_ascii_lowercase(), v)
                    })
                })
                .collect();
            (
                orders.into_iter().map(joined).collect::<HashMap<_, _>>(),
                values.into_iter().map(joined).collect::<HashMap<_, _>>(),
            )
        });
        Self {
            rows,
            keys,
            orders,
            values,
        }
    }

    fn row(&self, r: u32) -> Option<&Value> {
        self.rows.get(r as usize).map(|v| v.as_ref())
    }

    /// How many rows the table holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, in key order (for the callers that still need them all: casts, `$search`).
    pub fn rows(&self) -> impl Iterator<Item = &Value> {
        self.rows.iter().map(|r| r.as_ref())
    }

    /// How many candidate rows the index leaves `q`'s filter to test (`None`: no indexable
    /// term, every row is tested), and whether the index alone decides.
    pub fn plan(&self, q: &Query) -> (Option<usize>, bool) {
        let (best, exact) = self.narrowest(q);
        (best.map(|r| r.len()), exact)
    }

    /// The smallest index range among the filter's top-level `and` terms, and whether every
    /// term is indexed (then the index alone decides).
    fn narrowest(&self, q: &Query) -> (Option<Range<'_>>, bool) {
        let (ranges, all) = self.ranges(q);
        (ranges.into_iter().next(), all)
    }

    /// The index ranges of the filter's indexable top-level `and` terms, smallest first, and
    /// whether every term is one of them.
    fn ranges(&self, q: &Query) -> (Vec<Range<'_>>, bool) {
        let mut terms = Vec::new();
        if let Some(f) = &q.filter {
            conjuncts(f, &mut terms);
        }
        let mut ranges: Vec<_> = terms.iter().filter_map(|t| term_range(self, t)).collect();
        ranges.sort_by_key(|r| r.len());
        let all = !ranges.is_empty() && ranges.len() == terms.len();
        (ranges, all)
    }

    /// The page `apply` would give for `q` over the same rows.
    pub fn query(&self, q: &Query) -> Result<Page, ODataError> {
        let Some(order) = self.orders.get(&q.order_by.to_ascii_lowercase()) else {
            // Not a sortable property of this table: the general path.
            return super::apply(q, self.rows().cloned().collect());
        };
        let (ranges, exact) = self.ranges(q);
        let best = ranges.first();
        // Membership: in the smallest range and in every other indexed term's range.
        let mark = |c: &Range<'_>| {
            let mut m = vec![false; self.rows.len()];
            for r in c.rows() {
                if let Some(slot) = m.get_mut(r as usize) {
                    *slot = true;
                }
            }
            m
        };
        let member: Option<Vec<bool>> = best.map(|c| {
            let mut m = mark(c);
            for other in ranges.iter().skip(1) {
                for (slot, keep) in m.iter_mut().zip(mark(other)) {
                    *slot &= keep;
                }
            }
            m
        });
        let matches = |r: u32| {
            member
                .as_ref()
                .is_none_or(|m| m.get(r as usize).copied().unwrap_or(false))
                && (exact
                    || q.filter
                        .as_ref()
                        .is_none_or(|f| self.row(r).is_some_and(|v| super::eval(f, v))))
        };
        let count = q.count.then(|| match (best, exact, &q.filter) {
            (_, _, None) => self.rows.len(),
            (Some(c), true, _) if ranges.len() == 1 => c.len(),
            (Some(c), _, _) => c.rows().filter(|r| matches(*r)).count(),
            (None, _, Some(_)) => (0..self.rows.len() as u32).filter(|r| matches(*r)).count(),
        });
        let (seq, rank) = if q.descending {
            (&order.desc, &order.desc_rank)
        } else {
            (&order.asc, &order.asc_rank)
        };
        let start = q.after.as_ref().map_or(0, |c| {
            seq.partition_point(|&r| {
                let (Some(sort), Some(key)) =
                    (order.sort.get(r as usize), self.keys.get(r as usize))
                else {
                    return false;
                };
                row_cmp((sort, key), (&c.sort, &c.key), q.descending) != Ordering::Greater
            })
        });
        let mut page: Vec<u32> = Vec::with_capacity(q.top + 1);
        let mut take = |r: u32| {
            if matches(r) {
                page.push(r);
            }
            page.len() > q.top
        };
        match best {
            // Few candidates: walk them in the order's sequence, from the cursor on.
            Some(c) if c.len() * WALK_CANDIDATES_BELOW < self.rows.len() => {
                let mut positions: Vec<u32> = c
                    .rows()
                    .filter_map(|r| rank.get(r as usize).copied())
                    .filter(|&p| p as usize >= start)
                    .collect();
                positions.sort_unstable();
                for p in positions {
                    if seq.get(p as usize).is_some_and(|&r| take(r)) {
                        break;
                    }
                }
            }
            _ => {
                for &r in seq.get(start..).unwrap_or_default() {
                    if take(r) {
                        break;
                    }
                }
            }
        }
        let more = page.len() > q.top;
        page.truncate(q.top);
        let next_skiptoken = if more {
            page.last().and_then(|&r| {
                let (v, key) = (self.row(r)?, self.keys.get(r as usize)?);
                Some(next_token(q, v, key))
            })
        } else {
            None
        };
        let items = page
            .into_iter()
            .filter_map(|r| self.row(r).map(|v| project_for(q, v)))
            .collect();
        Ok(Page {
            items,
            count,
            next_skiptoken,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{apply, EntitySpec, Query};
    use super::*;
    use serde_json::json;

    fn spec() -> EntitySpec {
        EntitySpec::new(
            "microsoft.graph.user",
            &[
                "id",
                "displayName",
                "userPrincipalName",
                "mail",
                "department",
                "accountEnabled",
                "createdDateTime",
            ],
            &["displayName", "userPrincipalName", "createdDateTime"],
            "id",
        )
    }

    /// Deterministic rows with duplicates, case variety, nulls and missing properties.
    fn rows(n: usize) -> Vec<Value> {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let names = [
            "Adele",
            "alex",
            "ALAN",
            "Bea",
            "bob",
            "Σίσυφος",
            "Zoë",
            "carl",
            "Carla",
        ];
        let depts = ["Sales", "sales", "R&D", "Finance"];
        (0..n)
            .map(|i| {
                let name = names[next(names.len() as u64) as usize];
                let mut v = json!({
                    "id": format!("{:08x}-0000-0000-0000-{:012x}", next(1 << 31), i),
                    "displayName": format!("{name} {}", next(50)),
                    "userPrincipalName": format!("{}{}@contoso.com", name.to_lowercase(), i),
                    "accountEnabled": next(4) != 0,
                    "createdDateTime": format!("2026-0{}-1{}T00:00:00Z", 1 + next(9), next(10)),
                });
                if next(3) != 0 {
                    v["department"] = json!(depts[next(depts.len() as u64) as usize]);
                } else if next(2) == 0 {
                    v["department"] = Value::Null;
                }
                if next(2) == 0 {
                    v["mail"] = json!(format!("{}.{i}@Contoso.com", name));
                }
                v
            })
            .collect()
    }

    fn q(pairs: &[(&str, &str)]) -> Query {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Query::parse(&pairs, &spec()).unwrap()
    }

    /// Walks every page of a query through both engines and compares them page by page.
    fn same(table: &Table, all: &[Value], pairs: &[(&str, &str)]) {
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut p: Vec<(&str, &str)> = pairs.to_vec();
            if let Some(t) = &token {
                p.push(("$skiptoken", t));
            }
            let query = q(&p);
            let want = apply(&query, all.to_vec()).unwrap();
            let got = table.query(&query).unwrap();
            assert_eq!(got, want, "query {pairs:?}, page {pages}");
            pages += 1;
            match want.next_skiptoken {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }

    #[test]
    fn answers_exactly_as_apply_does() {
        let all = rows(700);
        let table = Table::build(
            all.clone(),
            "id",
            &["displayName", "userPrincipalName", "createdDateTime"],
            &[
                "displayName",
                "userPrincipalName",
                "mail",
                "department",
                "accountEnabled",
                "id",
            ],
        );
        assert_eq!(table.len(), 700);
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("$top", "37")],
            &[("$filter", "department eq 'sales' and startswith(displayName,'al') and accountEnabled eq false"), ("$count", "true"), ("$top", "5")],
            &[("$filter", "department eq 'sales' and department eq 'finance'"), ("$count", "true")],
            &[("$filter", "startswith(displayName,'bea') and endswith(mail,'.com')"), ("$count", "true"), ("$orderby", "displayName"), ("$top", "4")],
            &[("$top", "50"), ("$count", "true")],
            &[
                ("$filter", "startswith(displayName,'al')"),
                ("$count", "true"),
            ],
            &[
                ("$filter", "startswith(displayName,'AL')"),
                ("$orderby", "displayName desc"),
                ("$top", "9"),
            ],
            &[
                ("$filter", "department eq 'sales'"),
                ("$count", "true"),
                ("$top", "11"),
            ],
            &[("$filter", "department eq null"), ("$count", "true")],
            &[
                ("$filter", "accountEnabled eq false"),
                ("$orderby", "userPrincipalName"),
                ("$top", "25"),
                ("$count", "true"),
            ],
            &[
                (
                    "$filter",
                    "accountEnabled eq true and startswith(userPrincipalName,'bob')",
                ),
                ("$count", "true"),
                ("$top", "7"),
            ],
            &[
                ("$filter", "startswith(mail,'carl') or department eq 'R&D'"),
                ("$count", "true"),
                ("$top", "20"),
            ],
            &[
                ("$filter", "department in ('R&D', 'Sales') and accountEnabled eq true"),
                ("$count", "true"),
                ("$top", "9"),
            ],
            &[
                ("$filter", "(startswith(displayName,'ad') or startswith(mail,'bob')) or department eq 'Finance'"),
                ("$count", "true"),
                ("$orderby", "displayName desc"),
            ],
            &[("$filter", "userPrincipalName eq 'ALEX5@contoso.com'")],
            &[
                ("$filter", "startswith(displayName,'Σί')"),
                ("$count", "true"),
            ],
            &[
                ("$filter", "startswith(displayName,'zo')"),
                ("$orderby", "createdDateTime desc"),
                ("$top", "3"),
            ],
            &[
                ("$filter", "not(accountEnabled eq true)"),
                ("$count", "true"),
                ("$top", "40"),
            ],
            &[
                ("$orderby", "displayName"),
                ("$top", "64"),
                ("$select", "displayName,id"),
            ],
            &[
                ("$filter", "startswith(displayName,'nobody')"),
                ("$count", "true"),
            ],
        ];
        for c in cases {
            same(&table, &all, c);
        }
        // The index did narrow: a UPN is one candidate, a prefix a few, a conjunction its most
        // selective term; a non-ASCII literal or an `or` falls back to testing every row.
        let plan = |f: &str| table.plan(&q(&[("$filter", f)]));
        assert_eq!(
            plan("userPrincipalName eq 'alex5@contoso.com'").0,
            Some(usize::from(
                table
                    .rows()
                    .any(|r| r["userPrincipalName"] == "alex5@contoso.com")
            ))
        );
        let (bob, exact) = plan("startswith(userPrincipalName,'bob')");
        assert!(exact && bob.is_some_and(|n| n > 0 && n < 200), "{bob:?}");
        let (both, exact) = plan("accountEnabled eq true and startswith(userPrincipalName,'bob')");
        assert_eq!(
            (both, exact),
            (bob, true),
            "both terms indexed: the index decides"
        );
        let (mixed, exact) = plan("endswith(mail,'.com') and startswith(userPrincipalName,'bob')");
        assert_eq!((mixed, exact), (bob, false));
        assert_eq!(plan("startswith(displayName,'Σί')"), (None, false));
        // An `or` of indexed terms, and an `in` list, are the union of their ranges; an `or`
        // with an unindexed side falls back to testing every row.
        let (carl, _) = plan("startswith(mail,'carl')");
        let (rd, _) = plan("department eq 'R&D'");
        let (either, exact) = plan("startswith(mail,'carl') or department eq 'R&D'");
        assert!(exact, "every part indexed: the index decides");
        let (carl, rd, either) = (carl.unwrap(), rd.unwrap(), either.unwrap());
        assert!(
            either <= carl + rd && either >= carl.max(rd),
            "{carl} {rd} {either}"
        );
        assert_eq!(
            plan("startswith(mail,'carl') or endswith(mail,'.com')"),
            (None, false)
        );
        let (listed, exact) = plan("department in ('R&D', 'Sales')");
        assert!(exact && listed.is_some_and(|n| n >= rd), "{listed:?}");
    }

    #[test]
    fn a_property_without_an_index_or_order_still_answers() {
        let all = rows(120);
        let table = Table::build(all.clone(), "id", &["displayName"], &[]);
        same(
            &table,
            &all,
            &[
                ("$filter", "startswith(userPrincipalName,'a')"),
                ("$orderby", "createdDateTime"),
                ("$top", "10"),
            ],
        );
        same(
            &table,
            &all,
            &[("$filter", "mail eq 'x'"), ("$count", "true")],
        );
    }
}
