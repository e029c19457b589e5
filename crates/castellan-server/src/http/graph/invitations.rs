//! `POST /v1.0/invitations`: B2B invitations. Who may invite is `core::authz::may_invite`
//! (the tenant's `allowInvitesFrom`); the guest and its ticket are `ops::invitations`'; the
//! message goes through the SMTP relay (`crate::smtp`) when `sendInvitationMessage` is true.
//! A delivery failure leaves the invitation in place: the answer's
//! `@castellan.invitationMessage` says it was not sent, the log and the audit say why.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use castellan_core::authz;
use castellan_core::ops::invitations;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::invitations as wire;
use castellan_wire::mail::{invitation_text, Message};

use super::users::with_context;
use super::{created, json_body, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1.0/invitations", post(create))
}

/// The redemption link for `secret` in `tenant` on `origin`.
pub fn redeem_url(origin: &str, tenant: &castellan_core::TenantId, secret: &str) -> String {
    format!("{origin}/{tenant}/redeem?ticket={secret}")
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authz::may_invite(&c.principal(), c.tenant.settings.allow_invites_from).map_err(|why| {
        c.err(GraphError::forbidden(format!(
            "Insufficient privileges to complete the operation. {why}"
        )))
    })?;
    let req = wire::parse(&json_body(&c, &body)?).map_err(|e| c.err(e))?;
    if req.send_message && s.smtp.is_none() {
        return Err(c.err(GraphError::bad_request(
            "sendInvitationMessage is true, but this server has no SMTP relay to deliver the message: start it with --smtp-relay host:port (CASTELLAN_SMTP_RELAY), or send sendInvitationMessage: false and give the guest the answer's inviteRedeemUrl yourself.",
        )));
    }
    let mut ent = OsEntropy;
    let mut env = c.env(&s, &mut ent);
    let done = invitations::invite(&mut env, &c.tenant, req, s.config.invitation_days)
        .await
        .map_err(|e| c.err(e))?;
    let origin = s.origins.for_host(crate::http::host(&headers));
    let url = redeem_url(&origin, &c.tenant.id, &done.secret);
    let delivery = match (&s.smtp, done.request.send_message) {
        (Some(relay), true) => {
            let inviter = match &c.actor {
                castellan_core::audit::Actor::User { upn, .. } => Some(upn.as_str()),
                _ => None,
            };
            let (subject, text) = invitation_text(
                &c.tenant.display_name,
                inviter,
                done.request.message.customized_body.as_deref(),
                &url,
            );
            let m = Message {
                from: relay.from.clone(),
                to: vec![done.request.email.clone()],
                cc: done.request.message.cc.clone(),
                subject,
                body: text,
                date: chrono::Utc::now().to_rfc2822(),
                message_id: format!(
                    "{}@{}",
                    env.new_id(),
                    relay.from.rsplit('@').next().unwrap_or("castellan")
                ),
            };
            let outcome = relay.send(&m).await;
            if let Err(why) = &outcome {
                tracing::warn!(tenant = %c.tenant.id, user = %done.user.id, "invitation message not delivered: {why}");
            }
            invitations::record_delivery(&mut env, &c.tenant, &done.user, outcome.clone())
                .await
                .map_err(|e| c.err(e))?;
            match outcome {
                Ok(()) => wire::Delivery::Sent,
                Err(why) => wire::Delivery::Failed(why),
            }
        }
        _ => wire::Delivery::NotRequested,
    };
    let id = env.new_id();
    Ok(created(
        format!("{}/invitations/{id}", c.base),
        with_context(
            &c,
            "invitations/$entity",
            wire::render(
                id,
                &done.request,
                &done.user,
                &url,
                done.completed,
                &delivery,
            ),
        ),
    ))
}
