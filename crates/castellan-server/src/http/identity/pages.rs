//! Server-rendered sign-in pages: plain HTML forms that work without JavaScript, labelled
//! fields, errors announced to screen readers (`role="alert"`), every value escaped.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f3f3f3;margin:0;color:#1b1b1b}\
main{max-width:26rem;margin:8vh auto;background:#fff;padding:2rem 2.5rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-size:1.5rem;font-weight:600;margin:.2rem 0 1rem}.brand{font-weight:600;color:#555;letter-spacing:.05em}\
label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #767676}\
input:focus,button:focus{outline:2px solid #0067b8;outline-offset:1px}\
button{margin-top:1.2rem;padding:.5rem 1.4rem;font-size:1rem;border:0;background:#0067b8;color:#fff;cursor:pointer}\
button.secondary{background:#e1e1e1;color:#1b1b1b;margin-left:.5rem}\
.error{border-left:4px solid #a4262c;background:#fde7e9;padding:.6rem .8rem;margin:.8rem 0}.muted{color:#555;font-size:.9rem}\
.check{display:flex;gap:.5rem;align-items:center;margin-top:.8rem}.check label{margin:0}code{font-size:1.05rem}";

/// Wraps a body in the page chrome, with no caching and no framing.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main><div class=\"brand\">Castellan</div>{body}</main></body></html>",
        esc(title)
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'; script-src 'unsafe-inline'"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

fn error_box(error: Option<(u32, &str)>) -> String {
    error.map_or_else(String::new, |(code, msg)| {
        format!(
            "<div class=\"error\" role=\"alert\" id=\"error\"><p>{}</p><p class=\"muted\">Error code: AADSTS{code}</p></div>",
            esc(msg)
        )
    })
}

fn hidden(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect()
}

/// What the sign-in page shows.
pub struct Login<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The application's name.
    pub app_name: &'a str,
    /// Prefilled user name.
    pub username: &'a str,
    /// An error from the last attempt.
    pub error: Option<(u32, &'a str)>,
    /// Hidden fields (ctx, csrf).
    pub hidden: &'a [(&'a str, &'a str)],
    /// Offer "stay signed in" (not for device login).
    pub kmsi: bool,
    /// Offer a "Decline" button (device login).
    pub decline: bool,
}

/// The sign-in page.
pub fn login(l: &Login<'_>) -> Response {
    let kmsi = if l.kmsi {
        "<div class=\"check\"><input type=\"checkbox\" id=\"kmsi\" name=\"kmsi\" value=\"1\"><label for=\"kmsi\">Stay signed in</label></div>"
    } else {
        ""
    };
    let decline = if l.decline {
        "<button type=\"submit\" name=\"decline\" value=\"1\" class=\"secondary\" formnovalidate>Decline</button>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Sign in</h1><p class=\"muted\">to continue to <strong id=\"app-name\">{app}</strong></p>{err}\
<form method=\"post\" action=\"{action}\">{hidden}\
<label for=\"username\">Email or user name</label><input type=\"email\" id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
{kmsi}<button type=\"submit\" id=\"submit\">Sign in</button>{decline}</form>",
        app = esc(l.app_name),
        err = error_box(l.error),
        action = esc(l.action),
        hidden = hidden(l.hidden),
        user = esc(l.username),
    );
    page(StatusCode::OK, "Sign in", &body)
}

/// The change-password page (AADSTS50055).
pub fn change_password(
    action: &str,
    username: &str,
    error: Option<(u32, &str)>,
    fields: &[(&str, &str)],
) -> Response {
    let body = format!(
        "<h1>Update your password</h1><p class=\"muted\">You need to update your password because this is the first time you are signing in, or because your password has expired.</p>{err}\
<form method=\"post\" action=\"{action}\">{hidden}<input type=\"hidden\" name=\"username\" value=\"{user}\">\
<p>Account: <strong>{user}</strong></p>\
<label for=\"current\">Current password</label><input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required>\
<label for=\"new\">New password</label><input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" required>\
<label for=\"confirm\">Confirm new password</label><input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" required>\
<button type=\"submit\" id=\"submit\">Update password and sign in</button></form>",
        err = error_box(error),
        action = esc(action),
        hidden = hidden(fields),
        user = esc(username),
    );
    page(StatusCode::OK, "Update your password", &body)
}

/// What the consent page shows.
pub struct Consent<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The application's name.
    pub app_name: &'a str,
    /// The publisher (the app's home tenant domain).
    pub publisher: &'a str,
    /// (permission value, description) pairs.
    pub permissions: &'a [(String, String)],
    /// Why the user cannot accept (shown as AADSTS90094), if so.
    pub blocked: Option<&'a str>,
    /// Offer "Consent on behalf of your organization".
    pub admin: bool,
    /// Offer "Request approval" (admin consent workflow) when blocked.
    pub request_approval: bool,
    /// Hidden fields (ctx, csrf).
    pub hidden: &'a [(&'a str, &'a str)],
}

/// The consent page.
pub fn consent(c: &Consent<'_>) -> Response {
    let items: String = c
        .permissions
        .iter()
        .map(|(v, d)| {
            format!(
                "<li><strong>{}</strong><br><span class=\"muted\">{}</span></li>",
                esc(d),
                esc(v)
            )
        })
        .collect();
    let blocked = c.blocked.map_or_else(String::new, |b| {
        format!("<div class=\"error\" role=\"alert\" id=\"error\"><p><strong>Need admin approval</strong>: {}</p><p class=\"muted\">Error code: AADSTS90094</p></div>", esc(b))
    });
    let org = if c.admin {
        "<div class=\"check\"><input type=\"checkbox\" id=\"tenant_wide\" name=\"tenant_wide\" value=\"1\"><label for=\"tenant_wide\">Consent on behalf of your organization</label></div>"
    } else {
        ""
    };
    let accept = if c.blocked.is_none() {
        "<button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>"
    } else if c.request_approval {
        "<label for=\"reason\">Justification for requesting access</label><input type=\"text\" id=\"reason\" name=\"reason\" maxlength=\"1000\"><button type=\"submit\" name=\"decision\" value=\"request\" id=\"request\">Request approval</button>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Permissions requested</h1><p><strong id=\"app-name\">{app}</strong><br><span class=\"muted\">{publisher} — unverified publisher</span></p>{blocked}\
<p>This app would like to:</p><ul id=\"permissions\">{items}</ul>\
<p class=\"muted\">Accepting lets this app use your data as described. You can remove these permissions later.</p>\
<form method=\"post\" action=\"{action}\">{hidden}{org}{accept}<button type=\"submit\" name=\"decision\" value=\"decline\" class=\"secondary\" id=\"decline\">Cancel</button></form>",
        app = esc(c.app_name),
        publisher = esc(c.publisher),
        action = esc(c.action),
        hidden = hidden(c.hidden),
    );
    page(StatusCode::OK, "Permissions requested", &body)
}

/// A terminal error page (nothing to redirect to).
pub fn error(status: StatusCode, code: u32, message: &str, cid: &str) -> Response {
    let body = format!(
        "<h1>Sorry, but we're having trouble signing you in.</h1><div class=\"error\" role=\"alert\" id=\"error\"><p><strong>AADSTS{code}</strong>: {}</p></div><p class=\"muted\">Correlation ID: {}</p>",
        esc(message),
        esc(cid)
    );
    page(status, "Sign-in error", &body)
}

/// An informational page.
pub fn info(title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p id=\"message\">{}</p>",
        esc(title),
        esc(message)
    );
    page(StatusCode::OK, title, &body)
}

/// `response_mode=form_post`: a form that posts the response to the redirect URI (submitted by
/// script when available, by the button otherwise).
pub fn form_post(redirect_uri: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let body = format!(
        "<h1>Signing you in…</h1><form method=\"post\" action=\"{}\">{inputs}<noscript><p>Script is disabled: press Continue.</p></noscript><button type=\"submit\">Continue</button></form><script>document.forms[0].submit()</script>",
        esc(redirect_uri)
    );
    page(StatusCode::OK, "Working…", &body)
}

/// The device-login code entry page.
pub fn device_code(action: &str, csrf: &str, error: Option<(u32, &str)>, typed: &str) -> Response {
    let body = format!(
        "<h1>Enter code</h1><p class=\"muted\">Enter the code displayed on your app or device.</p>{err}\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"code\">Code</label><input type=\"text\" id=\"code\" name=\"code\" value=\"{typed}\" autocomplete=\"one-time-code\" autocapitalize=\"characters\" required autofocus>\
<button type=\"submit\" id=\"submit\">Next</button></form>",
        err = error_box(error),
        action = esc(action),
        csrf = esc(csrf),
        typed = esc(typed),
    );
    page(StatusCode::OK, "Enter code", &body)
}

/// The enrollment pages run no script at all and load nothing: the QR code is inline SVG.
const MFA_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn mfa_page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut r = page(status, title, body);
    r.headers_mut()
        .insert("content-security-policy", HeaderValue::from_static(MFA_CSP));
    r
}

/// A QR code for `data` as inline SVG (one `<path>` of dark modules, 4-module quiet zone), or
/// nothing when the data does not fit a QR code.
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
        return String::new();
    };
    let w = code.width();
    let size = w + 8;
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            d.push_str(&format!("M{} {}h1v1h-1z", i % w + 4, i / w + 4));
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"qr\" role=\"img\" aria-label=\"QR code of the setup link below\" viewBox=\"0 0 {size} {size}\" width=\"220\" height=\"220\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{d}\"/></svg>"
    )
}

