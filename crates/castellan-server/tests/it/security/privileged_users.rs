//! Security suite: privileged_users.
