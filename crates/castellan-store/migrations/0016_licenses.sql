CREATE TABLE subscriptions (tenant_id TEXT NOT NULL, sku_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, sku_id));
CREATE TABLE license_assignments (tenant_id TEXT NOT NULL, principal_id TEXT NOT NULL, sku_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, principal_id, sku_id))
