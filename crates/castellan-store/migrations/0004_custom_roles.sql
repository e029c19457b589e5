CREATE TABLE custom_roles (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name_lower TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX custom_roles_name ON custom_roles (tenant_id, name_lower);
