//! Identity Protection: user risk records (compare-and-set on a version) and failed sign-ins.
//! A record is one JSON document per user (`RiskDoc`, the layout every database already
//! holds); core's typed `RiskyUser` is converted at this edge.

use super::*;
use castellan_core::policy::model::RiskLevel;
use castellan_core::policy::risk::{RiskDetail, RiskEventType, RiskState};
use castellan_core::policy::risky_user::{
    HistoryItem, RiskyUser, RiskyUserRecord, SeenSignIn, StoredDetection,
};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
struct LocDoc {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct DetectionDoc {
    id: String,
    kind: String,
    level: String,
    state: String,
    detail: String,
    reason: String,
    ip: String,
    loc: LocDoc,
    at: i64,
    updated: i64,
    cid: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct HistoryDoc {
    id: String,
    at: i64,
    level: String,
    state: String,
    detail: String,
    initiated_by: Option<String>,
    event_types: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct SeenDoc {
    ip: String,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    ua: String,
    at: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
struct RiskDoc {
    upn: String,
    display_name: String,
    state: String,
    detail: String,
    updated: i64,
    detections: Vec<DetectionDoc>,
    history: Vec<HistoryDoc>,
    seen: Vec<SeenDoc>,
}

fn state(s: &str) -> RiskState {
    RiskState::parse(s).unwrap_or(RiskState::None)
}
fn detail(s: &str) -> RiskDetail {
    RiskDetail::parse(s).unwrap_or(RiskDetail::None)
}
fn level(s: &str) -> RiskLevel {
    RiskLevel::parse(s).unwrap_or(RiskLevel::None)
}

impl RiskDoc {
    fn of(u: &RiskyUser) -> Self {
        Self {
            upn: u.upn.clone(),
            display_name: u.display_name.clone(),
            state: u.state.as_str().into(),
            detail: u.detail.as_str().into(),
            updated: u.updated.millis(),
            detections: u
                .detections
                .iter()
                .map(|d| DetectionDoc {
                    id: d.id.clone(),
                    kind: d.kind.as_str().into(),
                    level: d.level.as_str().into(),
                    state: d.state.as_str().into(),
                    detail: d.detail.as_str().into(),
                    reason: d.reason.clone(),
                    ip: d.ip.clone(),
                    loc: LocDoc {
                        city: d.location.city.clone(),
                        state: d.location.state.clone(),
                        country: d.location.country_or_region.clone(),
                        lat: d.location.latitude,
                        lon: d.location.longitude,
                    },
                    at: d.at.millis(),
                    updated: d.updated.millis(),
                    cid: d.correlation_id.clone(),
                })
                .collect(),
            history: u
                .history
                .iter()
                .map(|h| HistoryDoc {
                    id: h.id.clone(),
                    at: h.at.millis(),
                    level: h.level.as_str().into(),
                    state: h.state.as_str().into(),
                    detail: h.detail.as_str().into(),
                    initiated_by: h.initiated_by.map(|i| i.to_string()),
                    event_types: h.event_types.iter().map(|e| e.as_str().into()).collect(),
                })
                .collect(),
            seen: u
                .seen
                .iter()
                .map(|h| SeenDoc {
                    ip: h.ip.clone(),
                    country: h.country.clone(),
                    lat: h.latitude,
                    lon: h.longitude,
                    ua: h.user_agent.clone(),
                    at: h.at.millis(),
                })
                .collect(),
        }
    }

    /// Core's record; a detection of a kind this version does not know is skipped.
    fn into_user(self) -> RiskyUser {
        RiskyUser {
            upn: self.upn,
            display_name: self.display_name,
            state: state(&self.state),
            detail: detail(&self.detail),
            updated: Timestamp(self.updated),
            detections: self
                .detections
                .into_iter()
                .filter_map(|d| {
                    Some(StoredDetection {
                        kind: RiskEventType::parse(&d.kind)?,
                        level: level(&d.level),
                        state: state(&d.state),
                        detail: detail(&d.detail),
                        location: SignInLocation {
                            city: d.loc.city,
                            state: d.loc.state,
                            country_or_region: d.loc.country,
                            latitude: d.loc.lat,
                            longitude: d.loc.lon,
                        },
                        at: Timestamp(d.at),
                        updated: Timestamp(d.updated),
                        id: d.id,
                        reason: d.reason,
                        ip: d.ip,
                        correlation_id: d.cid,
                    })
                })
                .collect(),
            history: self
                .history
                .into_iter()
                .map(|h| HistoryItem {
                    at: Timestamp(h.at),
                    level: level(&h.level),
                    state: state(&h.state),
                    detail: detail(&h.detail),
                    initiated_by: h.initiated_by.as_deref().and_then(ObjectId::parse),
                    event_types: h
                        .event_types
                        .iter()
                        .filter_map(|e| RiskEventType::parse(e))
                        .collect(),
                    id: h.id,
                })
                .collect(),
            seen: self
                .seen
                .into_iter()
                .map(|h| SeenSignIn {
                    ip: h.ip,
                    country: h.country,
                    latitude: h.lat,
                    longitude: h.lon,
                    user_agent: h.ua,
                    at: Timestamp(h.at),
                })
                .collect(),
        }
    }
}

fn encode(r: &RiskyUserRecord) -> Result<String, StoreError> {
    serde_json::to_string(&RiskDoc::of(&r.user)).map_err(backend)
}

pub(crate) fn risky_user_row(r: &AnyRow) -> Result<RiskyUserRecord, StoreError> {
    let user_id = oid(&get(r, 1)?)?;
    let data: String = get(r, 4)?;
    // An unreadable record reads as empty (and is logged): a sign-in must not fail on it, and
    // the next write replaces it.
    let doc = serde_json::from_str::<RiskDoc>(&data).unwrap_or_else(|e| {
        tracing::error!(user = %user_id, error = %e, "stored risky-user record is unreadable; treated as empty");
        RiskDoc::default()
    });
    Ok(RiskyUserRecord {
        tenant_id: TenantId::parse(&get(r, 0)?).ok_or_else(|| backend("bad tenant id"))?,
        user_id,
        version: r.try_get::<i64, _>(2).map_err(backend)?,
        updated: Timestamp(r.try_get::<i64, _>(3).map_err(backend)?),
        user: doc.into_user(),
    })
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::PutRiskyUser(r, expected) => {
            let lost = || StoreError::conflict(UniqueRule::RiskyUserChanged);
            let n = match expected {
                None => exec(tx, "INSERT INTO risky_users (tenant_id, user_id, version, updated, data) VALUES ($1, $2, 1, $3, $4)", &[s(r.tenant_id), s(r.user_id), Arg::I(r.updated.millis()), Arg::S(encode(r)?)])
                    .await
                    .map_err(|e| if e.unique_rule().is_some() { lost() } else { e })?,
                Some(v) => exec(tx, "UPDATE risky_users SET version = $1, updated = $2, data = $3 WHERE tenant_id = $4 AND user_id = $5 AND version = $6", &[Arg::I(v.saturating_add(1)), Arg::I(r.updated.millis()), Arg::S(encode(r)?), s(r.tenant_id), s(r.user_id), Arg::I(*v)]).await?,
            };
            if n != 1 {
                return Err(lost());
            }
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl RiskStore for SqlStore {
    async fn risky_user(
        &self,
        t: TenantId,
        user: ObjectId,
    ) -> Result<Option<RiskyUserRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, user_id, version, updated, data FROM risky_users WHERE tenant_id = $1 AND user_id = $2")
            .bind(t.to_string())
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.first().map(risky_user_row).transpose()
    }

    async fn put_risky_user(
        &self,
        r: &RiskyUserRecord,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let doc = encode(r)?;
        let n = match expected {
            None => match retrying!(self.write_one("INSERT INTO risky_users (tenant_id, user_id, version, updated, data) VALUES ($1, $2, 1, $3, $4)", &[s(r.tenant_id), s(r.user_id), Arg::I(r.updated.millis()), Arg::S(doc.clone())]).await) {
                Ok(n) => n,
                // Someone else created it first.
                Err(StoreError::Conflict(_)) => return Ok(false),
                Err(e) => return Err(e),
            },
            Some(v) => retrying!(self.write_one("UPDATE risky_users SET version = $1, updated = $2, data = $3 WHERE tenant_id = $4 AND user_id = $5 AND version = $6", &[Arg::I(v.saturating_add(1)), Arg::I(r.updated.millis()), Arg::S(doc.clone()), s(r.tenant_id), s(r.user_id), Arg::I(v)]).await)?,
        };
        Ok(n == 1)
    }

    async fn risky_users(&self, t: TenantId) -> Result<Vec<RiskyUserRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, user_id, version, updated, data FROM risky_users WHERE tenant_id = $1 ORDER BY updated DESC, user_id")
            .bind(t.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(risky_user_row).collect()
    }

    async fn add_failed_sign_in(
        &self,
        r: &FailedSignInRecord,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            exec(&mut tx, "DELETE FROM failed_sign_ins WHERE tenant_id = $1 AND time < $2", &[s(r.tenant_id), Arg::I(prune_before.millis())]).await?;
            exec(&mut tx, "INSERT INTO failed_sign_ins (tenant_id, source, ip, username, time) VALUES ($1, $2, $3, $4, $5)", &[s(r.tenant_id), Arg::S(r.source.clone()), Arg::S(r.ip.clone()), Arg::S(r.username.clone()), Arg::I(r.at.millis())]).await?;
            tx.commit().await.map_err(backend)
        }
        .await)
    }

    async fn failed_sign_ins(
        &self,
        t: TenantId,
        source: &str,
        since: Timestamp,
    ) -> Result<Vec<FailedSignInRecord>, StoreError> {
        let rows = sqlx::query("SELECT ip, username, time FROM failed_sign_ins WHERE tenant_id = $1 AND source = $2 AND time >= $3 ORDER BY time, username")
            .bind(t.to_string())
            .bind(source.to_string())
            .bind(since.millis())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(FailedSignInRecord {
                    tenant_id: t,
                    source: source.to_string(),
                    ip: get(r, 0)?,
                    username: get(r, 1)?,
                    at: Timestamp(r.try_get::<i64, _>(2).map_err(backend)?),
                })
            })
            .collect()
    }
}
