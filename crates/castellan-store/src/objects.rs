//! What deleting a directory object takes with it, in every relation table.

use super::*;

pub(crate) async fn delete_object_refs(
    tx: &mut Tx,
    t: TenantId,
    id: ObjectId,
) -> Result<(), StoreError> {
    let (t, id) = (s(t), s(id));
    let pair = || [clone(&t), clone(&id)];
    exec(
        tx,
        "DELETE FROM memberships WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
        &pair(),
    )
    .await?;
    exec(
        tx,
        "DELETE FROM owners WHERE tenant_id = $1 AND (object_id = $2 OR owner_id = $2)",
        &pair(),
    )
    .await?;
    exec(
        tx,
        "DELETE FROM au_members WHERE tenant_id = $1 AND member_id = $2",
        &pair(),
    )
    .await?;
    exec(tx, "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND (principal_id = $2 OR resource_id = $2)", &pair()).await?;
    exec(tx, "DELETE FROM permission_grants WHERE tenant_id = $1 AND (client_id = $2 OR resource_id = $2 OR principal_id = $2)", &pair()).await?;
    exec(
        tx,
        "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND principal_id = $2",
        &pair(),
    )
    .await?;
    // Azure leaves such assignments behind as "Identity not found"; Castellan removes them
    // with the principal so a recreated object never inherits access.
    exec(
        tx,
        "DELETE FROM azure_role_assignments WHERE tenant_id = $1 AND principal_id = $2",
        &pair(),
    )
    .await?;
    Ok(())
}
