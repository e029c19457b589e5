//! The admin console's application registration. The console is a first-party client whose
//! service principal every tenant has (`ops::tenants`, with the Azure CLI's), but its redirect
//! URIs are the server's own origins, which only the server knows: at start it calls
//! [`ensure_application`] with `{origin}/admin/callback` for each origin it answers as, and
//! the registration (home tenant: Microsoft's services tenant, like the other first-party
//! applications, so no customer tenant lists it under App registrations) is created or brought
//! up to date. Platform state, not a directory change by anyone: no audit record, as for the
//! synthesised first-party registrations.

use crate::catalog::{console_application, CONSOLE_APP_ID};
use crate::model::Application;
use crate::store::{Change, ChangeSet, Store, StoreError};

/// What to write so the stored registration matches `redirect_uris`: nothing when it already
/// does, an insert when there is none, a compare-and-set replace otherwise (its creation time
/// kept).
pub fn reconcile(stored: Option<&Application>, redirect_uris: &[String]) -> Option<Change> {
    let mut want = console_application(redirect_uris.to_vec());
    match stored {
        None => Some(Change::InsertApplication(want)),
        Some(old) => {
            want.created = old.created;
            want.id = old.id;
            (old != &want)
                .then(|| Change::ReplaceApplication(Box::new(old.clone()), Box::new(want)))
        }
    }
}

/// Creates or updates the console's registration; true when something was written.
pub async fn ensure_application(
    store: &dyn Store,
    redirect_uris: &[String],
) -> Result<bool, StoreError> {
    let stored = store.application_by_app_id(CONSOLE_APP_ID).await?;
    let Some(change) = reconcile(stored.as_ref(), redirect_uris) else {
        return Ok(false);
    };
    let mut set = ChangeSet::new();
    set.push(change);
    store.commit(set).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_follows_the_origins() {
        let a = vec!["https://127.0.0.1:8443/admin/callback".to_string()];
        let Some(Change::InsertApplication(app)) = reconcile(None, &a) else {
            panic!("no insert")
        };
        assert_eq!(app.app_id, CONSOLE_APP_ID);
        assert_eq!(app.public_client_redirect_uris, a);
        assert!(reconcile(Some(&app), &a).is_none(), "unchanged: no write");
        let b = vec!["https://id.example/admin/callback".to_string()];
        let Some(Change::ReplaceApplication(old, new)) = reconcile(Some(&app), &b) else {
            panic!("no replace")
        };
        assert_eq!(*old, app);
        assert_eq!(new.public_client_redirect_uris, b);
        assert_eq!((new.id, new.created), (app.id, app.created));
    }
}
