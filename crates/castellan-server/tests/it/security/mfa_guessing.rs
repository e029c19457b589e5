//! Security suite: mfa_guessing.
//!
//! Second-factor codes cannot be guessed at the pages that take them: the authorize MFA
//! challenge, the device-login MFA step and the authenticator-app setup confirmation share one
//! per-user counter in the store (`core::flow::mfa_attempts`: 5 attempts within 15 minutes →
//! a cool-down of 1 min, doubling, capped at 1 h). During a cool-down even a valid code is
//! refused (AADSTS50053, 429 + `Retry-After`); a success resets the counter; an administrator
//! can reset it. Each test has its own user, so the tests run in parallel on the shared server.
//! Positive controls: a valid code before the limit signs in; after an admin reset it does too.

use std::collections::HashMap;

use castellan_core::policy::totp::Totp;
use serde_json::{json, Value};

use super::{assert_denied, assign_role, member_with, role};
use crate::{alias, app_with, shared, G};

const PW: &str = "Guess-Test-Pw1!";
const LIMIT: usize = 5;

/// A cookie-keeping client that never follows redirects, parsing the server's plain forms.
#[derive(Clone)]
pub(crate) struct Browser {
    http: reqwest::Client,
    jar: std::sync::Arc<std::sync::Mutex<HashMap<String, String>>>,
}

