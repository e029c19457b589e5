//! Security suite: privilege_escalation.
