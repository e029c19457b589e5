//! Security suite: cross_tenant_names.