/// A response: status, `Retry-After`, `Location`, body.
pub(crate) struct Page {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub body: String,
    /// Every `Set-Cookie` line, as sent.
    pub set_cookies: Vec<String>,
    /// The `Content-Security-Policy` header.
    pub csp: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` inside one tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

impl Page {
    /// The first form's action and hidden fields.
    pub(crate) fn form(&self) -> (String, Vec<(String, String)>) {
        let at = self
            .body
            .find("<form")
            .unwrap_or_else(|| panic!("no form (status {}):\n{}", self.status, self.body));
        let end = self.body[at..]
            .find("</form>")
            .map_or(self.body.len(), |e| at + e);
        let form = &self.body[at..end];
        let action = attr(&form[..form.find('>').unwrap()], "action").unwrap();
        let mut fields = Vec::new();
        for piece in form.split("<input").skip(1) {
            let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
            if tag.contains("type=\"hidden\"") {
                if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                    fields.push((n, v));
                }
            }
        }
        (action, fields)
    }

    /// The AADSTS code shown in the page's alert, if any.
    pub(crate) fn aadsts(&self) -> Option<u32> {
        let i = self.body.find("AADSTS")? + 6;
        let digits: String = self.body[i..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&shared().ca).unwrap())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Default::default(),
        }
    }

    /// Forgets the cookie `name` (a new visit without that session).
    pub(crate) fn forget(&self, name: &str) {
        self.jar.lock().unwrap().remove(name);
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let h = r.headers();
        let set_cookies: Vec<String> = h
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_string())
            .collect();
        {
            let mut jar = self.jar.lock().unwrap();
            for c in h.get_all(reqwest::header::SET_COOKIE) {
                let c = c.to_str().unwrap();
                let pair = c.split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty() || c.contains("Max-Age=0") {
                        jar.remove(k.trim());
                    } else {
                        jar.insert(k.trim().to_string(), v.to_string());
                    }
                }
            }
        }
        let header =
            |n: reqwest::header::HeaderName| h.get(n).map(|v| v.to_str().unwrap().to_string());
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let location = header(reqwest::header::LOCATION);
        let csp = header(reqwest::header::CONTENT_SECURITY_POLICY);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        Page {
            status,
            retry_after,
            location,
            csp,
            content_type,
            body: r.text().await.unwrap(),
            set_cookies,
        }
    }

    pub(crate) async fn get(&self, url: &str) -> Page {
        let r = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// Submits `page`'s form with its hidden fields plus `extra`.
    pub(crate) async fn submit(&self, page: &Page, extra: &[(&str, &str)]) -> Page {
        let (action, mut fields) = page.form();
        for (k, v) in extra {
            fields.retain(|(n, _)| n != k);
            fields.push(((*k).to_string(), (*v).to_string()));
        }
        self.post(&action, &fields).await
    }

    pub(crate) async fn post(&self, action: &str, fields: &[(String, String)]) -> Page {
        self.post_with(action, fields, &[]).await
    }

    /// Submits `page`'s form like [`Self::submit`], with extra request headers (a client that
    /// adds one, e.g. a device assertion).
    pub(crate) async fn submit_with(
        &self,
        page: &Page,
        extra: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let (action, mut fields) = page.form();
        for (k, v) in extra {
            fields.retain(|(n, _)| n != k);
            fields.push(((*k).to_string(), (*v).to_string()));
        }
        self.post_with(&action, &fields, headers).await
    }

    pub(crate) async fn post_with(
        &self,
        action: &str,
        fields: &[(String, String)],
        headers: &[(&str, &str)],
    ) -> Page {
        let url = if action.starts_with("http") {
            action.to_string()
        } else {
            format!("{}{action}", shared().origin)
        };
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::COOKIE, self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.form(fields).send().await.unwrap();
        self.finish(r).await
    }
}

fn tenant() -> String {
    shared().demo["tenant_id"].as_str().unwrap().to_string()
}

fn authorize_url() -> String {
    let d = &shared().demo;
    let cc = &d["confidential_client"];
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", cc["app_id"].as_str().unwrap())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cc["redirect_uri"].as_str().unwrap())
        .append_pair("scope", "openid User.Read")
        .append_pair("state", "s1")
        .finish();
    format!("{}/{}/oauth2/v2.0/authorize?{q}", shared().origin, tenant())
}

/// A new user of the demo tenant: (upn, id).
async fn new_user(g: &G, prefix: &str) -> (String, String) {
    let nick = alias(prefix);
    let upn = format!("{nick}@{}", shared().demo["domain"].as_str().unwrap());
    let (st, u) = g
        .post(
            "/users",
            json!({"accountEnabled": true, "displayName": nick, "mailNickname": nick,
                   "userPrincipalName": upn,
                   "passwordProfile": {"password": PW, "forceChangePasswordNextSignIn": false}}),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    (upn, u["id"].as_str().unwrap().to_string())
}

/// Signs in through the authorize pages with the password (no MFA owed yet): the browser now
/// holds the tenant's SSO session.
async fn password_sign_in(b: &Browser, upn: &str) -> Page {
    let login = b.get(&authorize_url()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    b.submit(&login, &[("username", upn), ("password", PW)])
        .await
}

fn setup_url() -> String {
    format!("{}/{}/mfa/setup", shared().origin, tenant())
}

/// The secret on the setup page.
fn secret_of(page: &Page) -> Totp {
    let i = page.body.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
    let end = page.body[i..].find('<').unwrap() + i;
    Totp::from_base32(&page.body[i..end]).unwrap()
}

fn now() -> castellan_core::Timestamp {
    castellan_server::state::now()
}

/// A code no step near now produces.
fn wrong_code(t: &Totp) -> String {
    let step = t.step(now());
    let near: Vec<String> = (step.saturating_sub(3)..=step + 3)
        .map(|s| t.code_at_step(s))
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The next step's code: valid (±1 window) and newer than any step used so far.
fn next_code(t: &Totp) -> String {
    t.code_at_step(t.step(now()) + 1)
}

/// Registers an authenticator app for `upn` through the setup page (signing in first).
async fn register(upn: &str) -> Totp {
    let b = Browser::new();
    let r = password_sign_in(&b, upn).await;
    assert!(matches!(r.status, 302 | 303 | 200), "{}", r.body);
    let page = b.get(&setup_url()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let totp = secret_of(&page);
    let done = b.submit(&page, &[("code", &totp.code(now()))]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("recovery"), "{}", done.body);
    totp
}

/// A Conditional Access policy requiring MFA of one user (deleted by `drop_policy`).
async fn mfa_policy(g: &G, uid: &str) -> String {
    let (st, p) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("mfa guessing "), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [uid]},
                                  "applications": {"includeApplications": ["All"]},
                                  "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    p["id"].as_str().unwrap().to_string()
}

async fn drop_policy(g: &G, id: &str) {
    g.delete(&format!("/identity/conditionalAccess/policies/{id}"))
        .await;
}

/// Signs in with the password in a fresh browser and lands on the MFA challenge.
async fn challenge(upn: &str) -> (Browser, Page) {
    let b = Browser::new();
    let page = password_sign_in(&b, upn).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"otc\""), "{}", page.body);
    (b, page)
}

/// The user's sign-in records with `code` as their error, waiting for the batch writer.
async fn sign_ins_with(g: &G, uid: &str, code: u32, at_least: usize) -> Vec<Value> {
    let mut found = Vec::new();
    for _ in 0..100 {
        found = g
            .all(&format!("/auditLogs/signIns?$filter=userId eq '{uid}'"))
            .await
            .into_iter()
            .filter(|r| r["status"]["errorCode"] == code)
            .collect();
        if found.len() >= at_least {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    found
}

fn assert_locked(p: &Page) {
    assert_eq!(p.status, 429, "{}", p.body);
    assert_eq!(p.aadsts(), Some(50053), "{}", p.body);
    let secs: i64 = p.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert!(
        p.body.contains("too many verification codes") && p.body.contains("Try again in"),
        "the page names the cause and when to retry: {}",
        p.body
    );
}

#[tokio::test]
async fn sequential_guessing_at_the_authorize_challenge_is_locked_after_five() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfaseq").await;
    let totp = register(&upn).await;
    let policy = mfa_policy(&g, &uid).await;
    let (b, mut page) = challenge(&upn).await;
    let wrong = wrong_code(&totp);
    for i in 0..LIMIT {
        page = b.submit(&page, &[("otc", &wrong)]).await;
        assert_eq!(page.status, 200, "attempt {i}: {}", page.body);
        assert_eq!(page.aadsts(), Some(500121), "attempt {i}: {}", page.body);
    }
    // The sixth is refused without being evaluated — and so is a valid code.
    let sixth = b.submit(&page, &[("otc", &wrong)]).await;
    assert_locked(&sixth);
    let valid = b.submit(&page, &[("otc", &next_code(&totp))]).await;
    assert_locked(&valid);
    // A new session (another browser, a fresh password sign-in) does not reset the counter.
    let (b2, page2) = challenge(&upn).await;
    let again = b2.submit(&page2, &[("otc", &next_code(&totp))]).await;
    assert_locked(&again);
    // The sign-in log shows every failed and refused attempt, with its error code.
    assert!(sign_ins_with(&g, &uid, 500121, LIMIT).await.len() >= LIMIT);
    let refused = sign_ins_with(&g, &uid, 50053, 3).await;
    assert!(refused.len() >= 3, "{refused:?}");
    assert!(refused.iter().all(|r| r["status"]["failureReason"]
        .as_str()
        .unwrap_or("")
        .contains("too many verification codes")));
    drop_policy(&g, &policy).await;
}

#[tokio::test]
async fn a_valid_code_before_the_limit_signs_in() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfaok").await;
    let totp = register(&upn).await;
    let policy = mfa_policy(&g, &uid).await;
    let (b, mut page) = challenge(&upn).await;
    let wrong = wrong_code(&totp);
    for _ in 0..LIMIT - 1 {
        page = b.submit(&page, &[("otc", &wrong)]).await;
        assert_eq!(page.aadsts(), Some(500121), "{}", page.body);
    }
    // Four wrong codes, then the right one: signed in, redirected to the app with a code.
    let ok = b.submit(&page, &[("otc", &next_code(&totp))]).await;
    assert!(matches!(ok.status, 302 | 303), "{} {}", ok.status, ok.body);
    assert!(ok.location.as_deref().unwrap().contains("code="));
    // The success reset the counter: four more wrong codes in a new session are still
    // evaluated (not refused), so the limit is per run of failures, not per lifetime.
    let (b2, mut page2) = challenge(&upn).await;
    if page2.body.contains("name=\"otc\"") {
        for _ in 0..LIMIT - 1 {
            page2 = b2.submit(&page2, &[("otc", &wrong)]).await;
            assert_eq!(page2.aadsts(), Some(500121), "{}", page2.body);
        }
    }
    drop_policy(&g, &policy).await;
}

#[tokio::test]
async fn thirty_parallel_wrong_codes_are_evaluated_at_most_five_times() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfapar").await;
    let totp = register(&upn).await;
    let policy = mfa_policy(&g, &uid).await;
    let (b, page) = challenge(&upn).await;
    let (action, fields) = page.form();
    let wrong = wrong_code(&totp);
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let b = b.clone();
        let action = action.clone();
        let mut f = fields.clone();
        f.push(("otc".into(), wrong.clone()));
        tasks.push(tokio::spawn(async move {
            let p = b.post(&action, &f).await;
            (p.status, p.aadsts())
        }));
    }
    let mut evaluated = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, Some(500121)) => evaluated += 1,
            (429, Some(50053)) => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(evaluated <= LIMIT, "{evaluated} codes were evaluated");
    assert_eq!(
        evaluated, LIMIT,
        "each counted attempt is evaluated; the rest are refused"
    );
    assert_eq!(evaluated + refused, 30);
    assert!(refused >= 30 - LIMIT);
    // Locked now, even for the right code.
    let valid = b.submit(&page, &[("otc", &next_code(&totp))]).await;
    assert_locked(&valid);
    // Every one of them is in the sign-in log: 5 wrong codes, 25 + 1 refusals.
    assert_eq!(sign_ins_with(&g, &uid, 500121, LIMIT).await.len(), LIMIT);
    assert_eq!(sign_ins_with(&g, &uid, 50053, 26).await.len(), 26);
    drop_policy(&g, &policy).await;
}

#[tokio::test]
async fn an_administrator_reset_lets_the_user_in_and_is_authorised_and_audited() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfarst").await;
    let totp = register(&upn).await;
    let policy = mfa_policy(&g, &uid).await;
    let (b, mut page) = challenge(&upn).await;
    let wrong = wrong_code(&totp);
    for _ in 0..LIMIT {
        page = b.submit(&page, &[("otc", &wrong)]).await;
    }
    let code = next_code(&totp);
    assert_locked(&b.submit(&page, &[("otc", &code)]).await);
    // A reader may not reset; neither may an app without the permission.
    let path = format!("/users/{uid}/authentication/resetMfaAttempts");
    let reader = app_with(&["UserAuthenticationMethod.Read.All"]).await;
    let (st, e) = reader.post(&path, json!({})).await;
    assert_eq!(st, 403, "{e}");
    let other = app_with(&["User.ReadWrite.All"]).await;
    assert_eq!(other.post(&path, json!({})).await.0, 403);
    assert_locked(&b.submit(&page, &[("otc", &code)]).await);
    // An administrator (here: an app holding UserAuthenticationMethod.ReadWrite.All; the
    // directory-role rules are core's `may_reset_mfa_attempts`, unit-tested there) resets it.
    let admin = app_with(&["UserAuthenticationMethod.ReadWrite.All"]).await;
    let (st, v) = admin.post(&path, json!({})).await;
    assert_eq!(st, 204, "{v}");
    // The same valid code, refused during the cool-down (so never evaluated), now signs in.
    let ok = b.submit(&page, &[("otc", &code)]).await;
    assert!(matches!(ok.status, 302 | 303), "{} {}", ok.status, ok.body);
    assert!(ok.location.as_deref().unwrap().contains("code="));
    // The reset is audited.
    let audits = g.all("/auditLogs/directoryAudits?$top=999").await;
    assert!(
        audits
            .iter()
            .any(|a| a["activityDisplayName"] == "Reset MFA attempts"
                && a.to_string().contains(&uid)),
        "no audit record for the reset"
    );
    // Unknown users are named.
    let (st, _) = admin
        .post(
            &format!(
                "/users/{}/authentication/resetMfaAttempts",
                uuid::Uuid::new_v4()
            ),
            json!({}),
        )
        .await;
    assert_eq!(st, 404);
    drop_policy(&g, &policy).await;
}

/// Starts a device-code flow for the demo public client and signs in at `/devicelogin` with
/// the password, landing on the MFA step.
async fn device_challenge(upn: &str) -> (Browser, Page, String) {
    let d = &shared().demo;
    let r = crate::http()
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            shared().origin,
            tenant()
        ))
        .form(&[
            ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let user_code = v["user_code"].as_str().unwrap().to_string();
    let device_code = v["device_code"].as_str().unwrap().to_string();
    let b = Browser::new();
    let entry = b.get(&format!("{}/devicelogin", shared().origin)).await;
    let login = b.submit(&entry, &[("code", &user_code)]).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let mfa = b
        .submit(&login, &[("username", upn), ("password", PW)])
        .await;
    assert_eq!(mfa.status, 200, "{}", mfa.body);
    assert!(mfa.body.contains("name=\"otc\""), "{}", mfa.body);
    (b, mfa, device_code)
}

#[tokio::test]
async fn the_device_login_mfa_step_shares_the_limit() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfadev").await;
    let totp = register(&upn).await;
    let policy = mfa_policy(&g, &uid).await;
    let wrong = wrong_code(&totp);
    // Three wrong codes at the authorize challenge ...
    let (b, mut page) = challenge(&upn).await;
    for _ in 0..3 {
        page = b.submit(&page, &[("otc", &wrong)]).await;
        assert_eq!(page.aadsts(), Some(500121));
    }
    // ... and two at the device-login page: the same per-user counter.
    let (d, mut dpage, _) = device_challenge(&upn).await;
    for i in 0..2 {
        dpage = d.submit(&dpage, &[("otc", &wrong)]).await;
        assert_eq!(dpage.status, 200, "{i}: {}", dpage.body);
        assert_eq!(dpage.aadsts(), Some(500121), "{i}: {}", dpage.body);
    }
    let valid = d.submit(&dpage, &[("otc", &next_code(&totp))]).await;
    assert_locked(&valid);
    assert!(!sign_ins_with(&g, &uid, 50053, 1).await.is_empty());
    // After the administrator's reset the device sign-in completes with the same code.
    let admin = app_with(&["UserAuthenticationMethod.ReadWrite.All"]).await;
    let path = format!("/users/{uid}/authentication/resetMfaAttempts");
    assert_eq!(admin.post(&path, json!({})).await.0, 204);
    let ok = d.submit(&dpage, &[("otc", &next_code(&totp))]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("signed in"), "{}", ok.body);
    drop_policy(&g, &policy).await;
}

#[tokio::test]
async fn guessing_the_setup_confirmation_code_is_limited() {
    let g = G::demo().await;
    let (upn, uid) = new_user(&g, "mfaset").await;
    let b = Browser::new();
    password_sign_in(&b, &upn).await;
    let mut page = b.get(&setup_url()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let totp = secret_of(&page);
    let wrong = wrong_code(&totp);
    for i in 0..LIMIT {
        page = b.submit(&page, &[("code", &wrong)]).await;
        assert_eq!(page.status, 200, "{i}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    let locked = b.submit(&page, &[("code", &totp.code(now()))]).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.body.contains("AADSTS50053"), "{}", locked.body);
    assert!(locked.retry_after.is_some());
    // The attempts are in the sign-in log.
    assert!(sign_ins_with(&g, &uid, 500121, LIMIT).await.len() >= LIMIT);
    assert!(!sign_ins_with(&g, &uid, 50053, 1).await.is_empty());
    // After a reset the valid code confirms the registration.
    let admin = app_with(&["UserAuthenticationMethod.ReadWrite.All"]).await;
    let path = format!("/users/{uid}/authentication/resetMfaAttempts");
    assert_eq!(admin.post(&path, json!({})).await.0, 204);
    let done = b.submit(&locked, &[("code", &totp.code(now()))]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("recovery"), "{}", done.body);
}

#[tokio::test]
async fn only_authentication_administrators_reset_and_never_their_own_lock() {
    let scopes = &["UserAuthenticationMethod.ReadWrite.All"];
    let g = G::demo().await;
    let path = |id: &str| format!("/users/{id}/authentication/resetMfaAttempts");
    let (_, plain) = new_user(&g, "mfatgt").await;
    let (_, privileged) = new_user(&g, "mfatga").await;
    assign_role(&privileged, role::USER_ADMIN).await;
    // A member without a role, even with the scope consented, may not.
    let (member, _) = member_with(scopes).await;
    let (st, e) = member.post(&path(&plain), json!({})).await;
    assert_denied(st, &e, "Authentication Administrator");
    // An Authentication Administrator resets users without a role, not administrators, and
    // never their own lock.
    let (aa, aa_id) = member_with(scopes).await;
    assign_role(&aa_id, role::AUTHENTICATION_ADMIN).await;
    assert_eq!(aa.post(&path(&plain), json!({})).await.0, 204);
    let (st, e) = aa.post(&path(&privileged), json!({})).await;
    assert_denied(st, &e, "Privileged Authentication Administrator");
    let (st, e) = aa.post(&path(&aa_id), json!({})).await;
    assert_denied(st, &e, "your own MFA attempts");
    // A Privileged Authentication Administrator resets the administrator too.
    let (paa, paa_id) = member_with(scopes).await;
    assign_role(&paa_id, role::PRIVILEGED_AUTHENTICATION_ADMIN).await;
    assert_eq!(paa.post(&path(&privileged), json!({})).await.0, 204);
}
