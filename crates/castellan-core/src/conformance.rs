//! Store conformance suite: every engine must pass these (written with the engines).
