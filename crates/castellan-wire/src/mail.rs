//! Mail bytes: the invitation and passcode messages (RFC 5322, a base64 `text/plain` UTF-8
//! body so any relay carries them without `8BITMIME`; non-ASCII subjects as RFC 2047 words)
//! and the SMTP reply parser (RFC 5321 §4.2: `250-…` continues, `250 …` ends). Addresses are
//! checked before they reach a header: CR, LF and the characters that would break out of an
//! address are refused, so no header can be injected.

use base64::Engine as _;

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `From` (the relay's envelope sender as well).
    pub from: String,
    /// `To`.
    pub to: Vec<String>,
    /// `Cc`.
    pub cc: Vec<String>,
    /// `Subject`.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// `Date` (RFC 5322 form).
    pub date: String,
    /// `Message-ID` (without the angle brackets).
    pub message_id: String,
}

/// Whether `a` may go into an address header and an SMTP `MAIL FROM`/`RCPT TO`.
pub fn address_ok(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 320
        && a.contains('@')
        && a.chars()
            .all(|c| c.is_ascii_graphic() && !"<>,;:\"()[]\\".contains(c))
}

fn header_text(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        clean
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
        )
    }
}

impl Message {
    /// Every recipient (`To` then `Cc`) for the envelope.
    pub fn recipients(&self) -> impl Iterator<Item = &String> {
        self.to.iter().chain(self.cc.iter())
    }

    /// The message bytes (CRLF line ends, ready for `DATA` after dot-stuffing — the base64
    /// body never starts a line with a dot, and headers are built here).
    pub fn render(&self) -> Result<Vec<u8>, String> {
        if let Some(bad) = std::iter::once(&self.from)
            .chain(self.recipients())
            .find(|a| !address_ok(a))
        {
            return Err(format!(
                "'{bad}' is not an address a message can be sent to."
            ));
        }
        if self.to.is_empty() {
            return Err("A message needs at least one recipient.".into());
        }
        let mut out = String::new();
        out.push_str(&format!("From: <{}>\r\n", self.from));
        out.push_str(&format!(
            "To: {}\r\n",
            self.to
                .iter()
                .map(|a| format!("<{a}>"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if !self.cc.is_empty() {
            out.push_str(&format!(
                "Cc: {}\r\n",
                self.cc
                    .iter()
                    .map(|a| format!("<{a}>"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push_str(&format!("Subject: {}\r\n", header_text(&self.subject)));
        out.push_str(&format!("Date: {}\r\n", header_text(&self.date)));
        out.push_str(&format!(
            "Message-ID: <{}>\r\n",
            header_text(&self.message_id)
        ));
        out.push_str("MIME-Version: 1.0\r\n");
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let b = base64::engine::general_purpose::STANDARD.encode(self.body.as_bytes());
        for chunk in b.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push_str("\r\n");
        }
        Ok(out.into_bytes())
    }
}

/// The invitation message's subject and body: who invites, to which organisation, the
/// administrator's customised text, and the redemption link.
pub fn invitation_text(
    organisation: &str,
    inviter: Option<&str>,
    custom: Option<&str>,
    redeem_url: &str,
) -> (String, String) {
    let who = inviter.map_or_else(
        || organisation.to_string(),
        |i| format!("{i} ({organisation})"),
    );
    let subject = format!("You're invited to the {organisation} organization");
    let mut body =
        format!("{who} invited you to access applications within their organization.\r\n\r\n");
    if let Some(c) = custom.filter(|c| !c.trim().is_empty()) {
        body.push_str(&format!(
            "Message from {who}:\r\n{}\r\n\r\n",
            c.replace('\n', "\r\n").replace("\r\r\n", "\r\n")
        ));
    }
    body.push_str(&format!("Accept invitation:\r\n{redeem_url}\r\n\r\nOnly accept if you trust the sender. This link works once and only for the address it was sent to.\r\n"));
    (subject, body)
}

/// The email one-time passcode message.
pub fn passcode_text(organisation: &str, code: &str, minutes: i64) -> (String, String) {
    (
        format!("{organisation} account verification code"),
        format!("Your verification code for {organisation} is: {code}\r\n\r\nIt expires in {minutes} minutes. If you did not ask for it, ignore this message.\r\n"),
    )
}

/// One SMTP reply: its code and text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of every line.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx or 3xx.
    pub fn ok(&self) -> bool {
        (200..400).contains(&self.code)
    }
    /// `code text` for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
    /// An `EHLO` reply line announces this extension (first word, any case).
    pub fn has_extension(&self, name: &str) -> bool {
        self.lines.iter().skip(1).any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(name))
        })
    }
}

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; some relays send more).
pub const MAX_REPLY_LINE: usize = 2048;
/// Most lines in one reply.
pub const MAX_REPLY_LINES: usize = 64;

/// Feeds one received line (without CRLF) into `acc`; returns the reply when the line was its
/// last. A malformed line is an error naming it.
pub fn feed_reply(acc: &mut Vec<(u16, String)>, line: &[u8]) -> Result<Option<Reply>, String> {
    if line.len() > MAX_REPLY_LINE {
        return Err(format!(
            "The SMTP server sent a reply line longer than {MAX_REPLY_LINE} bytes."
        ));
    }
    let text = String::from_utf8_lossy(line);
    let head = text
        .get(..3)
        .filter(|h| h.bytes().all(|b| b.is_ascii_digit()));
    let sep = text.as_bytes().get(3).copied();
    let (Some(head), true) = (head, matches!(sep, None | Some(b' ') | Some(b'-'))) else {
        return Err(format!(
            "The SMTP server sent a malformed reply line: {:?}",
            truncate(&text)
        ));
    };
    let code: u16 = head.parse().map_err(|_| "bad code".to_string())?;
    if !(200..600).contains(&code) {
        return Err(format!(
            "The SMTP server sent reply code {code}, which is not 2xx–5xx."
        ));
    }
    if acc.first().is_some_and(|(c, _)| *c != code) {
        return Err("The SMTP server changed reply code within one multi-line reply.".into());
    }
    acc.push((code, text.get(4..).unwrap_or("").to_string()));
    if acc.len() > MAX_REPLY_LINES {
        return Err(format!(
            "The SMTP server sent more than {MAX_REPLY_LINES} lines in one reply."
        ));
    }
    if sep == Some(b'-') {
        return Ok(None);
    }
    let lines = std::mem::take(acc).into_iter().map(|(_, l)| l).collect();
    Ok(Some(Reply { code, lines }))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Parses a whole reply (lines separated by CRLF or LF) — the fuzz entry point.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, String> {
    let mut acc = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(r) = feed_reply(&mut acc, line)? {
            return Ok(r);
        }
    }
    Err("The SMTP reply ended before its last line.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message {
            from: "invites@castellan.test".into(),
            to: vec!["alice@contoso.com".into()],
            cc: vec!["boss@fabrikam.com".into()],
            subject: "Fabrikam invited you — join".into(),
            body: "Hello\r\n.\r\nAccept: https://x/redeem?t=1".into(),
            date: "Thu, 03 Dec 2026 12:00:00 +0000".into(),
            message_id: "abc@castellan".into(),
        }
    }

    #[test]
    fn renders_headers_and_a_base64_body() {
        let out = String::from_utf8(msg().render().unwrap()).unwrap();
        assert!(out.starts_with("From: <invites@castellan.test>\r\nTo: <alice@contoso.com>\r\nCc: <boss@fabrikam.com>\r\nSubject: =?UTF-8?B?"));
        assert!(out.contains("Content-Transfer-Encoding: base64\r\n\r\n"));
        assert!(
            !out.contains("\n.\r"),
            "no line of the body starts with a dot"
        );
        let body: String = out.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), msg().body);
    }

