//! A user's registered authentication methods beyond the password: authenticator-app
//! (software OATH TOTP) methods and one-time recovery codes. The TOTP secret is sealed by the
//! server under the master key before it reaches the store; core and store only see opaque
//! bytes here.

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// An authenticator-app method (Graph `softwareOathAuthenticationMethod`).
#[derive(Clone, PartialEq, Eq)]
pub struct SoftwareOathMethod {
    /// Method id.
    pub id: ObjectId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The user it belongs to.
    pub user_id: ObjectId,
    /// A label for the method (shown in lists).
    pub display_name: String,
    /// The TOTP secret, sealed (AES-256-GCM under the master key); opaque to core and store.
    pub secret_sealed: Vec<u8>,
    /// When registration began.
    pub created: Timestamp,
    /// Whether the user proved possession with a valid code (pending methods never satisfy MFA).
    pub confirmed: bool,
    /// The last TOTP step accepted (replay guard; advanced only by compare-and-set).
    pub last_used_step: Option<u64>,
}

impl std::fmt::Debug for SoftwareOathMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareOathMethod")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .field("secret_sealed", &"<sealed>")
            .field("created", &self.created)
            .field("confirmed", &self.confirmed)
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

/// One recovery code of a user: its SHA-256 (`policy::totp::hash_recovery_code`) and whether
/// it was used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryCode {
    /// SHA-256 of the normalised code.
    pub hash: [u8; 32],
    /// Used codes never work again.
    pub used: bool,
}
