CREATE TABLE deleted_items (tenant_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, deleted_at BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE INDEX deleted_items_by_time ON deleted_items (tenant_id, deleted_at);
