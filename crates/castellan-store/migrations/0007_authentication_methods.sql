CREATE TABLE software_oath_methods (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, confirmed BIGINT NOT NULL, last_used_step BIGINT, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX software_oath_methods_user ON software_oath_methods (tenant_id, user_id);
CREATE TABLE recovery_codes (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, hash TEXT NOT NULL, used BIGINT NOT NULL, PRIMARY KEY (tenant_id, user_id, hash));
