//! Security suite: small_mends.
