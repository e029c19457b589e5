CREATE TABLE grants (handle TEXT PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL, family TEXT, user_id TEXT, lookup TEXT, state TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX grants_lookup ON grants (kind, lookup);
CREATE INDEX grants_family ON grants (family);
CREATE INDEX grants_user ON grants (tenant_id, user_id);
CREATE INDEX grants_expires ON grants (expires);
CREATE TABLE sign_ins (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, time BIGINT NOT NULL, data TEXT NOT NULL);
CREATE INDEX sign_ins_tenant_time ON sign_ins (tenant_id, time);
