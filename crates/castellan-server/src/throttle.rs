//! Graph throttling, the server half: this node's budgets (`castellan_core::throttle::Budgets`
//! behind a lock), each tenant's size class (its user count, recounted in the background at
//! most every five minutes), and a request's cost read off its method, path and query. Every
//! decision — costs, budgets, refusals — is core's. Budgets are per node: behind a load
//! balancer over N nodes a pair may get up to N times its budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use castellan_core::store::Store;
use castellan_core::throttle::{self as t, Budgets, Limits, TenantSize};
use castellan_core::{AppId, TenantId, Timestamp};

use crate::state::now;

/// How often a tenant's size class is recounted.
const SIZE_TTL_MS: i64 = 300_000;

type Sizes = Arc<Mutex<HashMap<TenantId, (TenantSize, Timestamp)>>>;

/// This node's Graph budgets.
#[derive(Debug)]
pub struct GraphThrottle {
    limits: Limits,
    budgets: Mutex<Budgets>,
    sizes: Sizes,
}

impl GraphThrottle {
    /// Budgets under `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            budgets: Mutex::default(),
            sizes: Sizes::default(),
        }
    }

    /// Charges a Graph request of `app` in `tenant`; a refusal says which budget and when to
    /// retry. A tenant whose size is not counted yet is treated as small (the lowest budget)
    /// while a background task counts it.
    pub fn charge(
        &self,
        store: &Arc<dyn Store>,
        tenant: TenantId,
        app: AppId,
        method: &str,
        uri: &axum::http::Uri,
    ) -> Result<(), t::Throttled> {
        if self.limits == Limits::Off {
            return Ok(());
        }
        let cost = t::cost(&shape(method, uri));
        let at = now();
        let size = match self.limits {
            Limits::Entra => self.size(store, tenant, at),
            _ => TenantSize::Small,
        };
        let mut b = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        if b.len() > 10_000 {
            b.sweep(at);
        }
        b.charge(self.limits, tenant, app, size, cost, at)
    }

    fn size(&self, store: &Arc<dyn Store>, tenant: TenantId, at: Timestamp) -> TenantSize {
        let mut sizes = self.sizes.lock().unwrap_or_else(PoisonError::into_inner);
        match sizes.get(&tenant) {
            Some((size, counted)) if at.millis() - counted.millis() < SIZE_TTL_MS => *size,
            known => {
                let size = known.map_or(TenantSize::Small, |(s, _)| *s);
                // Stamped now, so that only this request starts the recount.
                sizes.insert(tenant, (size, at));
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let (store, sizes) = (store.clone(), self.sizes.clone());
                    rt.spawn(async move {
                        match store.users(tenant).await {
                            Ok(users) => {
                                sizes
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .insert(tenant, (TenantSize::of(users.len()), now()));
                            }
                            Err(e) => tracing::warn!(error = %e, %tenant, "counting users for Graph throttling failed"),
                        }
                    });
                }
                size
            }
        }
    }
}

/// What a request's cost depends on: its method, the path after `/v1.0/` (or
/// `/graph/v1.0/`), `$select`, `$expand` and `$top`.
fn shape<'a>(method: &'a str, uri: &'a axum::http::Uri) -> t::RequestShape<'a> {
    let p = uri.path();
    let path = p
        .strip_prefix("/graph")
        .unwrap_or(p)
        .strip_prefix("/v1.0")
        .unwrap_or(p);
    let mut r = t::RequestShape {
        method,
        path,
        ..Default::default()
    };
    if let Some(q) = uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            match k.to_ascii_lowercase().trim_start_matches('$') {
                "select" => r.select = true,
                "expand" => r.expand = true,
                "top" => r.top = v.trim().parse().ok(),
                _ => {}
            }
        }
    }
    r
}

/// `--graph-throttle`: `entra` (Entra's budgets), `off`, or `RU[/WRITES]` (RU per 10 s and
/// writes per 150 s for every application + tenant pair).
pub fn parse_limits(s: &str) -> Result<Limits, String> {
    let bad = || {
        format!(
            "'{s}' is not a Graph throttle setting: use entra (Entra's budgets), off, or \
             RU[/WRITES] such as 3500/3000 (resource units per 10 s and writes per 150 s per \
             application and tenant)"
        )
    };
    match s.trim().to_ascii_lowercase().as_str() {
        "entra" | "" => Ok(Limits::Entra),
        "off" | "none" => Ok(Limits::Off),
        v => {
            let (ru, writes) = match v.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (v, None),
            };
            let ru: u32 = ru.trim().parse().map_err(|_| bad())?;
            let writes: u32 = match writes {
                Some(w) => w.trim().parse().map_err(|_| bad())?,
                None => 3_000,
            };
            if ru == 0 || writes == 0 {
                return Err(bad());
            }
            Ok(Limits::Fixed { ru, writes })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_parses_and_bad_values_name_the_forms() {
        assert_eq!(parse_limits("entra"), Ok(Limits::Entra));
        assert_eq!(parse_limits("OFF"), Ok(Limits::Off));
        assert_eq!(
            parse_limits("20/5"),
            Ok(Limits::Fixed { ru: 20, writes: 5 })
        );
        assert_eq!(
            parse_limits("100"),
            Ok(Limits::Fixed {
                ru: 100,
                writes: 3_000
            })
        );
        for bad in ["0", "x", "10/0", "10/y", "-1"] {
            let e = parse_limits(bad).unwrap_err();
            assert!(e.contains("RU[/WRITES]"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_shape_reads_path_and_query() {
        let u: axum::http::Uri = "/graph/v1.0/groups/g/transitiveMembers?$select=id&%24top=5"
            .parse()
            .unwrap();
        let r = shape("GET", &u);
        assert_eq!(r.path, "/groups/g/transitiveMembers");
        assert!(r.select && !r.expand);
        assert_eq!(r.top, Some(5));
        assert_eq!(t::cost(&r).ru, 3);
    }
}
