//! OData v4 query options as Microsoft Graph uses them on list endpoints.
//!
//! * [`parse_filter`] turns `$filter` text into a [`Filter`] AST (never string-built into SQL);
//!   [`eval`] runs it over a rendered Graph JSON entity.
//! * [`Query::parse`] reads the decoded query-string pairs (`$filter`, `$select`, `$top`,
//!   `$orderby`, `$count`, `$skiptoken`) against an [`EntitySpec`].
//! * [`apply`] filters, sorts, pages (opaque keyset `$skiptoken`) and projects, giving a
//!   [`Page`].
//!
//! Semantics follow Entra's directory: string comparisons ignore case, GUIDs compare as strings
//! ignoring case, datetimes compare chronologically, a missing property is `null`. In sorting,
//! `null` is the lowest value (first ascending, last descending, as in OData).
//!
//! Bounds: a filter is at most [`MAX_FILTER_LEN`] characters, [`MAX_DEPTH`] levels deep, has at
//! most [`MAX_FILTER_TERMS`] terms, and an `in` list holds at most [`MAX_IN_VALUES`] values.
//! Nothing here panics on any input, and nothing recurses deeper than those bounds allow.

use std::cmp::Ordering;
use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

pub mod index;

/// The longest accepted `$filter`, in characters.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest accepted nesting of parentheses, `not` and lambdas in a `$filter`.
pub const MAX_DEPTH: usize = 32;
/// The most terms (comparisons, `in`, `startswith`/`endswith`, `any`) a `$filter` may have. A
/// flat chain of `and`/`or` is a tree as deep as it is long for the evaluator, so this bounds
/// its recursion too (nesting is bounded separately by [`MAX_DEPTH`]).
pub const MAX_FILTER_TERMS: usize = 300;
/// The most values an `in` list may hold.
pub const MAX_IN_VALUES: usize = 100;
/// The page size when `$top` is absent.
pub const DEFAULT_TOP: usize = 100;
/// The largest accepted `$top`.
pub const MAX_TOP: usize = 999;

/// A query-option error; [`ODataError::message`] names the problem (and, for `$filter` syntax,
/// the position).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ODataError(String);

impl ODataError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The message for Graph's `{"error":{"code":"Request_BadRequest","message":...}}`.
    pub fn message(&self) -> String {
        self.0.clone()
    }

    /// The Graph error code for every OData error.
    pub fn code(&self) -> &'static str {
        "Request_BadRequest"
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, ODataError> {
    Err(ODataError(m.into()))
}

fn syntax<T>(pos: usize, what: impl std::fmt::Display) -> Result<T, ODataError> {
    err(format!(
        "Syntax error at position {pos} in '$filter': {what}."
    ))
}

/// What the caller's entity type allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntitySpec {
    type_name: String,
    properties: Vec<String>,
    orderable: Vec<String>,
    key: String,
}

impl EntitySpec {
    /// `type_name` for messages (`microsoft.graph.user`), the rendered property names, those
    /// allowed in `$orderby`, and the key property (`id`).
    pub fn new(type_name: &str, properties: &[&str], orderable: &[&str], key: &str) -> Self {
        Self {
            type_name: type_name.into(),
            properties: properties.iter().map(|s| (*s).to_string()).collect(),
            orderable: orderable.iter().map(|s| (*s).to_string()).collect(),
            key: key.into(),
        }
    }

    /// The entity type name used in messages.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The key property.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The property's canonical spelling, if the entity has it (names ignore case).
    pub fn canonical(&self, p: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|x| x.eq_ignore_ascii_case(p))
            .map(String::as_str)
    }

    fn unknown(&self, p: &str) -> ODataError {
        ODataError(format!(
            "Could not find a property named '{p}' on type '{}'.",
            self.type_name
        ))
    }
}

