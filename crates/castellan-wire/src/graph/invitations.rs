//! `microsoft.graph.invitation`: the `POST /invitations` body and Graph's answer.

use castellan_core::invitations::{InviteRequest, MessageInfo};
use castellan_core::model::UserType;
use castellan_core::ops::Field;
use castellan_core::ObjectId;
use serde_json::{json, Map, Value};

use super::{bool_field, check_object, str_field};
use crate::errors::GraphError;

/// Properties a client may send.
pub const WRITABLE: &[&str] = &[
    "invitedUserEmailAddress",
    "inviteRedirectUrl",
    "invitedUserDisplayName",
    "invitedUserType",
    "sendInvitationMessage",
    "invitedUserMessageInfo",
    "resetRedemption",
    "invitedUser",
];
/// Read-only properties (refused by name).
pub const READ_ONLY: &[&str] = &["id", "inviteRedeemUrl", "status", "invitedUserSponsors"];

fn text(o: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    Ok(match str_field(o, name)? {
        Field::Value(s) => Some(s),
        _ => None,
    })
}

fn object<'a>(
    o: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, GraphError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{name}': expected an object."
        ))),
    }
}

fn only(o: &Map<String, Value>, what: &str, allowed: &[&str]) -> Result<(), GraphError> {
    match o
        .keys()
        .find(|k| !k.starts_with("@odata.") && !allowed.contains(&k.as_str()))
    {
        Some(k) => Err(GraphError::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.{what}'."
        ))),
        None => Ok(()),
    }
}

fn message(o: &Map<String, Value>) -> Result<MessageInfo, GraphError> {
    let Some(m) = object(o, "invitedUserMessageInfo")? else {
        return Ok(MessageInfo::default());
    };
    only(
        m,
        "invitedUserMessageInfo",
        &["customizedMessageBody", "ccRecipients", "messageLanguage"],
    )?;
    let mut cc = Vec::new();
    match m.get("ccRecipients") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for r in list {
                let addr = r
                    .get("emailAddress")
                    .and_then(|e| e.get("address"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        GraphError::bad_request(
                            "invitedUserMessageInfo.ccRecipients: each entry is {\"emailAddress\": {\"address\": \"name@domain\"}}.",
                        )
                    })?;
                cc.push(addr.to_string());
            }
        }
        Some(_) => {
            return Err(GraphError::bad_request(
                "invitedUserMessageInfo.ccRecipients must be an array of recipients.",
            ))
        }
    }
    Ok(MessageInfo {
        customized_body: text(m, "customizedMessageBody")?,
        cc,
        language: text(m, "messageLanguage")?,
    })
}

/// Parses a `POST /invitations` body.
pub fn parse(body: &Value) -> Result<InviteRequest, GraphError> {
    let o = check_object(body, "invitation", WRITABLE, READ_ONLY)?;
    let email = text(o, "invitedUserEmailAddress")?.ok_or_else(|| {
        GraphError::bad_request(
            "Property 'invitedUserEmailAddress' is required: the address to invite.",
        )
    })?;
    let user_type = match text(o, "invitedUserType")? {
        None => None,
        Some(s) => Some(UserType::parse(&s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "Invalid value '{s}' for property 'invitedUserType': use 'Guest' or 'Member'."
            ))
        })?),
    };
    let invited_user_id = match object(o, "invitedUser")? {
        None => None,
        Some(u) => match u.get("id").and_then(Value::as_str) {
            None => None,
            Some(id) => Some(ObjectId::parse(id).ok_or_else(|| {
                GraphError::bad_request(format!("invitedUser.id '{id}' is not an object id."))
            })?),
        },
    };
    Ok(InviteRequest {
        email,
        redirect_url: text(o, "inviteRedirectUrl")?.unwrap_or_default(),
        display_name: text(o, "invitedUserDisplayName")?,
        user_type,
        send_message: bool_field(o, "sendInvitationMessage")?
            .value()
            .copied()
            .unwrap_or(false),
        message: message(o)?,
        reset_redemption: bool_field(o, "resetRedemption")?
            .value()
            .copied()
            .unwrap_or(false),
        invited_user_id,
    })
}

/// How the invitation message went (Castellan's `@castellan.invitationMessage` annotation;
/// Graph has no property for it, and clients ignore instance annotations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `sendInvitationMessage` was false.
    NotRequested,
    /// The relay accepted the message.
    Sent,
    /// The relay could not be reached or refused it: the reason.
    Failed(String),
}

/// Graph's invitation.
pub fn render(
    id: ObjectId,
    r: &InviteRequest,
    user: &castellan_core::model::User,
    redeem_url: &str,
    completed: bool,
    delivery: &Delivery,
) -> Value {
    let mut v = json!({
        "id": id.to_string(),
        "inviteRedeemUrl": redeem_url,
        "invitedUserDisplayName": user.display_name,
        "invitedUserType": user.user_type.as_str(),
        "invitedUserEmailAddress": r.email,
        "sendInvitationMessage": r.send_message,
        "resetRedemption": r.reset_redemption,
        "inviteRedirectUrl": r.redirect_url,
        "status": if completed { "Completed" } else { "PendingAcceptance" },
        "invitedUserMessageInfo": {
            "messageLanguage": r.message.language,
            "ccRecipients": r.message.cc.iter().map(|a| json!({"emailAddress": {"name": null, "address": a}})).collect::<Vec<_>>(),
            "customizedMessageBody": r.message.customized_body,
        },
        "invitedUser": {"id": user.id.to_string()},
    });
    let note = match delivery {
        Delivery::NotRequested => None,
        Delivery::Sent => Some("sent".to_string()),
        Delivery::Failed(why) => Some(format!("not sent: {why}")),
    };
    if let (Some(n), Some(o)) = (note, v.as_object_mut()) {
        o.insert("@castellan.invitationMessage".into(), json!(n));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entras_body_and_refuses_unknown_or_read_only_properties() {
        let r = parse(&json!({
            "invitedUserEmailAddress": "alice@contoso.com",
            "inviteRedirectUrl": "https://app.example",
            "sendInvitationMessage": true,
            "invitedUserMessageInfo": {
                "customizedMessageBody": "Welcome",
                "ccRecipients": [{"emailAddress": {"address": "boss@fabrikam.com"}}],
                "messageLanguage": "en-US"
            },
            "invitedUser": {"id": "8f2c5b6e-1111-2222-3333-444455556666"},
            "resetRedemption": true,
            "invitedUserType": "guest"
        }))
        .unwrap();
        assert_eq!(r.email, "alice@contoso.com");
        assert!(r.send_message && r.reset_redemption);
        assert_eq!(r.message.cc, vec!["boss@fabrikam.com".to_string()]);
        assert_eq!(r.message.customized_body.as_deref(), Some("Welcome"));
        assert_eq!(r.user_type, Some(UserType::Guest));
        assert!(r.invited_user_id.is_some());
        for bad in [
            json!({"inviteRedirectUrl": "https://x.y"}),
            json!({"invitedUserEmailAddress": "a@b.c", "status": "Completed"}),
            json!({"invitedUserEmailAddress": "a@b.c", "bogus": 1}),
            json!({"invitedUserEmailAddress": "a@b.c", "invitedUserType": "Owner"}),
            json!({"invitedUserEmailAddress": "a@b.c", "invitedUserMessageInfo": {"cc": []}}),
            json!({"invitedUserEmailAddress": "a@b.c", "invitedUserMessageInfo": {"ccRecipients": ["x"]}}),
            json!({"invitedUserEmailAddress": "a@b.c", "invitedUser": {"id": "nope"}}),
            json!([1]),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
