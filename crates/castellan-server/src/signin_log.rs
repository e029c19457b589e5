//! The sign-in log writer: handlers hand records to a bounded channel and go on; one task
//! writes them in batches (up to 256 records or 50 ms, whichever comes first) in one
//! transaction each. A crash loses at most the records of the batch being gathered — about the
//! last 50 ms of sign-ins (documented in docs/guide.md). When the store fails the batch
//! is retried with backoff; when the channel is full, handlers wait (back-pressure, never drop).

use std::sync::Arc;
use std::time::Duration;

use castellan_core::model::SignIn;
use castellan_core::store::Store;
use tokio::sync::mpsc;

/// Where handlers send sign-in records.
#[derive(Clone)]
pub struct SignInLog {
    tx: mpsc::Sender<SignIn>,
    protection: Arc<crate::protection::Protection>,
}

const BATCH: usize = 256;
const GATHER: Duration = Duration::from_millis(50);

impl SignInLog {
    /// Records waiting in the queue for the next batch.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Starts the writer task.
    pub fn start(store: Arc<dyn Store>, protection: Arc<crate::protection::Protection>) -> Self {
        let (tx, mut rx) = mpsc::channel::<SignIn>(8192);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + GATHER;
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
                let mut attempt = 0u32;
                loop {
                    match store.insert_sign_ins(&batch).await {
                        Ok(()) => break,
                        Err(e) if attempt < 8 => {
                            attempt += 1;
                            tracing::warn!(error = %e, records = batch.len(), attempt, "sign-in log write failed; retrying");
                            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt)))
                                .await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, records = batch.len(), "sign-in log write failed; records dropped after retries");
                            break;
                        }
                    }
                }
            }
        });
        Self { tx, protection }
    }

    /// Queues a record, placing its address with GeoIP when the handler has not.
    pub async fn record(&self, mut r: SignIn) {
        if r.location == castellan_core::model::SignInLocation::default() {
            r.location = self.protection.locate(&r.ip_address);
        }
        tracing::info!(
            tenant = %r.tenant_id,
            upn = r.user_principal_name.as_deref().unwrap_or(""),
            app_id = %r.app_id,
            error_code = r.error_code,
            interactive = r.is_interactive,
            "sign-in"
        );
        if self.tx.send(r).await.is_err() {
            tracing::error!("sign-in log writer stopped; record lost");
        }
    }
}

/// The fixed facts of one sign-in attempt; `user`/`service_principal` finish the record.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Tenant.
    pub tenant_id: castellan_core::TenantId,
    /// Correlation id.
    pub correlation_id: String,
    /// Client IP.
    pub ip: String,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// Client appId (as sent).
    pub app_id: String,
    /// A person at a page.
    pub interactive: bool,
    /// Graph's `clientAppUsed`.
    pub client_app_used: String,
    /// Grant type or page.
    pub details: String,
    /// When.
    pub at: castellan_core::Timestamp,
}

fn resource_name(aud: &str) -> Option<String> {
    (aud == "00000003-0000-0000-c000-000000000000").then(|| "Microsoft Graph".to_string())
}

impl Attempt {
    fn base(&self, err: Option<&castellan_core::error::AadstsError>) -> SignIn {
        SignIn {
            id: uuid::Uuid::new_v4(),
            tenant_id: self.tenant_id,
            created: self.at,
            user_principal_name: None,
            user_id: None,
            user_display_name: None,
            app_id: self.app_id.clone(),
            app_display_name: None,
            resource_display_name: None,
            resource_id: None,
            ip_address: self.ip.clone(),
            client_app_used: self.client_app_used.clone(),
            is_interactive: self.interactive,
            error_code: err.map_or(0, |e| e.code),
            failure_reason: err.map_or_else(String::new, |e| e.message.clone()),
            additional_details: self.details.clone(),
            correlation_id: self.correlation_id.clone(),
            authentication_requirement: "singleFactorAuthentication".into(),
            conditional_access_status: "notApplied".into(),
            applied_policies: vec![],
            is_service_principal: false,
            device: None,
            user_agent: self.user_agent.clone(),
            location: castellan_core::model::SignInLocation::default(),
            risk: castellan_core::model::SignInRiskInfo::default(),
        }
    }

    /// A user sign-in record.
    pub fn user(
        &self,
        upn: Option<&str>,
        user_id: Option<castellan_core::ObjectId>,
        name: Option<&str>,
        resource: Option<&str>,
        err: Option<&castellan_core::error::AadstsError>,
    ) -> SignIn {
        let mut r = self.base(err);
        r.user_principal_name = upn.map(str::to_string);
        r.user_id = user_id;
        r.user_display_name = name.map(str::to_string);
        r.resource_id = resource.map(str::to_string);
        r.resource_display_name = resource.and_then(resource_name);
        r
    }

    /// A service-principal (app-only) sign-in record.
    pub fn service_principal(
        &self,
        resource: Option<&str>,
        err: Option<&castellan_core::error::AadstsError>,
    ) -> SignIn {
        let mut r = self.base(err);
        r.is_service_principal = true;
        r.resource_id = resource.map(str::to_string);
        r.resource_display_name = resource.and_then(resource_name);
        r
    }
}
