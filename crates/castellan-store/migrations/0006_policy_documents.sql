CREATE TABLE policy_documents (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL, name_lower TEXT NOT NULL, created BIGINT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX policy_documents_name ON policy_documents (tenant_id, kind, name_lower);
