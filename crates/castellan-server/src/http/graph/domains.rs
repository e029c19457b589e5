//! `/v1.0/domains`: the tenant's domains. `GET` lists them (OData as for other collections),
//! `POST` adds an unverified one, `GET/PATCH/DELETE /domains/{id}` (the id is the name),
//! `GET …/verificationDnsRecords` (the TXT and MX records that prove control),
//! `GET …/serviceConfigurationRecords` (none: Castellan hosts no mail or other services),
//! `POST …/verify` (looked up through the server's resolver, `--dns-resolver`). Decisions are
//! `core::ops::domains`'; reads are every member's (or Domain.Read.All, Directory.Read.All),
//! writes need Domain.ReadWrite.All and, delegated, Domain Name Administrator or Global
//! Administrator.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::error::Code;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::domains::{self as ops, VerifyError};
use castellan_wire::errors::GraphError;
use castellan_wire::graph::domains as wire;
use castellan_wire::odata::EntitySpec;

use super::users::{select_one, with_context};
use super::{created, json_body, list, no_content, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/domains", get(list_domains).post(create))
        .route(
            "/v1.0/domains/{id}",
            get(get_domain).patch(update).delete(remove),
        )
        .route(
            "/v1.0/domains/{id}/verificationDnsRecords",
            get(verification_records),
        )
        .route(
            "/v1.0/domains/{id}/serviceConfigurationRecords",
            get(service_records),
        )
        .route("/v1.0/domains/{id}/verify", post(verify))
}

/// The OData description of domains.
pub fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.domain",
        wire::PROPERTIES,
        &["id", "isDefault", "isVerified"],
        "id",
    )
}

fn records_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.domainDnsRecord",
        wire::RECORD_PROPERTIES,
        &["recordType", "label"],
        "id",
    )
}

async fn list_domains(
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Read)?;
    let items = ops::list(&c.tenant)
        .iter()
        .map(|d| wire::render(d, &c.tenant))
        .collect();
    list(&c, &uri, &headers, &spec(), "domains", items)
}

async fn create(State(s): State<AppState>, c: Caller, body: Bytes) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Write)?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    let d = ops::create(&mut c.env(&s, &mut ent), &c.tenant, input)
        .await
        .map_err(|e| c.err(e))?;
    let mut t = c.tenant.clone();
    t.domains.push(d.clone());
    Ok(created(
        format!("{}/domains/{}", c.base, d.name),
        with_context(&c, "domains/$entity", wire::render(&d, &t)),
    ))
}

async fn get_domain(
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Read)?;
    let d = ops::get(&c.tenant, &id).map_err(|e| c.err(e))?;
    let v = select_one(&c, &uri, &spec(), wire::render(&d, &c.tenant))?;
    Ok(Json(with_context(&c, "domains/$entity", v)).into_response())
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Write)?;
    let input = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    let mut ent = OsEntropy;
    ops::update(&mut c.env(&s, &mut ent), &c.tenant, &id, input)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Write)?;
    let mut ent = OsEntropy;
    ops::delete(&mut c.env(&s, &mut ent), &c.tenant, &id)
        .await
        .map_err(|e| c.err(e))?;
    Ok(no_content())
}

async fn verification_records(
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Read)?;
    let d = ops::get(&c.tenant, &id).map_err(|e| c.err(e))?;
    list(
        &c,
        &uri,
        &headers,
        &records_spec(),
        &format!("domains('{}')/verificationDnsRecords", d.name),
        wire::verification_records(&d),
    )
}

async fn service_records(
    c: Caller,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Read)?;
    let d = ops::get(&c.tenant, &id).map_err(|e| c.err(e))?;
    list(
        &c,
        &uri,
        &headers,
        &records_spec(),
        &format!("domains('{}')/serviceConfigurationRecords", d.name),
        Vec::new(),
    )
}

async fn verify(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Domains, Access::Write)?;
    let mut ent = OsEntropy;
    let d = ops::verify(&mut c.env(&s, &mut ent), &c.tenant, &id, s.dns.as_ref())
        .await
        .map_err(|e| match e {
            VerifyError::Directory(e) => c.err(e),
            VerifyError::Dns {
                name,
                resolver,
                why,
            } => c.err(GraphError::of(
                Code::DomainDnsUnavailable,
                &[("name", &name), ("why", &why), ("resolver", &resolver)],
            )),
        })?;
    let mut t = c.tenant.clone();
    for o in &mut t.domains {
        if o.name == d.name {
            *o = d.clone();
        }
    }
    Ok(Json(with_context(&c, "domains/$entity", wire::render(&d, &t))).into_response())
}
