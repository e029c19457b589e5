//! The engine-specific part: only connection set-up differs.

/// Which engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Parses the engine from the URL scheme.
pub fn engine(url: &str) -> Option<Engine> {
    if url.starts_with("sqlite:") {
        Some(Engine::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Some(Engine::Postgres)
    } else {
        None
    }
}

/// SQLite: create the file, WAL, busy timeout, foreign keys.
pub fn sqlite_url(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// Statements run on every new SQLite connection.
pub const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];
