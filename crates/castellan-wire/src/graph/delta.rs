//! Graph delta query: its state tokens and its pages (Microsoft Graph, "Use delta query to track
//! changes in Microsoft Graph data"; `user: delta`, `group: delta`). A round is one or more
//! pages linked by `@odata.nextLink` (a `$skiptoken`), the last carrying an `@odata.deltaLink`
//! (a `$deltatoken`) from which the next round reports what changed. The round's watermark is
//! taken on its first page and carried through its skip tokens, so a change made while a client
//! pages is reported in the next round rather than lost.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// Objects in a delta page when the client states no preference.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page a client may ask for with `Prefer: odata.maxpagesize=N`.
pub const MAX_PAGE_SIZE: usize = 999;
/// The longest token accepted (a valid one is well under 300 bytes).
pub const MAX_TOKEN_LEN: usize = 1024;
const TOKEN_VERSION: u64 = 1;

/// A state token, as read back from a link this server gave out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// `$deltatoken`: report changes since the watermark (Unix millis).
    Delta {
        /// Changes at or after this instant are reported.
        since: i64,
    },
    /// `$skiptoken`: the next page of a round.
    Skip {
        /// The round's start: `None` for the initial round (every object), else the watermark
        /// of the `$deltatoken` the round began with.
        since: Option<i64>,
        /// The watermark the round's `@odata.deltaLink` will carry.
        watermark: i64,
        /// The last object id already returned in this round.
        after: String,
    },
}

/// The `$deltatoken` for `collection` in `tenant`, reporting changes from `watermark` on.
pub fn delta_token(tenant: &str, collection: &str, watermark: i64) -> String {
    URL_SAFE_NO_PAD.encode(
        json!({"v": TOKEN_VERSION, "t": tenant, "c": collection, "w": watermark}).to_string(),
    )
}

/// The `$skiptoken` of a round's next page.
pub fn skip_token(
    tenant: &str,
    collection: &str,
    since: Option<i64>,
    watermark: i64,
    after: &str,
) -> String {
    URL_SAFE_NO_PAD.encode(
        json!({"v": TOKEN_VERSION, "k": "skip", "t": tenant, "c": collection, "w": watermark, "s": since, "a": after})
            .to_string(),
    )
}

/// Reads a token; a malformed one, or one for another tenant or collection, is an error
/// naming the fix. `skip` says which parameter carried it.
pub fn read_token(
    tenant: &str,
    collection: &str,
    token: &str,
    skip: bool,
) -> Result<State, String> {
    let param = if skip { "$skiptoken" } else { "$deltatoken" };
    let link = if skip {
        "@odata.nextLink"
    } else {
        "@odata.deltaLink"
    };
    let bad = || format!("The '{param}' value is malformed: use the {link} exactly as returned.");
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_u64) != Some(TOKEN_VERSION)
        || v.get("t").and_then(Value::as_str) != Some(tenant)
        || v.get("c").and_then(Value::as_str) != Some(collection)
    {
        return Err(bad());
    }
    let watermark = v.get("w").and_then(Value::as_i64).ok_or_else(bad)?;
    let is_skip = v.get("k").and_then(Value::as_str) == Some("skip");
    match (is_skip, skip) {
        (false, false) => Ok(State::Delta { since: watermark }),
        (true, true) => Ok(State::Skip {
            since: match v.get("s") {
                None | Some(Value::Null) => None,
                Some(s) => Some(s.as_i64().ok_or_else(bad)?),
            },
            watermark,
            after: v
                .get("a")
                .and_then(Value::as_str)
                .ok_or_else(bad)?
                .to_string(),
        }),
        _ => Err(bad()),
    }
}

/// The page size a `Prefer` header asks for (`odata.maxpagesize=N`, among other preferences),
/// [`DEFAULT_PAGE_SIZE`] without one; `Some(n)` in the answer when the preference was applied
/// (for `Preference-Applied`). A value that is not 1..=[`MAX_PAGE_SIZE`] is an error.
pub fn page_size(prefer: Option<&str>) -> Result<(usize, bool), String> {
    for p in prefer.unwrap_or("").split(',') {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("odata.maxpagesize") {
            continue;
        }
        return match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok((n, true)),
            _ => Err(format!(
                "Invalid 'Prefer: odata.maxpagesize={}': use a page size from 1 to {MAX_PAGE_SIZE}.",
                v.trim()
            )),
        };
    }
    Ok((DEFAULT_PAGE_SIZE, false))
}

