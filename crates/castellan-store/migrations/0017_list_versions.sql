-- Per tenant and list (users, groups), a counter bumped in the same transaction as every insert,
-- update and delete of one of its objects: Graph's indexed lists compare it to know whether
-- their copy is current.
CREATE TABLE list_versions (tenant_id TEXT NOT NULL, list TEXT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (tenant_id, list));
