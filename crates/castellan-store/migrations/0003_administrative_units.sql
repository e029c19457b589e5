CREATE TABLE administrative_units (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX administrative_units_tenant ON administrative_units (tenant_id);
CREATE TABLE au_members (tenant_id TEXT NOT NULL, au_id TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (au_id, member_id));
CREATE INDEX au_members_member ON au_members (tenant_id, member_id);
ALTER TABLE directory_role_assignments ADD COLUMN directory_scope_id TEXT NOT NULL DEFAULT '/';
DROP INDEX directory_role_assignments_unique;
CREATE UNIQUE INDEX directory_role_assignments_scoped ON directory_role_assignments (tenant_id, principal_id, role_template_id, directory_scope_id);
