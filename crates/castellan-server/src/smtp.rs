//! The SMTP relay client (`--smtp-relay`, `--smtp-from`, `--smtp-starttls`): one connection per
//! message — greeting, `EHLO`, optional `STARTTLS` (rustls with the tree's aws-lc-rs provider,
//! the relay's certificate checked against the system roots and `--extra-ca-file`), `MAIL
//! FROM`, `RCPT TO` for each recipient, `DATA` (dot-stuffed), `QUIT`. The bytes and the reply
//! parser are `castellan_wire::mail`'s; every step is bounded by one overall timeout. No AUTH:
//! the relay is expected to accept mail from this host (a local MTA or a smarthost).

use std::sync::Arc;
use std::time::Duration;

use castellan_wire::mail::{feed_reply, Message, Reply};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::ServeArgs;

/// The whole conversation must finish within this.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A configured relay.
#[derive(Clone)]
pub struct Relay {
    host: String,
    port: u16,
    /// The sender address.
    pub from: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "smtp://{}:{}", self.host, self.port)
    }
}

impl Relay {
    /// From the configuration; `None` without `--smtp-relay`. A bad value stops the server.
    pub fn from_config(args: &ServeArgs, default_host: &str) -> Result<Option<Self>, String> {
        let Some(relay) = args.smtp_relay.as_deref() else {
            return Ok(None);
        };
        let (host, port) = relay
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| {
                format!("CASTELLAN_SMTP_RELAY (--smtp-relay) = '{relay}': use host:port, for example localhost:25")
            })?;
        let from = args
            .smtp_from
            .clone()
            .unwrap_or_else(|| format!("invites@{default_host}"));
        if !castellan_wire::mail::address_ok(&from) {
            return Err(format!(
                "CASTELLAN_SMTP_FROM (--smtp-from) = '{from}' is not a plain address (name@domain)."
            ));
        }
        let tls = if args.smtp_starttls {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
            if let Some(p) = &args.extra_ca_file {
                for c in crate::federation::read_extra_cas(p)? {
                    roots.add(c).map_err(|e| format!("--extra-ca-file: {e}"))?;
                }
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS for the SMTP relay: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(cfg))
        } else {
            None
        };
        Ok(Some(Self {
            host: host.to_string(),
            port,
            from,
            tls,
        }))
    }

    /// Delivers `m`; the error says which step failed and what the relay answered.
    pub async fn send(&self, m: &Message) -> Result<(), String> {
        let bytes = m.render()?;
        match tokio::time::timeout(TIMEOUT, self.converse(m, &bytes)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the SMTP relay {self:?} did not finish within {} s",
                TIMEOUT.as_secs()
            )),
        }
    }

    async fn converse(&self, m: &Message, bytes: &[u8]) -> Result<(), String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to the SMTP relay {self:?}: {e}"))?;
        let mut c = Conn::new(tcp);
        c.expect("greeting", None, 220).await?;
        let ehlo = format!("EHLO {}", helo_name(&self.from));
        let caps = c.expect("EHLO", Some(&ehlo), 250).await?;
        let mut c = match &self.tls {
            None => Conn::boxed(c.into_inner()),
            Some(cfg) => {
                if !caps.has_extension("STARTTLS") {
                    return Err(format!("the SMTP relay {self:?} does not offer STARTTLS, which --smtp-starttls requires"));
                }
                c.expect("STARTTLS", Some("STARTTLS"), 220).await?;
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("SMTP relay host '{}': {e}", self.host))?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, c.into_inner())
                    .await
                    .map_err(|e| format!("TLS with the SMTP relay {self:?} failed: {e}"))?;
                let mut t = Conn::boxed(tls);
                t.expect("EHLO", Some(&ehlo), 250).await?;
                t
            }
        };
        c.expect(
            "MAIL FROM",
            Some(&format!("MAIL FROM:<{}>", self.from)),
            250,
        )
        .await?;
        for r in m.recipients() {
            c.expect("RCPT TO", Some(&format!("RCPT TO:<{r}>")), 250)
                .await?;
        }
        c.expect("DATA", Some("DATA"), 354).await?;
        c.write(&dot_stuff(bytes)).await?;
        c.expect("end of DATA", Some("."), 250).await?;
        let _ = c.expect("QUIT", Some("QUIT"), 221).await;
        Ok(())
    }
}

/// The `EHLO` name: the sender's domain.
fn helo_name(from: &str) -> &str {
    from.rsplit_once('@').map_or("castellan", |(_, d)| d)
}

/// RFC 5321 §4.5.2: a line starting with `.` gets another; the message ends CRLF.
fn dot_stuff(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut at_line_start = true;
    for &b in bytes {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    fn new(s: S) -> Self {
        Self {
            io: BufReader::new(s),
        }
    }
    fn into_inner(self) -> S {
        self.io.into_inner()
    }
    async fn write(&mut self, b: &[u8]) -> Result<(), String> {
        self.io
            .get_mut()
            .write_all(b)
            .await
            .map_err(|e| format!("writing to the SMTP relay failed: {e}"))?;
        self.io
            .get_mut()
            .flush()
            .await
            .map_err(|e| format!("writing to the SMTP relay failed: {e}"))
    }
    async fn reply(&mut self) -> Result<Reply, String> {
        let mut acc = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut self.io)
                .take(castellan_wire::mail::MAX_REPLY_LINE as u64 + 2)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("reading from the SMTP relay failed: {e}"))?;
            if n == 0 {
                return Err("the SMTP relay closed the connection".into());
            }
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(r) = feed_reply(&mut acc, line)? {
                return Ok(r);
            }
        }
    }
    /// Sends `cmd` (if any) and wants `code` back.
    async fn expect(&mut self, step: &str, cmd: Option<&str>, code: u16) -> Result<Reply, String> {
        if let Some(c) = cmd {
            self.write(format!("{c}\r\n").as_bytes()).await?;
        }
        let r = self.reply().await?;
        if r.code != code {
            return Err(format!("the SMTP relay refused {step}: {}", r.describe()));
        }
        Ok(r)
    }
}

impl Conn<Box<dyn Stream>> {
    fn boxed(s: impl Stream + 'static) -> Self {
        Conn::new(Box::new(s) as Box<dyn Stream>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n");
        assert_eq!(dot_stuff(b".x"), b"..x\r\n");
    }

    #[test]
    fn relay_settings_are_checked() {
        let mut a = ServeArgs::for_test(std::path::PathBuf::from("/tmp"));
        assert!(Relay::from_config(&a, "h.test").unwrap().is_none());
        a.smtp_relay = Some("nocolon".into());
        assert!(Relay::from_config(&a, "h.test")
            .unwrap_err()
            .contains("--smtp-relay"));
        a.smtp_relay = Some("localhost:2525".into());
        let r = Relay::from_config(&a, "h.test").unwrap().unwrap();
        assert_eq!(r.from, "invites@h.test");
        a.smtp_from = Some("bad address".into());
        assert!(Relay::from_config(&a, "h.test")
            .unwrap_err()
            .contains("--smtp-from"));
    }
}
