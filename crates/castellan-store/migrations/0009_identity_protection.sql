CREATE TABLE risky_users (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, version BIGINT NOT NULL, updated BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id));
CREATE INDEX risky_users_updated ON risky_users (tenant_id, updated);
CREATE TABLE failed_sign_ins (tenant_id TEXT NOT NULL, source TEXT NOT NULL, ip TEXT NOT NULL, username TEXT NOT NULL, time BIGINT NOT NULL);
CREATE INDEX failed_sign_ins_source ON failed_sign_ins (tenant_id, source, time);
CREATE INDEX failed_sign_ins_time ON failed_sign_ins (tenant_id, time);