/// One page of a round: the objects (ordered by `id`) after `after`, at most `size`, and the
/// id to continue after when more remain.
pub fn page(
    mut items: Vec<Value>,
    after: Option<&str>,
    size: usize,
) -> (Vec<Value>, Option<String>) {
    let id = |v: &Value| {
        v.get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    items.sort_by_key(id);
    let mut rest: Vec<Value> = items
        .into_iter()
        .filter(|v| after.is_none_or(|a| id(v).as_str() > a))
        .collect();
    if rest.len() <= size {
        return (rest, None);
    }
    rest.truncate(size);
    let next = rest.last().map(id);
    (rest, next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const T: &str = "0b1c2d3e-0000-4000-8000-000000000001";

    #[test]
    fn tokens_round_trip_and_are_bound_to_tenant_collection_and_parameter() {
        let d = delta_token(T, "users", 42);
        assert_eq!(
            read_token(T, "users", &d, false),
            Ok(State::Delta { since: 42 })
        );
        let s = skip_token(T, "users", Some(7), 42, "id-9");
        assert_eq!(
            read_token(T, "users", &s, true),
            Ok(State::Skip {
                since: Some(7),
                watermark: 42,
                after: "id-9".into()
            })
        );
        let first = skip_token(T, "users", None, 42, "id-9");
        assert!(matches!(
            read_token(T, "users", &first, true),
            Ok(State::Skip { since: None, .. })
        ));
        // Another tenant, another collection, the other parameter, garbage: refused.
        assert!(read_token("other", "users", &d, false).is_err());
        assert!(read_token(T, "groups", &d, false).is_err());
        assert!(read_token(T, "users", &d, true)
            .unwrap_err()
            .contains("$skiptoken"));
        assert!(read_token(T, "users", &s, false)
            .unwrap_err()
            .contains("@odata.deltaLink"));
        assert!(read_token(T, "users", "garbage!", false).is_err());
        assert!(read_token(T, "users", &"A".repeat(MAX_TOKEN_LEN + 1), false).is_err());
    }

    #[test]
    fn pages_follow_the_id_order_and_say_where_to_continue() {
        let items: Vec<Value> = ["c", "a", "e", "b", "d"]
            .iter()
            .map(|i| json!({"id": i}))
            .collect();
        let ids = |v: &[Value]| {
            v.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let (p, next) = page(items.clone(), None, 2);
        assert_eq!(
            (ids(&p), next.as_deref()),
            (vec!["a".into(), "b".into()], Some("b"))
        );
        let (p, next) = page(items.clone(), Some("b"), 2);
        assert_eq!(
            (ids(&p), next.as_deref()),
            (vec!["c".into(), "d".into()], Some("d"))
        );
        let (p, next) = page(items.clone(), Some("d"), 2);
        assert_eq!((ids(&p), next), (vec!["e".into()], None));
        // Exactly a page: no next link.
        let (p, next) = page(items, None, 5);
        assert_eq!((p.len(), next), (5, None));
    }

    #[test]
    fn page_size_comes_from_prefer_within_bounds() {
        assert_eq!(page_size(None), Ok((DEFAULT_PAGE_SIZE, false)));
        assert_eq!(
            page_size(Some("return=minimal")),
            Ok((DEFAULT_PAGE_SIZE, false))
        );
        assert_eq!(
            page_size(Some("return=minimal, odata.maxpagesize=2")),
            Ok((2, true))
        );
        assert!(page_size(Some("odata.maxpagesize=0")).is_err());
        assert!(page_size(Some("odata.maxpagesize=1000"))
            .unwrap_err()
            .contains("999"));
        assert!(page_size(Some("odata.maxpagesize=x")).is_err());
    }
}