/// What the authenticator-app registration page shows.
pub struct MfaSetup<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The signed-in user.
    pub upn: &'a str,
    /// The `otpauth://` URI.
    pub otpauth_uri: &'a str,
    /// The Base32 secret, for typing in by hand.
    pub secret: &'a str,
    /// The pending method's id.
    pub method_id: &'a str,
    /// The anti-forgery token.
    pub csrf: &'a str,
    /// What was wrong with the last code.
    pub error: Option<&'a str>,
}

/// Step 1: scan the QR code (or type the key), enter the code the app shows.
pub fn mfa_setup(m: &MfaSetup<'_>) -> Response {
    let err = m.error.map_or_else(String::new, |e| {
        format!(
            "<div class=\"error\" role=\"alert\" id=\"error\"><p>{}</p></div>",
            esc(e)
        )
    });
    let body = format!(
        "<h1>Set up your authenticator app</h1><p class=\"muted\">Signed in as <strong id=\"upn\">{upn}</strong></p>{err}\
<p>1. In your authenticator app, add an account and scan this QR code.</p>{qr}\
<p class=\"muted\">Can't scan? Enter this key: <code id=\"secret\">{secret}</code></p>\
<p class=\"muted\">Setup link: <a id=\"otpauth\" href=\"{uri}\">{uri}</a></p>\
<p>2. Enter the 6-digit code the app shows.</p>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"method\" value=\"{method}\">\
<label for=\"code\">Verification code</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9 ]*\" maxlength=\"10\" autocomplete=\"one-time-code\" required autofocus{invalid}>\
<button type=\"submit\" id=\"submit\">Verify</button></form>",
        upn = esc(m.upn),
        qr = qr_svg(m.otpauth_uri),
        secret = esc(m.secret),
        uri = esc(m.otpauth_uri),
        action = esc(m.action),
        csrf = esc(m.csrf),
        method = esc(m.method_id),
        invalid = if m.error.is_some() {
            " aria-invalid=\"true\" aria-describedby=\"error\""
        } else {
            ""
        },
    );
    mfa_page(StatusCode::OK, "Set up your authenticator app", &body)
}

