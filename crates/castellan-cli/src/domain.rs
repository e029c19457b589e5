//! `castellan domain ...`: custom domains through Graph (`/v1.0/domains`): add, list, show,
//! print the DNS record to publish, verify (the server looks the record up through its
//! `--dns-resolver`), make default, delete.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::admin::GraphConn;

/// Domain commands.
#[derive(Subcommand)]
pub enum DomainCmd {
    /// Add a domain (unverified until `domain verify`).
    Add {
        /// The DNS name, such as contoso.com.
        name: String,
    },
    /// List the tenant's domains.
    List,
    /// Show a domain.
    Show {
        /// The DNS name.
        name: String,
    },
    /// Print the verification records to publish at your DNS host (a TXT or an MX record).
    Records {
        /// The DNS name.
        name: String,
    },
    /// Verify a domain: the server looks its TXT (or MX) record up in DNS.
    Verify {
        /// The DNS name.
        name: String,
    },
    /// Make a verified domain the default for new users.
    SetDefault {
        /// The DNS name.
        name: String,
    },
    /// Delete a domain (refused while users or applications use it).
    Delete {
        /// The DNS name.
        name: String,
    },
}

/// One record as a line a DNS host understands.
fn record_line(r: &Value) -> String {
    let label = r["label"].as_str().unwrap_or_default();
    let ttl = r["ttl"].as_u64().unwrap_or(3600);
    match r["recordType"].as_str() {
        Some("Mx") => format!(
            "{label}. {ttl} IN MX {} {}.",
            r["preference"].as_u64().unwrap_or(32767),
            r["mailExchange"].as_str().unwrap_or_default()
        ),
        _ => format!(
            "{label}. {ttl} IN TXT \"{}\"",
            r["text"].as_str().unwrap_or_default()
        ),
    }
}

/// `castellan domain ...`.
pub async fn run(cmd: DomainCmd, conn: GraphConn) -> Result<()> {
    let g = conn.connect().await?;
    let cols = &[
        "id",
        "isVerified",
        "isDefault",
        "isInitial",
        "authenticationType",
    ];
    match cmd {
        DomainCmd::Add { name } => g.show(&g.post("/domains", &json!({ "id": name })).await?),
        DomainCmd::List => g.list(&g.get_all("/domains").await?, cols),
        DomainCmd::Show { name } => g.show(&g.get(&format!("/domains/{name}")).await?),
        DomainCmd::Records { name } => {
            let v = g
                .get(&format!("/domains/{name}/verificationDnsRecords"))
                .await?;
            let records = v["value"].as_array().cloned().unwrap_or_default();
            println!("Publish one of these records, then run `castellan domain verify {name}`:");
            for r in &records {
                println!("{}", record_line(r));
            }
            Ok(())
        }
        DomainCmd::Verify { name } => g.show(
            &g.post(&format!("/domains/{name}/verify"), &json!({}))
                .await?,
        ),
        DomainCmd::SetDefault { name } => {
            g.patch(&format!("/domains/{name}"), &json!({ "isDefault": true }))
                .await?;
            println!("domain {name} is now the default");
            Ok(())
        }
        DomainCmd::Delete { name } => {
            g.delete(&format!("/domains/{name}")).await?;
            println!("deleted domain {name}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_as_zone_file_lines() {
        let txt = json!({"label": "contoso.com", "ttl": 3600, "recordType": "Txt", "text": "MS=ms01234567"});
        assert_eq!(
            record_line(&txt),
            "contoso.com. 3600 IN TXT \"MS=ms01234567\""
        );
        let mx = json!({"label": "contoso.com", "ttl": 3600, "recordType": "Mx", "mailExchange": "ms01234567.msv1.invalid", "preference": 32767});
        assert_eq!(
            record_line(&mx),
            "contoso.com. 3600 IN MX 32767 ms01234567.msv1.invalid."
        );
    }
}
