//! Security suite: mfa_guessing.