    #[test]
    fn header_injection_is_refused() {
        for bad in ["a@b.c\r\nBcc: x@y.z", "a@b.c>, <x@y.z", "", "nobody"] {
            let m = Message {
                to: vec![bad.into()],
                ..msg()
            };
            assert!(
                m.render().unwrap_err().contains("not an address"),
                "{bad:?}"
            );
        }
        let m = Message {
            subject: "hi\r\nBcc: x@y.z".into(),
            ..msg()
        };
        let out = String::from_utf8(m.render().unwrap()).unwrap();
        assert!(out.contains("Subject: hiBcc: x@y.z\r\n"));
    }

    #[test]
    fn replies_parse_single_and_multi_line_and_refuse_garbage() {
        let r = parse_reply(b"250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n").unwrap();
        assert_eq!(r.code, 250);
        assert!(r.has_extension("starttls") && !r.has_extension("mx.test"));
        assert!(r.ok());
        let r = parse_reply(b"550 5.1.1 no such user\r\n").unwrap();
        assert!(!r.ok());
        assert_eq!(r.describe(), "550 5.1.1 no such user");
        assert_eq!(parse_reply(b"220\r\n").unwrap().code, 220);
        for bad in [
            &b"hello\r\n"[..],
            b"25\r\n",
            b"250-a\r\n354 b\r\n",
            b"250-a\r\n",
            b"999 x\r\n",
            b"250xfoo\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }
}
