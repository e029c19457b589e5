CREATE TABLE group_role_schedules (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX group_role_schedules_tenant ON group_role_schedules (tenant_id, created);
CREATE TABLE group_role_schedule_requests (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX group_role_schedule_requests_tenant ON group_role_schedule_requests (tenant_id, created);
CREATE TABLE group_role_policies (tenant_id TEXT NOT NULL, scope_key TEXT NOT NULL, role_definition_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, scope_key, role_definition_id));
