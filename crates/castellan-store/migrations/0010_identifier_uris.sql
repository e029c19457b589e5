-- Identifier URIs are unique across all tenants. The runner back-fills the rows from the
-- stored applications in the same transaction (backfill_identifier_uris: of two old holders
-- the first keeps the URI). No semicolons in comments: the runner splits statements on them.
CREATE TABLE identifier_uris (uri_key TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, app_object_id TEXT NOT NULL);
CREATE INDEX identifier_uris_app ON identifier_uris (app_object_id);
