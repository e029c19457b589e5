//! Security suite: parser_limits.
