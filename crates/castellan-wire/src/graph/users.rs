//! `microsoft.graph.user`.

use castellan_core::model::{User, UserType};
use castellan_core::ops::users::UserInput;
use castellan_core::ops::Field;
use serde_json::{json, Value};

use super::{bool_field, check_object, opt, str_field, strings_field};
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// Properties clients may set.
pub const WRITABLE: &[&str] = &[
    "displayName",
    "userPrincipalName",
    "mailNickname",
    "mail",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "officeLocation",
    "companyName",
    "employeeId",
    "accountEnabled",
    "userType",
    "passwordProfile",
    "otherMails",
    "usageLocation",
];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "creationType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "identities",
];
/// Every rendered property (for `$select` and `$filter`).
pub const PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "userPrincipalName",
    "mailNickname",
    "mail",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "officeLocation",
    "companyName",
    "employeeId",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "businessPhones",
    "mobilePhone",
    "preferredLanguage",
    "otherMails",
    "usageLocation",
    "creationType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "identities",
    "assignedLicenses",
    "assignedPlans",
    "licenseAssignmentStates",
];

/// The licence properties: rendered only when `$select` names one (as Graph leaves them out of
/// the default set), by [`licence_properties`].
pub const LICENSE_PROPERTIES: &[&str] = &[
    "assignedLicenses",
    "assignedPlans",
    "licenseAssignmentStates",
];

/// Renders a user.
pub fn render(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": u.id.to_string(),
        "displayName": u.display_name,
        "userPrincipalName": u.user_principal_name,
        "mailNickname": opt(&u.mail_nickname),
        "mail": opt(&u.mail),
        "givenName": opt(&u.given_name),
        "surname": opt(&u.surname),
        "jobTitle": opt(&u.job_title),
        "department": opt(&u.department),
        "officeLocation": opt(&u.office_location),
        "companyName": opt(&u.company_name),
        "employeeId": opt(&u.employee_id),
        "accountEnabled": u.account_enabled,
        "userType": u.user_type.as_str(),
        "createdDateTime": graph_datetime(u.created),
        "businessPhones": [],
        "mobilePhone": null,
        "preferredLanguage": null,
        "otherMails": u.other_mails,
        "usageLocation": opt(&u.usage_location),
        "creationType": if u.external.is_some() { json!("Invitation") } else { Value::Null },
        "externalUserState": u.external.as_ref().map(|e| e.state.as_str()),
        "externalUserStateChangeDateTime": u.external.as_ref().map(|e| graph_datetime(e.state_changed)),
        "identities": identities(u),
    })
}

/// `identities`: the user principal name issued by the tenant, then (for a guest) the
/// identities its redemption recorded.
fn identities(u: &User) -> Value {
    let issuer = u
        .user_principal_name
        .rsplit_once('@')
        .map_or("", |(_, d)| d);
    let mut all = vec![json!({
        "signInType": "userPrincipalName",
        "issuer": issuer,
        "issuerAssignedId": u.user_principal_name,
    })];
    if let Some(e) = &u.external {
        all.extend(e.identities.iter().map(|i| {
            json!({
                "signInType": i.sign_in_type,
                "issuer": i.issuer,
                "issuerAssignedId": i.issuer_assigned_id,
            })
        }));
    }
    Value::Array(all)
}

/// Parses a create or PATCH body.
pub fn parse(body: &Value) -> Result<UserInput, GraphError> {
    let o = check_object(body, "user", WRITABLE, READ_ONLY)?;
    let user_type = match str_field(o, "userType")? {
        Field::Value(s) => Field::Value(UserType::parse(&s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "Invalid value '{s}' for property 'userType': use 'Member' or 'Guest'."
            ))
        })?),
        Field::Null => Field::Null,
        Field::Absent => Field::Absent,
    };
    let (mut password, mut force) = (Field::Absent, Field::Absent);
    match o.get("passwordProfile") {
        None => {}
        Some(Value::Object(p)) => {
            for k in p.keys() {
                if !["password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"].contains(&k.as_str()) && !k.starts_with("@odata.") {
                    return Err(GraphError::bad_request(format!("Property '{k}' does not exist on type 'microsoft.graph.passwordProfile'.")));
                }
            }
            password = str_field(p, "password")?;
            force = bool_field(p, "forceChangePasswordNextSignIn")?;
        }
        Some(_) => return Err(GraphError::bad_request("Invalid value for property 'passwordProfile': expected an object {password, forceChangePasswordNextSignIn}.")),
    }
    Ok(UserInput {
        display_name: str_field(o, "displayName")?,
        user_principal_name: str_field(o, "userPrincipalName")?,
        mail_nickname: str_field(o, "mailNickname")?,
        mail: str_field(o, "mail")?,
        given_name: str_field(o, "givenName")?,
        surname: str_field(o, "surname")?,
        job_title: str_field(o, "jobTitle")?,
        department: str_field(o, "department")?,
        office_location: str_field(o, "officeLocation")?,
        company_name: str_field(o, "companyName")?,
        employee_id: str_field(o, "employeeId")?,
        account_enabled: bool_field(o, "accountEnabled")?,
        user_type,
        password,
        force_change_password_next_sign_in: force,
        other_mails: strings_field(o, "otherMails")?,
        usage_location: str_field(o, "usageLocation")?,
    })
}
