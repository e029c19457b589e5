-- Custom domains: a name may be added (unverified) by several tenants, but verified by one only.
-- tenant_domains is keyed by (tenant, name) and a partial unique index claims verified names
-- across tenants, so two tenants verifying one name at once cannot both commit. Every domain
-- stored before this migration is an initial, verified one.
CREATE TABLE tenant_domains_v14 (tenant_id TEXT NOT NULL, name_lower TEXT NOT NULL, verified BIGINT NOT NULL, PRIMARY KEY (tenant_id, name_lower));
INSERT INTO tenant_domains_v14 (tenant_id, name_lower, verified) SELECT tenant_id, name_lower, 1 FROM tenant_domains;
DROP TABLE tenant_domains;
ALTER TABLE tenant_domains_v14 RENAME TO tenant_domains;
CREATE UNIQUE INDEX tenant_domains_verified ON tenant_domains (name_lower) WHERE verified = 1;