/// A literal value in a `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `'text'` (with `''` unescaped).
    Str(String),
    /// An integer or decimal number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A bare GUID, lower-cased.
    Guid(String),
    /// A bare datetime (`2024-01-01T00:00:00Z`; an offset-less time or a bare date is UTC).
    DateTime(DateTime<Utc>),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl Op {
    fn from_word(w: &str) -> Option<Self> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn holds(self, c: Option<Ordering>) -> bool {
        match self {
            Op::Eq => c == Some(Ordering::Equal),
            Op::Ne => c != Some(Ordering::Equal),
            Op::Gt => c == Some(Ordering::Greater),
            Op::Ge => matches!(c, Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt => c == Some(Ordering::Less),
            Op::Le => matches!(c, Some(Ordering::Less | Ordering::Equal)),
        }
    }
}

/// A property path, `a/b/c`; inside a lambda the first segment may be the lambda variable.
pub type PropertyPath = Vec<String>;

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not a`
    Not(Box<Filter>),
    /// `path op literal`
    Cmp(PropertyPath, Op, Lit),
    /// `path in (literal, ...)`
    In(PropertyPath, Vec<Lit>),
    /// `startswith(path, 'prefix')`
    StartsWith(PropertyPath, String),
    /// `endswith(path, 'suffix')`
    EndsWith(PropertyPath, String),
    /// `path/any(var: body)`; `path/any()` (no body) means "the collection is not empty".
    Any {
        /// The collection.
        path: PropertyPath,
        /// The lambda variable.
        var: String,
        /// The condition on each element.
        body: Option<Box<Filter>>,
    },
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Lit(Lit),
    LParen,
    RParen,
    Comma,
    Colon,
}

#[derive(Clone, Debug)]
struct Token {
    pos: usize,
    text: String,
    tok: Tok,
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// RFC 3339, an offset-less datetime (UTC) or a bare date (midnight UTC).
fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    // Cheap pre-check: `dddd-dd-dd...`.
    if b.len() < 10
        || !b.iter().take(4).all(u8::is_ascii_digit)
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
    {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc());
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        return Some(d.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn is_word_char(c: char, first: Option<char>) -> bool {
    c.is_alphanumeric()
        || matches!(c, '_' | '.' | '/' | '-' | '+' | '@' | '$')
        // `:` belongs to a datetime literal (which starts with a digit), not to `any(x:`.
        || (c == ':' && first.is_some_and(|f| f.is_ascii_digit()))
}

fn lex(chars: &[char]) -> Result<Vec<Token>, ODataError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token {
                pos: start,
                text: c.to_string(),
                tok,
            });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return syntax(
                        start,
                        "unterminated string literal (a quote inside a string is written as '')",
                    ),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
            out.push(Token {
                pos: start,
                text,
                tok: Tok::Str(s),
            });
            continue;
        }
        if !is_word_char(c, Some(c)) {
            return syntax(start, format!("unexpected character '{c}'"));
        }
        let mut w = String::new();
        while let Some(&ch) = chars.get(i) {
            if is_word_char(ch, Some(c)) {
                w.push(ch);
                i += 1;
            } else {
                break;
            }
        }
        let tok = if is_guid(&w) {
            Tok::Lit(Lit::Guid(w.to_ascii_lowercase()))
        } else if c.is_ascii_digit() || c == '-' || c == '+' {
            if let Some(d) = parse_datetime(&w) {
                Tok::Lit(Lit::DateTime(d))
            } else if let Some(n) = w
                .parse::<i64>()
                .ok()
                .map(|n| n as f64)
                .or_else(|| w.parse::<f64>().ok().filter(|n| n.is_finite()))
            {
                Tok::Lit(Lit::Num(n))
            } else {
                return syntax(
                    start,
                    format!("'{w}' is not a valid number, GUID or datetime"),
                );
            }
        } else if c.is_alphabetic() || matches!(c, '_' | '@' | '$') {
            Tok::Word(w.clone())
        } else {
            return syntax(start, format!("unexpected '{w}'"));
        };
        out.push(Token {
            pos: start,
            text: w,
            tok,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser: or < and < not < comparison / function / lambda / parentheses.

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    end: usize,
    terms: usize,
}

impl Parser {
    /// Counts one term, refusing the filter past [`MAX_FILTER_TERMS`].
    fn term(&mut self, at: usize) -> Result<(), ODataError> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return syntax(
                at,
                format!("the expression has more than {MAX_FILTER_TERMS} terms"),
            );
        }
        Ok(())
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn nth_tok(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn at(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn found(&self) -> String {
        self.peek().map_or_else(
            || "the end of the expression".to_string(),
            |t| format!("'{}'", t.text),
        )
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek_tok(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ODataError> {
        if self.peek_tok() == Some(t) {
            self.pos += 1;
            Ok(())
        } else {
            syntax(
                self.at(),
                format!("expected {what} but found {}", self.found()),
            )
        }
    }

    fn parse_or(&mut self, depth: usize) -> Result<Filter, ODataError> {
        let mut l = self.parse_and(depth)?;
        while self.keyword("or") {
            self.pos += 1;
            let r = self.parse_and(depth)?;
            l = Filter::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn parse_and(&mut self, depth: usize) -> Result<Filter, ODataError> {
        let mut l = self.parse_unary(depth)?;
        while self.keyword("and") {
            self.pos += 1;
            let r = self.parse_unary(depth)?;
            l = Filter::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Filter, ODataError> {
        if depth > MAX_DEPTH {
            return syntax(
                self.at(),
                format!("the expression is nested more than {MAX_DEPTH} levels deep"),
            );
        }
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.parse_unary(depth + 1)?)));
        }
        let Some(tok) = self.peek().cloned() else {
            return syntax(
                self.end,
                "expected an expression but found the end of the text",
            );
        };
        match &tok.tok {
            Tok::LParen => {
                self.pos += 1;
                let e = self.parse_or(depth + 1)?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::Word(w) if self.nth_tok(1) == Some(&Tok::LParen) => {
                self.term(tok.pos)?;
                self.call(&tok, w, depth)
            }
            Tok::Word(w) if is_literal_word(w) => syntax(
                tok.pos,
                format!(
                    "expected a property name but found the value '{}'",
                    tok.text
                ),
            ),
            Tok::Word(w) => {
                self.term(tok.pos)?;
                let path = self.path(&tok, w)?;
                self.pos += 1;
                self.comparison(path, &tok.text)
            }
            _ => syntax(
                tok.pos,
                format!("expected a property name but found '{}'", tok.text),
            ),
        }
    }

    /// `name(` : a function or a lambda.
    fn call(&mut self, tok: &Token, w: &str, depth: usize) -> Result<Filter, ODataError> {
        let lower = w.to_ascii_lowercase();
        if lower == "startswith" || lower == "endswith" {
            self.pos += 2;
            let Some(arg) = self.peek().cloned() else {
                return syntax(self.end, format!("expected a property name in '{w}('"));
            };
            let path = match &arg.tok {
                Tok::Word(a) if !is_literal_word(a) => self.path(&arg, a)?,
                _ => {
                    return syntax(
                        arg.pos,
                        format!(
                            "the first argument of '{w}' must be a property name, not '{}'",
                            arg.text
                        ),
                    )
                }
            };
            self.pos += 1;
            self.expect(&Tok::Comma, &format!("',' after the property in '{w}('"))?;
            let s = match self.peek_tok() {
                Some(Tok::Str(s)) => s.clone(),
                _ => {
                    return syntax(
                        self.at(),
                        format!(
                            "the second argument of '{w}' must be a quoted string but found {}",
                            self.found()
                        ),
                    )
                }
            };
            self.pos += 1;
            self.expect(&Tok::RParen, &format!("')' closing '{w}('"))?;
            return Ok(if lower == "startswith" {
                Filter::StartsWith(path, s)
            } else {
                Filter::EndsWith(path, s)
            });
        }
        if lower == "contains" {
            return syntax(
                tok.pos,
                "the function 'contains' is not supported for directory objects; use startswith",
            );
        }
        let segs: Vec<&str> = w.split('/').collect();
        if let Some((last, coll)) = segs.split_last() {
            let last = last.to_ascii_lowercase();
            if !coll.is_empty() && (last == "any" || last == "all") {
                if last == "all" {
                    return syntax(
                        tok.pos,
                        "the lambda operator 'all' is not supported; use 'any'",
                    );
                }
                let coll_text = coll.join("/");
                let path = self.path(tok, &coll_text)?;
                self.pos += 2;
                if self.peek_tok() == Some(&Tok::RParen) {
                    self.pos += 1;
                    return Ok(Filter::Any {
                        path,
                        var: String::new(),
                        body: None,
                    });
                }
                let var = match self.peek_tok() {
                    Some(Tok::Word(v))
                        if !v.contains('/') && !is_literal_word(v) && is_identifier(v) =>
                    {
                        v.clone()
                    }
                    _ => {
                        return syntax(
                            self.at(),
                            format!(
                                "expected a lambda variable name after 'any(' but found {}",
                                self.found()
                            ),
                        )
                    }
                };
                self.pos += 1;
                self.expect(&Tok::Colon, "':' after the lambda variable")?;
                let body = self.parse_or(depth + 1)?;
                self.expect(&Tok::RParen, "')' closing 'any('")?;
                return Ok(Filter::Any {
                    path,
                    var,
                    body: Some(Box::new(body)),
                });
            }
        }
        syntax(
            tok.pos,
            format!("the function '{w}' is not supported; supported functions are startswith and endswith, and the lambda operator any"),
        )
    }

    fn path(&self, tok: &Token, w: &str) -> Result<PropertyPath, ODataError> {
        let segs: Vec<String> = w.split('/').map(str::to_string).collect();
        if segs.iter().any(|s| !is_identifier(s)) {
            return syntax(tok.pos, format!("'{w}' is not a valid property path"));
        }
        Ok(segs)
    }

    /// After a property path: `in (...)` or `op literal`.
    fn comparison(&mut self, path: PropertyPath, prop: &str) -> Result<Filter, ODataError> {
        if self.keyword("in") {
            self.pos += 1;
            self.expect(&Tok::LParen, "'(' after 'in'")?;
            let mut vals = Vec::new();
            loop {
                let at = self.at();
                let Some(v) = self.literal() else {
                    return syntax(
                        at,
                        format!(
                            "expected a value in the 'in' list but found {}",
                            self.found()
                        ),
                    );
                };
                if vals.len() >= MAX_IN_VALUES {
                    return syntax(
                        at,
                        format!("an 'in' list may hold at most {MAX_IN_VALUES} values"),
                    );
                }
                vals.push(v);
                match self.peek_tok() {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return syntax(
                            self.at(),
                            format!(
                                "expected ',' or ')' in the 'in' list but found {}",
                                self.found()
                            ),
                        )
                    }
                }
            }
            return Ok(Filter::In(path, vals));
        }
        let op = match self.peek_tok() {
            Some(Tok::Word(w)) => Op::from_word(w),
            _ => None,
        };
        let Some(op) = op else {
            let what = if self.keyword("contains") {
                "; 'contains' is not supported for directory objects, use startswith".to_string()
            } else {
                String::new()
            };
            return syntax(
                self.at(),
                format!(
                    "expected an operator (eq, ne, gt, ge, lt, le, in) after '{prop}' but found {}{what}",
                    self.found()
                ),
            );
        };
        let op_text = self.peek().map(|t| t.text.clone()).unwrap_or_default();
        self.pos += 1;
        let at = self.at();
        match self.literal() {
            Some(v) => Ok(Filter::Cmp(path, op, v)),
            None => {
                let hint = match self.peek_tok() {
                    Some(Tok::Word(w)) if !w.contains('/') => {
                        format!(" (string values are quoted: '{w}')")
                    }
                    _ => String::new(),
                };
                syntax(
                    at,
                    format!(
                        "expected a value after '{op_text}' but found {}{hint}",
                        self.found()
                    ),
                )
            }
        }
    }

    fn literal(&mut self) -> Option<Lit> {
        let lit = match self.peek_tok()? {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Lit(l) => l.clone(),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Lit::Null,
            _ => return None,
        };
        self.pos += 1;
        Some(lit)
    }
}

fn is_literal_word(w: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '@')
        && cs.all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// Parses a `$filter` expression.
///
/// Keywords and operators are case-insensitive; precedence is `not` > `and` > `or`.
pub fn parse_filter(src: &str) -> Result<Filter, ODataError> {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() > MAX_FILTER_LEN {
        return err(format!(
            "The '$filter' is {} characters long; at most {MAX_FILTER_LEN} are allowed.",
            chars.len()
        ));
    }
    if src.trim().is_empty() {
        return err("The '$filter' is empty.");
    }
    let toks = lex(&chars)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: chars.len(),
        terms: 0,
    };
    let f = p.parse_or(0)?;
    if p.peek().is_some() {
        let what = match p.peek_tok() {
            Some(Tok::RParen) => "unbalanced ')'".to_string(),
            _ => format!(
                "unexpected {} after a complete expression (expected 'and', 'or' or the end)",
                p.found()
            ),
        };
        return syntax(p.at(), what);
    }
    Ok(f)
}

fn check_props(f: &Filter, spec: &EntitySpec, vars: &mut Vec<String>) -> Result<(), ODataError> {
    let check = |p: &PropertyPath, vars: &Vec<String>| -> Result<(), ODataError> {
        let first = p.first().map(String::as_str).unwrap_or_default();
        if vars.iter().any(|v| v == first) || spec.canonical(first).is_some() {
            Ok(())
        } else {
            Err(spec.unknown(first))
        }
    };
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_props(a, spec, vars)?;
            check_props(b, spec, vars)
        }
        Filter::Not(a) => check_props(a, spec, vars),
        Filter::Cmp(p, _, _)
        | Filter::In(p, _)
        | Filter::StartsWith(p, _)
        | Filter::EndsWith(p, _) => check(p, vars),
        Filter::Any { path, var, body } => {
            check(path, vars)?;
            if let Some(body) = body {
                vars.push(var.clone());
                let r = check_props(body, spec, vars);
                vars.pop();
                r?;
            }
            Ok(())
        }
    }
}

fn advanced(f: &Filter) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => advanced(a) || advanced(b),
        Filter::Not(_) | Filter::EndsWith(..) | Filter::Cmp(_, Op::Ne, _) => true,
        Filter::Any { body, .. } => body.as_deref().is_some_and(advanced),
        Filter::Cmp(..) | Filter::In(..) | Filter::StartsWith(..) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn resolve<'v>(obj: &'v Value, path: &[String], bound: &[(&str, &'v Value)]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = match bound.iter().rev().find(|(n, _)| *n == first) {
        Some((_, v)) => *v,
        None => get_ci(obj, first)?,
    };
    for seg in rest {
        cur = get_ci(cur, seg)?;
    }
    Some(cur)
}

fn ci_cmp(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// `value op literal` ordering; `None` when incomparable (different types, or one side null).
fn cmp_lit(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Lit::Null) => None,
        (Value::String(s), Lit::Str(t) | Lit::Guid(t)) => Some(ci_cmp(s, t)),
        (Value::String(s), Lit::DateTime(d)) => parse_datetime(s).map(|x| x.cmp(d)),
        (Value::Number(n), Lit::Num(x)) => n.as_f64().and_then(|n| n.partial_cmp(x)),
        (Value::Bool(b), Lit::Bool(c)) => Some(b.cmp(c)),
        _ => None,
    }
}

fn affix(v: Option<&Value>, s: &str, starts: bool) -> bool {
    let Some(x) = v.and_then(Value::as_str) else {
        return false;
    };
    let (x, s) = (x.to_lowercase(), s.to_lowercase());
    if starts {
        x.starts_with(&s)
    } else {
        x.ends_with(&s)
    }
}

fn eval_in<'f, 'v>(f: &'f Filter, obj: &'v Value, bound: &mut Vec<(&'f str, &'v Value)>) -> bool {
    match f {
        Filter::And(a, b) => eval_in(a, obj, bound) && eval_in(b, obj, bound),
        Filter::Or(a, b) => eval_in(a, obj, bound) || eval_in(b, obj, bound),
        Filter::Not(a) => !eval_in(a, obj, bound),
        Filter::Cmp(p, op, lit) => {
            let v = resolve(obj, p, bound).unwrap_or(&Value::Null);
            op.holds(cmp_lit(v, lit))
        }
        Filter::In(p, lits) => {
            let v = resolve(obj, p, bound).unwrap_or(&Value::Null);
            lits.iter().any(|l| cmp_lit(v, l) == Some(Ordering::Equal))
        }
        Filter::StartsWith(p, s) => affix(resolve(obj, p, bound), s, true),
        Filter::EndsWith(p, s) => affix(resolve(obj, p, bound), s, false),
        Filter::Any { path, var, body } => {
            let Some(items) = resolve(obj, path, bound).and_then(Value::as_array) else {
                return false;
            };
            let Some(body) = body else {
                return !items.is_empty();
            };
            items.iter().any(|item| {
                bound.push((var.as_str(), item));
                let r = eval_in(body, obj, bound);
                bound.pop();
                r
            })
        }
    }
}

/// Whether a rendered entity satisfies the filter.
pub fn eval(filter: &Filter, entity: &Value) -> bool {
    eval_in(filter, entity, &mut Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Sorting: a total order over JSON values.

#[derive(Clone, Debug)]
enum SortVal {
    Null,
    Bool(bool),
    Num(f64),
    Time(DateTime<Utc>),
    Text(String),
    Other(String),
}

impl SortVal {
    fn of(v: &Value) -> Self {
        match v {
            Value::Null => SortVal::Null,
            Value::Bool(b) => SortVal::Bool(*b),
            Value::Number(n) => n
                .as_f64()
                .map_or_else(|| SortVal::Other(n.to_string()), SortVal::Num),
            Value::String(s) => {
                parse_datetime(s).map_or_else(|| SortVal::Text(s.to_lowercase()), SortVal::Time)
            }
            other => SortVal::Other(other.to_string()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortVal::Null => 0,
            SortVal::Bool(_) => 1,
            SortVal::Num(_) => 2,
            SortVal::Time(_) => 3,
            SortVal::Text(_) => 4,
            SortVal::Other(_) => 5,
        }
    }

    fn total_cmp(&self, o: &Self) -> Ordering {
        match (self, o) {
            (SortVal::Bool(a), SortVal::Bool(b)) => a.cmp(b),
            (SortVal::Num(a), SortVal::Num(b)) => a.total_cmp(b),
            (SortVal::Time(a), SortVal::Time(b)) => a.cmp(b),
            (SortVal::Text(a), SortVal::Text(b)) | (SortVal::Other(a), SortVal::Other(b)) => {
                a.cmp(b)
            }
            _ => self.rank().cmp(&o.rank()),
        }
    }
}

fn key_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// (sort value, key) ordering: primary reversed when descending, key always ascending.
fn row_cmp(a: (&SortVal, &str), b: (&SortVal, &str), descending: bool) -> Ordering {
    let primary = a.0.total_cmp(b.0);
    let primary = if descending {
        primary.reverse()
    } else {
        primary
    };
    primary.then_with(|| a.1.cmp(b.1))
}

// ---------------------------------------------------------------------------------------------
// Query options

#[derive(Clone, Debug)]
struct Cursor {
    sort: SortVal,
    key: String,
}

const TOKEN_VERSION: u64 = 1;

/// Parsed query options.
#[derive(Clone, Debug)]
pub struct Query {
    filter: Option<Filter>,
    select: Option<Vec<String>>,
    top: usize,
    order_by: String,
    descending: bool,
    /// `$count=true` was asked.
    pub count: bool,
    after: Option<Cursor>,
    key: String,
    fingerprint: String,
}

const SUPPORTED: &str = "$filter, $select, $top, $orderby, $count, $skiptoken";

impl Query {
    /// Parses the decoded query-string pairs against the entity's description. Parameters not
    /// starting with `$` (`api-version`, ...) are ignored; option names are case-insensitive.
    pub fn parse(pairs: &[(String, String)], spec: &EntitySpec) -> Result<Self, ODataError> {
        let mut seen = HashSet::new();
        let mut q = Query {
            filter: None,
            select: None,
            top: DEFAULT_TOP,
            order_by: spec.key.clone(),
            descending: false,
            count: false,
            after: None,
            key: spec.key.clone(),
            fingerprint: String::new(),
        };
        let mut token = None;
        for (k, v) in pairs {
            if !k.starts_with('$') {
                continue;
            }
            let name = k.to_ascii_lowercase();
            if !seen.insert(name.clone()) {
                return err(format!(
                    "Query option '{k}' was specified more than once, but it must be specified at most once."
                ));
            }
            match name.as_str() {
                "$filter" => {
                    let f = parse_filter(v)?;
                    check_props(&f, spec, &mut Vec::new())?;
                    q.filter = Some(f);
                }
                "$select" => q.select = Some(parse_select(v, spec)?),
                "$top" => {
                    q.top = match v.trim().parse::<usize>() {
                        Ok(n) if (1..=MAX_TOP).contains(&n) => n,
                        _ => {
                            return err(format!(
                                "Invalid value '{v}' for query option '$top': it must be an integer from 1 to {MAX_TOP}."
                            ))
                        }
                    }
                }
                "$orderby" => (q.order_by, q.descending) = parse_orderby(v, spec)?,
                "$count" => {
                    q.count = match v.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return err(format!(
                                "Invalid value '{v}' for query option '$count': it must be true or false."
                            ))
                        }
                    }
                }
                "$skiptoken" => token = Some(v.clone()),
                "$search" => {
                    return err(
                        "Query option '$search' is not supported; use '$filter' with startswith.",
                    )
                }
                _ => {
                    return err(format!(
                        "Query option '{k}' is not supported. Supported query options: {SUPPORTED}."
                    ))
                }
            }
        }
        q.fingerprint = fingerprint(spec, &q);
        if let Some(t) = token {
            q.after = Some(decode_token(&t, &q.fingerprint)?);
        }
        Ok(q)
    }

    /// The parsed `$filter`, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// The `$select` properties (canonical names), if any.
    pub fn select(&self) -> Option<&[String]> {
        self.select.as_deref()
    }

    /// The page size (`$top`, default [`DEFAULT_TOP`]).
    pub fn top(&self) -> usize {
        self.top
    }

    /// The sort property (the key when `$orderby` is absent) and whether it is descending.
    pub fn order_by(&self) -> (&str, bool) {
        (&self.order_by, self.descending)
    }

    /// Whether `$count=true` was asked (the caller then requires `ConsistencyLevel: eventual`).
    pub fn wants_count(&self) -> bool {
        self.count
    }

    /// Lowers the page size to at most `max` (Graph pages lists that `$expand` by 100, whatever
    /// `$top` asks).
    pub fn cap_top(&mut self, max: usize) {
        self.top = self.top.min(max);
    }

    /// Keeps `property` in a `$select`, when there is one (an expansion needs the key).
    pub fn ensure_selected(&mut self, property: &str) {
        if let Some(cols) = &mut self.select {
            if !cols.iter().any(|c| c.eq_ignore_ascii_case(property)) {
                cols.push(property.to_string());
            }
        }
    }

    /// Whether a `$skiptoken` was given (and accepted).
    pub fn has_skiptoken(&self) -> bool {
        self.after.is_some()
    }
}

fn parse_select(v: &str, spec: &EntitySpec) -> Result<Vec<String>, ODataError> {
    let mut cols: Vec<String> = Vec::new();
    for c in v.split(',').map(str::trim) {
        if c.is_empty() {
            return err(format!(
                "Invalid value '{v}' for query option '$select': list property names separated by commas."
            ));
        }
        let canon = spec.canonical(c).ok_or_else(|| spec.unknown(c))?;
        if !cols.iter().any(|x| x == canon) {
            cols.push(canon.to_string());
        }
    }
    Ok(cols)
}

fn parse_orderby(v: &str, spec: &EntitySpec) -> Result<(String, bool), ODataError> {
    if v.contains(',') {
        return err("Query option '$orderby' supports a single property, optionally followed by 'asc' or 'desc'.");
    }
    let mut parts = v.split_whitespace();
    let Some(prop) = parts.next() else {
        return err("Query option '$orderby' is empty: give a property name, optionally followed by 'asc' or 'desc'.");
    };
    let descending = match parts.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return err(format!(
                "Invalid value '{v}' for query option '$orderby': the direction must be 'asc' or 'desc'."
            ))
        }
    };
    if parts.next().is_some() {
        return err(format!(
            "Invalid value '{v}' for query option '$orderby': expected a property name, optionally followed by 'asc' or 'desc'."
        ));
    }
    if spec.canonical(prop).is_none() {
        return Err(spec.unknown(prop));
    }
    match spec.orderable.iter().find(|o| o.eq_ignore_ascii_case(prop)) {
        Some(canon) => Ok((canon.clone(), descending)),
        None if spec.orderable.is_empty() => {
            err(format!("Sorting is not supported on '{}'.", spec.type_name))
        }
        None => err(format!(
            "Sorting by '{prop}' is not supported on '{}'; sortable properties: {}.",
            spec.type_name,
            spec.orderable.join(", ")
        )),
    }
}

/// FNV-1a over what determines the row sequence: entity type, filter and ordering.
fn fingerprint(spec: &EntitySpec, q: &Query) -> String {
    let text = format!(
        "{}|{:?}|{}|{}",
        spec.type_name, q.filter, q.order_by, q.descending
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn decode_token(t: &str, fingerprint: &str) -> Result<Cursor, ODataError> {
    let bad = || {
        ODataError(
            "The '$skiptoken' value is malformed: use the @odata.nextLink exactly as returned."
                .into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(t.trim()).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_u64) != Some(TOKEN_VERSION) {
        return Err(bad());
    }
    let f = v.get("f").and_then(Value::as_str).ok_or_else(bad)?;
    let key = v.get("k").and_then(Value::as_str).ok_or_else(bad)?;
    let sort = v.get("s").ok_or_else(bad)?;
    if f != fingerprint {
        return err("The '$skiptoken' belongs to a different query ($filter or $orderby changed); repeat the request without '$skiptoken'.");
    }
    Ok(Cursor {
        sort: SortVal::of(sort),
        key: key.to_string(),
    })
}

/// Whether the query needs Graph's advanced query capabilities (`ConsistencyLevel: eventual`):
/// `$count=true`, or a filter using `ne`, `not` or `endswith`.
pub fn needs_advanced_query(q: &Query) -> bool {
    q.count || q.filter.as_ref().is_some_and(advanced)
}

/// One page of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The items, projected by `$select`.
    pub items: Vec<Value>,
    /// Total matching rows (before paging) when `$count=true`.
    pub count: Option<usize>,
    /// The `$skiptoken` for the next page, if there is one.
    pub next_skiptoken: Option<String>,
}

fn project(v: Value, cols: &[String]) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| {
                    k.starts_with("@odata.") || cols.iter().any(|c| c.eq_ignore_ascii_case(k))
                })
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// The `$skiptoken` naming `last` (whose key is `key`) as the cursor of `q`'s next page.
fn next_token(q: &Query, last: &Value, key: &str) -> String {
    let sort = get_ci(last, &q.order_by).cloned().unwrap_or(Value::Null);
    let tok = json!({"v": TOKEN_VERSION, "f": q.fingerprint, "s": sort, "k": key});
    URL_SAFE_NO_PAD.encode(tok.to_string())
}

/// `v` as `q`'s `$select` shows it (a copy).
fn project_for(q: &Query, v: &Value) -> Value {
    match (&q.select, v) {
        (Some(cols), Value::Object(o)) => Value::Object(
            o.iter()
                .filter(|(k, _)| {
                    k.starts_with("@odata.") || cols.iter().any(|c| c.eq_ignore_ascii_case(k))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>(),
        ),
        _ => v.clone(),
    }
}

/// Filters, sorts (sort property, then key), pages after the `$skiptoken` cursor and projects
/// rendered entities.
pub fn apply(q: &Query, items: Vec<Value>) -> Result<Page, ODataError> {
    let mut rows: Vec<(SortVal, String, Value)> = items
        .into_iter()
        .filter(|v| q.filter.as_ref().is_none_or(|f| eval(f, v)))
        .map(|v| {
            let sort = SortVal::of(get_ci(&v, &q.order_by).unwrap_or(&Value::Null));
            let key = key_string(get_ci(&v, &q.key));
            (sort, key, v)
        })
        .collect();
    rows.sort_by(|a, b| row_cmp((&a.0, &a.1), (&b.0, &b.1), q.descending));
    let count = q.count.then_some(rows.len());
    let start = q.after.as_ref().map_or(0, |c| {
        rows.partition_point(|r| {
            row_cmp((&r.0, &r.1), (&c.sort, &c.key), q.descending) != Ordering::Greater
        })
    });
    let mut rest: Vec<(SortVal, String, Value)> = rows.into_iter().skip(start).collect();
    let more = rest.len() > q.top;
    rest.truncate(q.top);
    let next_skiptoken = if more {
        rest.last().map(|(_, key, v)| next_token(q, v, key))
    } else {
        None
    };
    let items = rest
        .into_iter()
        .map(|(_, _, v)| match &q.select {
            Some(cols) => project(v, cols),
            None => v,
        })
        .collect();
    Ok(Page {
        items,
        count,
        next_skiptoken,
    })
}

/// The longest accepted `$search`, in characters.
pub const MAX_SEARCH_LEN: usize = 1024;
/// The most `"property:term"` clauses a `$search` may hold.
pub const MAX_SEARCH_CLAUSES: usize = 16;

/// A parsed `$search`: `"property:term"` clauses joined by `AND` / `OR` (`AND` binds tighter,
/// as in Graph). Matching is Graph's tokenised prefix match: the term, ignoring case, starts
/// the value or a word of it (words split at anything not a letter or digit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// Disjunction of conjunctions of `(property, lower-cased term)`.
    any: Vec<Vec<(String, String)>>,
}

/// The properties Graph's `$search` covers on directory objects.
pub const SEARCHABLE: &[&str] = &[
    "displayName",
    "description",
    "mail",
    "mailNickname",
    "userPrincipalName",
    "givenName",
    "surname",
];

/// Parses `$search` text (`"displayName:foo" OR "mail:bar"`) against the entity.
pub fn parse_search(src: &str, spec: &EntitySpec) -> Result<Search, ODataError> {
    let bad = |m: String| Err(ODataError(m));
    if src.chars().count() > MAX_SEARCH_LEN {
        return bad(format!(
            "The '$search' value is longer than {MAX_SEARCH_LEN} characters."
        ));
    }
    let mut any: Vec<Vec<(String, String)>> = vec![Vec::new()];
    let mut clauses = 0usize;
    let mut expect_clause = true;
    let mut rest = src.trim();
    while !rest.is_empty() {
        if expect_clause {
            let Some(body) = rest.strip_prefix('"') else {
                return bad("Syntax error in '$search': each clause is a quoted \"property:term\", for example $search=\"displayName:contoso\".".into());
            };
            let Some(end) = body.find('"') else {
                return bad("Syntax error in '$search': a quote is not closed.".into());
            };
            let clause = body.get(..end).unwrap_or("");
            rest = body.get(end + 1..).unwrap_or("").trim_start();
            let Some((prop, term)) = clause.split_once(':') else {
                return bad(format!(
                    "Syntax error in '$search': '{clause}' is not of the form property:term."
                ));
            };
            let prop = prop.trim();
            let canon = spec
                .canonical(prop)
                .filter(|c| SEARCHABLE.iter().any(|s| s.eq_ignore_ascii_case(c)))
                .ok_or_else(|| {
                    ODataError(format!(
                        "Property '{prop}' cannot be searched on '{}'; searchable properties: {}.",
                        spec.type_name,
                        SEARCHABLE
                            .iter()
                            .filter(|s| spec.canonical(s).is_some())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            clauses += 1;
            if clauses > MAX_SEARCH_CLAUSES {
                return bad(format!(
                    "The '$search' value has more than {MAX_SEARCH_CLAUSES} clauses."
                ));
            }
            if let Some(last) = any.last_mut() {
                last.push((canon.to_string(), term.trim().to_lowercase()));
            }
            expect_clause = false;
        } else {
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match word {
                "AND" => {}
                "OR" => any.push(Vec::new()),
                _ => {
                    return bad(format!(
                        "Syntax error in '$search': expected AND or OR, found '{word}'."
                    ))
                }
            }
            rest = after.trim_start();
            expect_clause = true;
        }
    }
    if expect_clause {
        return bad("Syntax error in '$search': a clause is missing.".into());
    }
    Ok(Search { any })
}

/// Whether a rendered entity matches the search.
pub fn search_matches(s: &Search, entity: &Value) -> bool {
    s.any.iter().any(|all| {
        all.iter().all(|(prop, term)| {
            get_ci(entity, prop)
                .and_then(Value::as_str)
                .is_some_and(|v| word_prefix(&v.to_lowercase(), term))
        })
    })
}

fn word_prefix(value: &str, term: &str) -> bool {
    if term.is_empty() {
        return true;
    }
    let mut prev_alnum = false;
    for (i, ch) in value.char_indices() {
        if !prev_alnum && value.get(i..).is_some_and(|r| r.starts_with(term)) {
            return true;
        }
        prev_alnum = ch.is_alphanumeric();
    }
    false
}

#[cfg(test)]
mod tests;