/// Step 2: registered; the recovery codes, shown this once.
pub fn mfa_done(codes: &[String]) -> Response {
    let items: String = codes
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", esc(c)))
        .collect();
    let body = format!(
        "<h1>Authenticator app registered</h1><p id=\"message\" role=\"status\">Your authenticator app is set up. Sign-ins that require multi-factor authentication will ask for its code.</p>\
<h2>Recovery codes</h2><p>Each code works once if you lose your device. Save them somewhere safe now: <strong>they will not be shown again</strong>.</p><ul id=\"recovery-codes\">{items}</ul>"
    );
    mfa_page(StatusCode::OK, "Authenticator app registered", &body)
}

/// The enrollment page without a session (or with an error that ends the attempt).
pub fn mfa_message(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><div class=\"error\" role=\"alert\" id=\"error\"><p>{}</p></div>",
        esc(title),
        esc(message)
    );
    mfa_page(status, title, &body)
}

/// The MFA challenge page (Conditional Access asked for MFA; the user has an authenticator app).
pub fn mfa_challenge(
    action: &str,
    fields: &[(&str, &str)],
    app_name: &str,
    error: Option<(u32, &str)>,
) -> Response {
    let body = format!(
        "<h1>Verify your identity</h1><p class=\"muted\">Your organization requires multifactor authentication to continue to <strong>{app}</strong>. Enter the 6-digit code from your authenticator app.</p>{err}\
<form method=\"post\" action=\"{action}\">{hidden}\
<label for=\"otc\">Code</label><input type=\"text\" id=\"otc\" name=\"otc\" inputmode=\"numeric\" pattern=\"[0-9]{{6,8}}\" autocomplete=\"one-time-code\" required autofocus>\
<button type=\"submit\" id=\"verify\">Verify</button></form>",
        app = esc(app_name),
        err = error_box(error),
        action = esc(action),
        hidden = hidden(fields),
    );
    page(StatusCode::OK, "Verify your identity", &body)
}

/// A second-factor refusal that says when to come back (too many verification codes,
/// AADSTS50053): 429 with `Retry-After` in seconds (RFC 9110 §10.2.3, RFC 6585 §4).
pub fn too_many_attempts(mut r: Response, retry_after_secs: i64) -> Response {
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs.max(1)),
    );
    r
}

/// MFA is required but the user has no method yet (AADSTS50079): where to register one.
pub fn mfa_register(setup_url: &str, message: &str, cid: &str) -> Response {
    let body = format!(
        "<h1>More information required</h1><div class=\"error\" role=\"alert\">AADSTS50079: {msg}</div>\
<p>Set up an authenticator app at <a id=\"mfa-setup\" href=\"{url}\">{url}</a>, then sign in again.</p><p class=\"muted\">Correlation ID: {cid}</p>",
        msg = esc(message),
        url = esc(setup_url),
        cid = esc(cid),
    );
    page(StatusCode::FORBIDDEN, "More information required", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_inline_svg_without_script() {
        let svg = qr_svg("otpauth://totp/Castellan:a%40b?secret=ABCDEFGHIJKLMNOP&issuer=Castellan");
        assert!(svg.starts_with("<svg") && svg.contains("<path"));
        assert!(!svg.contains("script"));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
