//! The sign-in log.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct AppliedDoc {
    id: String,
    name: String,
    result: String,
    grant: Vec<String>,
    session: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SignInDoc {
    id: String,
    tenant_id: String,
    created: i64,
    upn: Option<String>,
    user_id: Option<String>,
    user_display_name: Option<String>,
    app_id: String,
    app_display_name: Option<String>,
    resource_display_name: Option<String>,
    resource_id: Option<String>,
    ip: String,
    client_app_used: String,
    interactive: bool,
    error_code: u32,
    failure_reason: String,
    additional_details: String,
    correlation_id: String,
    authentication_requirement: String,
    conditional_access_status: String,
    #[serde(default)]
    applied: Vec<AppliedDoc>,
    service_principal: bool,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    location: LocationDoc,
    #[serde(default)]
    risk: Option<RiskInfoDoc>,
    #[serde(default)]
    device: Option<SignInDeviceDoc>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SignInDeviceDoc {
    device_id: String,
    display_name: String,
    operating_system: String,
    is_compliant: bool,
    is_managed: bool,
    trust_type: String,
}

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct LocationDoc {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RiskInfoDoc {
    during: String,
    aggregated: String,
    state: String,
    detail: String,
    events: Vec<String>,
}

impl From<&SignIn> for SignInDoc {
    fn from(r: &SignIn) -> Self {
        Self {
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            created: r.created.millis(),
            upn: r.user_principal_name.clone(),
            user_id: r.user_id.map(|u| u.to_string()),
            user_display_name: r.user_display_name.clone(),
            app_id: r.app_id.clone(),
            app_display_name: r.app_display_name.clone(),
            resource_display_name: r.resource_display_name.clone(),
            resource_id: r.resource_id.clone(),
            ip: r.ip_address.clone(),
            client_app_used: r.client_app_used.clone(),
            interactive: r.is_interactive,
            error_code: r.error_code,
            failure_reason: r.failure_reason.clone(),
            additional_details: r.additional_details.clone(),
            correlation_id: r.correlation_id.clone(),
            authentication_requirement: r.authentication_requirement.clone(),
            conditional_access_status: r.conditional_access_status.clone(),
            applied: r
                .applied_policies
                .iter()
                .map(|a| AppliedDoc {
                    id: a.id.clone(),
                    name: a.display_name.clone(),
                    result: a.result.clone(),
                    grant: a.enforced_grant_controls.clone(),
                    session: a.enforced_session_controls.clone(),
                })
                .collect(),
            service_principal: r.is_service_principal,
            user_agent: r.user_agent.clone(),
            location: LocationDoc {
                city: r.location.city.clone(),
                state: r.location.state.clone(),
                country: r.location.country_or_region.clone(),
                lat: r.location.latitude,
                lon: r.location.longitude,
            },
            risk: Some(RiskInfoDoc {
                during: r.risk.during_sign_in.clone(),
                aggregated: r.risk.aggregated.clone(),
                state: r.risk.state.clone(),
                detail: r.risk.detail.clone(),
                events: r.risk.event_types.clone(),
            }),
            device: r.device.as_ref().map(|d| SignInDeviceDoc {
                device_id: d.device_id.clone(),
                display_name: d.display_name.clone(),
                operating_system: d.operating_system.clone(),
                is_compliant: d.is_compliant,
                is_managed: d.is_managed,
                trust_type: d.trust_type.clone(),
            }),
        }
    }
}

impl TryFrom<SignInDoc> for SignIn {
    type Error = StoreError;
    fn try_from(d: SignInDoc) -> Result<Self, StoreError> {
        Ok(SignIn {
            id: guid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            created: Timestamp(d.created),
            user_principal_name: d.upn,
            user_id: d.user_id.as_deref().map(oid).transpose()?,
            user_display_name: d.user_display_name,
            app_id: d.app_id,
            app_display_name: d.app_display_name,
            resource_display_name: d.resource_display_name,
            resource_id: d.resource_id,
            ip_address: d.ip,
            client_app_used: d.client_app_used,
            is_interactive: d.interactive,
            error_code: d.error_code,
            failure_reason: d.failure_reason,
            additional_details: d.additional_details,
            correlation_id: d.correlation_id,
            authentication_requirement: d.authentication_requirement,
            conditional_access_status: d.conditional_access_status,
            applied_policies: d
                .applied
                .into_iter()
                .map(|a| AppliedPolicy {
                    id: a.id,
                    display_name: a.name,
                    result: a.result,
                    enforced_grant_controls: a.grant,
                    enforced_session_controls: a.session,
                })
                .collect(),
            is_service_principal: d.service_principal,
            device: d.device.map(|d| SignInDevice {
                device_id: d.device_id,
                display_name: d.display_name,
                operating_system: d.operating_system,
                is_compliant: d.is_compliant,
                is_managed: d.is_managed,
                trust_type: d.trust_type,
            }),
            user_agent: d.user_agent,
            location: castellan_core::model::SignInLocation {
                city: d.location.city,
                state: d.location.state,
                country_or_region: d.location.country,
                latitude: d.location.lat,
                longitude: d.location.lon,
            },
            risk: d
                .risk
                .map(|r| castellan_core::model::SignInRiskInfo {
                    during_sign_in: r.during,
                    aggregated: r.aggregated,
                    state: r.state,
                    detail: r.detail,
                    event_types: r.events,
                })
                .unwrap_or_default(),
        })
    }
}

/// Sign-in records per `INSERT` (4 parameters each, well under SQLite's and PostgreSQL's
/// limits on bound parameters).
const SIGN_INS_PER_STATEMENT: usize = 128;

#[async_trait]
impl SignInStore for SqlStore {
    async fn insert_sign_ins(&self, records: &[SignIn]) -> Result<(), StoreError> {
        retrying!(
            async {
                // One multi-row statement per chunk: one round trip to the database (and, on
                // SQLite, one hand-off under the write gate) instead of one per record.
                let mut tx = self.begin_write().await?;
                for chunk in records.chunks(SIGN_INS_PER_STATEMENT) {
                    let mut sql =
                        String::from("INSERT INTO sign_ins (id, tenant_id, time, data) VALUES ");
                    let mut args = Vec::with_capacity(chunk.len() * 4);
                    for (i, r) in chunk.iter().enumerate() {
                        let n = i * 4;
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
                        args.extend([
                            s(r.id),
                            s(r.tenant_id),
                            Arg::I(r.created.millis()),
                            Arg::S(json(&SignInDoc::from(r))?),
                        ]);
                    }
                    exec(&mut tx, &sql, &args).await?;
                }
                tx.commit().await.map_err(backend)
            }
            .await
        )
    }

    async fn sign_ins(&self, t: TenantId, q: &SignInQuery) -> Result<Vec<SignIn>, StoreError> {
        let rows = sqlx::query("SELECT data FROM sign_ins WHERE tenant_id = $1 AND time >= $2 AND time < $3 ORDER BY time DESC, id DESC LIMIT $4")
            .bind(t.to_string())
            .bind(q.since.map_or(i64::MIN, |x| x.millis()))
            .bind(q.until.map_or(i64::MAX, |x| x.millis()))
            // The limit is applied by the database (bounded reads, e.g. impact replay).
            .bind(q.limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().take(q.limit.unwrap_or(usize::MAX)) {
            let d: SignInDoc = serde_json::from_str(&get(r, 0)?).map_err(backend)?;
            out.push(d.try_into()?);
        }
        Ok(out)
    }
}
