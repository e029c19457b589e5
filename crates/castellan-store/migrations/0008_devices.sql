CREATE TABLE devices (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, device_id TEXT NOT NULL, created BIGINT NOT NULL, last_sign_in BIGINT, data TEXT NOT NULL);
CREATE UNIQUE INDEX devices_device_id ON devices (tenant_id, device_id);
