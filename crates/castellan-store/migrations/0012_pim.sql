CREATE TABLE role_schedules (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX role_schedules_tenant ON role_schedules (tenant_id, created);
CREATE TABLE role_schedule_requests (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX role_schedule_requests_tenant ON role_schedule_requests (tenant_id, created);
CREATE TABLE role_policies (tenant_id TEXT NOT NULL, role_definition_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, role_definition_id));
