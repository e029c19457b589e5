//! Token-signing keys.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct KeyDoc {
    kid: String,
    cert_hex: String,
    sealed_hex: String,
    created: i64,
    active_from: i64,
    retired_at: Option<i64>,
    unpublish_at: Option<i64>,
}

impl From<&SigningKey> for KeyDoc {
    fn from(k: &SigningKey) -> Self {
        Self {
            kid: k.kid.clone(),
            cert_hex: hex(&k.cert_der),
            sealed_hex: hex(&k.private_key_sealed),
            created: k.created.millis(),
            active_from: k.active_from.millis(),
            retired_at: k.retired_at.map(|t| t.millis()),
            unpublish_at: k.unpublish_at.map(|t| t.millis()),
        }
    }
}

impl TryFrom<KeyDoc> for SigningKey {
    type Error = StoreError;
    fn try_from(d: KeyDoc) -> Result<Self, StoreError> {
        Ok(SigningKey {
            kid: d.kid,
            cert_der: unhex(&d.cert_hex)?,
            private_key_sealed: unhex(&d.sealed_hex)?,
            created: Timestamp(d.created),
            active_from: Timestamp(d.active_from),
            retired_at: d.retired_at.map(Timestamp),
            unpublish_at: d.unpublish_at.map(Timestamp),
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertSigningKey(k) => {
            exec(
                tx,
                "INSERT INTO signing_keys (kid, data) VALUES ($1, $2)",
                &[Arg::S(k.kid.clone()), Arg::S(json(&KeyDoc::from(k))?)],
            )
            .await?;
        }
        Change::UpdateSigningKey(k) => {
            must_touch(
                tx,
                "UPDATE signing_keys SET data = $2 WHERE kid = $1",
                &[Arg::S(k.kid.clone()), Arg::S(json(&KeyDoc::from(k))?)],
                "signing key",
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        all(self
            .docs::<KeyDoc>("SELECT data FROM signing_keys ORDER BY kid", &[])
            .await?)
    }
}
