//! OData v4 query options as Microsoft Graph uses them: `$filter` parsed into an AST (never
//! string-built into SQL), evaluated over rendered Graph JSON; `$select`, `$orderby`, `$top`,
//! `$count`, and an opaque keyset `$skiptoken` that stays correct while rows are inserted.
//!
//! Bounds: a filter is at most 4096 characters, 32 levels deep, 100 `in` values.

use std::cmp::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// A query-option error; the message names the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ODataError(String);

impl ODataError {
    /// The message for Graph's error body.
    pub fn message(&self) -> String {
        self.0.clone()
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, ODataError> {
    Err(ODataError(m.into()))
}

const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;
const MAX_IN: usize = 100;

/// What the caller's entity type allows.
#[derive(Clone, Debug)]
pub struct EntitySpec {
    type_name: String,
    properties: Vec<String>,
    orderable: Vec<String>,
    key: String,
}

impl EntitySpec {
    /// `type_name` for messages (`microsoft.graph.user`), the rendered properties, those allowed
    /// in `$orderby`, and the key property.
    pub fn new(type_name: &str, properties: &[&str], orderable: &[&str], key: &str) -> Self {
        Self {
            type_name: type_name.into(),
            properties: properties.iter().map(|s| (*s).to_string()).collect(),
            orderable: orderable.iter().map(|s| (*s).to_string()).collect(),
            key: key.into(),
        }
    }
    fn knows(&self, p: &str) -> bool {
        self.properties.iter().any(|x| x.eq_ignore_ascii_case(p))
    }
    fn canonical(&self, p: &str) -> Option<String> {
        self.properties
            .iter()
            .find(|x| x.eq_ignore_ascii_case(p))
            .cloned()
    }
    fn unknown(&self, p: &str) -> ODataError {
        ODataError(format!(
            "Could not find a property named '{p}' on type '{}'.",
            self.type_name
        ))
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `'text'`
    Str(String),
    /// A number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A bare GUID.
    Guid(String),
    /// A bare RFC 3339 datetime.
    DateTime(i64),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// eq
    Eq,
    /// ne
    Ne,
    /// gt
    Gt,
    /// ge
    Ge,
    /// lt
    Lt,
    /// le
    Le,
}

/// An operand: a property path or a literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// `a/b/c` (the first segment may be a lambda variable).
    Path(Vec<String>),
    /// A literal.
    Lit(Lit),
}

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not a`
    Not(Box<Filter>),
    /// `x op y`
    Cmp(Operand, Op, Operand),
    /// `x in (...)`
    In(Operand, Vec<Lit>),
    /// `startswith(x, 'y')` (true) or `endswith(x, 'y')` (false).
    Starts(bool, Operand, Operand),
    /// `path/any(v: expr)`
    Any(Vec<String>, String, Box<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Guid(String),
    DateTime(i64),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ODataError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push((start, Tok::LParen));
                i += 1
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1
            }
            ':' => {
                out.push((start, Tok::Colon));
                i += 1
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(format!("Syntax error at position {start} in '$filter': unterminated string literal.")),
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
                out.push((start, Tok::Str(s)));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_alphanumeric()
                        || "_./-+@$".contains(ch)
                        || (ch == ':' && w.len() >= 13 && w.contains('T'))
                    {
                        w.push(ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                if w.is_empty() {
                    return err(format!("Syntax error at position {start} in '$filter': unexpected character '{c}'."));
                }
                let tok = if is_guid(&w) {
                    Tok::Guid(w.to_ascii_lowercase())
                } else if let Ok(d) = chrono::DateTime::parse_from_rfc3339(&w) {
                    Tok::DateTime(d.timestamp_millis())
                } else if w
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '-')
                {
                    match w.parse::<f64>() {
                        Ok(n) => Tok::Num(n),
                        Err(_) => return err(format!("Syntax error at position {start} in '$filter': '{w}' is not a number, GUID or date-time.")),
                    }
                } else {
                    Tok::Ident(w)
                };
                out.push((start, tok));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    src: &'a str,
    vars: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |(p, _)| *p)
    }
    fn fail<T>(&self, what: &str) -> Result<T, ODataError> {
        err(format!(
            "Syntax error at position {} in '$filter': {what}.",
            self.at()
        ))
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(k))
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ODataError> {
        if self.peek() == Some(t) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(&format!("expected {what}"))
        }
    }
    fn or(&mut self, depth: usize) -> Result<Filter, ODataError> {
        if depth > MAX_DEPTH {
            return err(format!(
                "The '$filter' is nested more than {MAX_DEPTH} levels deep."
            ));
        }
        let mut l = self.and(depth)?;
        while self.keyword("or") {
            self.pos += 1;
            let r = self.and(depth)?;
            l = Filter::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self, depth: usize) -> Result<Filter, ODataError> {
        let mut l = self.unary(depth)?;
        while self.keyword("and") {
            self.pos += 1;
            let r = self.unary(depth)?;
            l = Filter::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self, depth: usize) -> Result<Filter, ODataError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or(depth + 1)?;
            self.expect(&Tok::RParen, "')'")?;
            return Ok(e);
        }
        for (name, starts) in [("startswith", true), ("endswith", false)] {
            if self.keyword(name)
                && self.toks.get(self.pos + 1).map(|(_, t)| t) == Some(&Tok::LParen)
            {
                self.pos += 2;
                let a = self.operand()?;
                self.expect(&Tok::Comma, "','")?;
                let b = self.operand()?;
                self.expect(&Tok::RParen, "')'")?;
                return Ok(Filter::Starts(starts, a, b));
            }
        }
        if self.keyword("contains") {
            return err("The 'contains' function is not supported on directory objects; use startswith (or $search, which is not supported here).");
        }
        let left = self.operand()?;
        // Lambda: path/any(v: expr)
        if let Operand::Path(p) = &left {
            if p.last()
                .is_some_and(|s| s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all"))
                && self.peek() == Some(&Tok::LParen)
            {
                let Some((last, path)) = p.split_last() else {
                    return self.fail("expected a property");
                };
                if last.eq_ignore_ascii_case("all") {
                    return err("The lambda operator 'all' is not supported; use 'any'.");
                }
                self.pos += 1;
                let var = match self.peek() {
                    Some(Tok::Ident(v)) => v.clone(),
                    _ => return self.fail("expected a lambda variable name after 'any('"),
                };
                self.pos += 1;
                self.expect(&Tok::Colon, "':' after the lambda variable")?;
                self.vars.push(var.clone());
                let body = self.or(depth + 1)?;
                self.vars.pop();
                self.expect(&Tok::RParen, "')' closing 'any('")?;
                return Ok(Filter::Any(path.to_vec(), var, Box::new(body)));
            }
        }
        if self.keyword("in") {
            self.pos += 1;
            self.expect(&Tok::LParen, "'(' after 'in'")?;
            let mut vals = Vec::new();
            loop {
                match self.operand()? {
                    Operand::Lit(l) => vals.push(l),
                    Operand::Path(_) => return self.fail("expected a literal in the 'in' list"),
                }
                if vals.len() > MAX_IN {
                    return err(format!("An 'in' list may hold at most {MAX_IN} values."));
                }
                match self.peek() {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail("expected ',' or ')' in the 'in' list"),
                }
            }
            return Ok(Filter::In(left, vals));
        }
        let op = match self.peek() {
            Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => {
                    return self.fail(&format!(
                        "expected an operator (eq, ne, gt, ge, lt, le, in) but found '{other}'"
                    ))
                }
            },
            None => return self.fail(
                "expected an operator (eq, ne, gt, ge, lt, le, in) at the end of the expression",
            ),
            _ => return self.fail("expected an operator (eq, ne, gt, ge, lt, le, in)"),
        };
        self.pos += 1;
        if self.peek().is_none() {
            return self.fail("expected a value after the operator");
        }
        let right = self.operand()?;
        Ok(Filter::Cmp(left, op, right))
    }
    fn operand(&mut self) -> Result<Operand, ODataError> {
        let t = match self.peek() {
            Some(t) => t.clone(),
            None => return self.fail("expected a property or a value"),
        };
        self.pos += 1;
        Ok(match t {
            Tok::Str(s) => Operand::Lit(Lit::Str(s)),
            Tok::Num(n) => Operand::Lit(Lit::Num(n)),
            Tok::Guid(g) => Operand::Lit(Lit::Guid(g)),
            Tok::DateTime(d) => Operand::Lit(Lit::DateTime(d)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Operand::Lit(Lit::Bool(true)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Operand::Lit(Lit::Bool(false)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("null") => Operand::Lit(Lit::Null),
            Tok::Ident(w) => Operand::Path(w.split('/').map(str::to_string).collect()),
            _ => {
                self.pos -= 1;
                return self.fail("expected a property or a value");
            }
        })
    }
}

/// Parses a `$filter`.
pub fn parse_filter(src: &str) -> Result<Filter, ODataError> {
    if src.chars().count() > MAX_LEN {
        return err(format!(
            "The '$filter' is longer than {MAX_LEN} characters."
        ));
    }
    if src.trim().is_empty() {
        return err("The '$filter' is empty.");
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        src,
        vars: vec![],
    };
    let f = p.or(0)?;
    if p.pos < p.toks.len() {
        return p.fail("unexpected text after the end of the expression");
    }
    Ok(f)
}

fn check_props(f: &Filter, spec: &EntitySpec, vars: &mut Vec<String>) -> Result<(), ODataError> {
    let check_op = |o: &Operand, vars: &Vec<String>| -> Result<(), ODataError> {
        if let Operand::Path(p) = o {
            let first = p.first().map(String::as_str).unwrap_or("");
            if !vars.iter().any(|v| v == first) && !spec.knows(first) {
                return Err(spec.unknown(first));
            }
        }
        Ok(())
    };
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_props(a, spec, vars)?;
            check_props(b, spec, vars)
        }
        Filter::Not(a) => check_props(a, spec, vars),
        Filter::Cmp(a, _, b) | Filter::Starts(_, a, b) => {
            check_op(a, vars)?;
            check_op(b, vars)
        }
        Filter::In(a, _) => check_op(a, vars),
        Filter::Any(path, v, body) => {
            check_op(&Operand::Path(path.clone()), vars)?;
            vars.push(v.clone());
            let r = check_props(body, spec, vars);
            vars.pop();
            r
        }
    }
}

fn advanced(f: &Filter) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => advanced(a) || advanced(b),
        Filter::Not(_) => true,
        Filter::Cmp(_, Op::Ne, _) => true,
        Filter::Starts(false, _, _) => true,
        Filter::Any(_, _, b) => advanced(b),
        _ => false,
    }
}

fn resolve<'v>(
    obj: &'v Value,
    path: &[String],
    bound: &[(String, &'v Value)],
) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = match bound.iter().rev().find(|(n, _)| n == first) {
        Some((_, v)) => *v,
        None => get_ci(obj, first)?,
    };
    for seg in rest {
        cur = get_ci(cur, seg)?;
    }
    Some(cur)
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn lit_value(l: &Lit) -> Value {
    match l {
        Lit::Str(s) | Lit::Guid(s) => Value::String(s.clone()),
        Lit::Num(n) => json!(n),
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Null => Value::Null,
        Lit::DateTime(ms) => json!({"$dt": ms}),
    }
}

fn as_millis(v: &Value) -> Option<i64> {
    if let Some(ms) = v.get("$dt").and_then(Value::as_i64) {
        return Some(ms);
    }
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis())
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => as_millis(a).zip(as_millis(b)).map(|(x, y)| x.cmp(&y)),
    }
}

fn operand_value<'v>(o: &Operand, obj: &'v Value, bound: &[(String, &'v Value)]) -> Value {
    match o {
        Operand::Lit(l) => lit_value(l),
        Operand::Path(p) => resolve(obj, p, bound).cloned().unwrap_or(Value::Null),
    }
}

fn eval_in<'v>(f: &Filter, obj: &'v Value, bound: &mut Vec<(String, &'v Value)>) -> bool {
    match f {
        Filter::And(a, b) => eval_in(a, obj, bound) && eval_in(b, obj, bound),
        Filter::Or(a, b) => eval_in(a, obj, bound) || eval_in(b, obj, bound),
        Filter::Not(a) => !eval_in(a, obj, bound),
        Filter::Cmp(a, op, b) => {
            let (x, y) = (operand_value(a, obj, bound), operand_value(b, obj, bound));
            let c = compare(&x, &y);
            match op {
                Op::Eq => c == Some(Ordering::Equal),
                Op::Ne => c != Some(Ordering::Equal),
                Op::Gt => c == Some(Ordering::Greater),
                Op::Ge => matches!(c, Some(Ordering::Greater | Ordering::Equal)),
                Op::Lt => c == Some(Ordering::Less),
                Op::Le => matches!(c, Some(Ordering::Less | Ordering::Equal)),
            }
        }
        Filter::In(a, vals) => {
            let x = operand_value(a, obj, bound);
            vals.iter()
                .any(|l| compare(&x, &lit_value(l)) == Some(Ordering::Equal))
        }
        Filter::Starts(starts, a, b) => {
            let (x, y) = (operand_value(a, obj, bound), operand_value(b, obj, bound));
            match (x.as_str(), y.as_str()) {
                (Some(x), Some(y)) => {
                    let (x, y) = (x.to_lowercase(), y.to_lowercase());
                    if *starts {
                        x.starts_with(&y)
                    } else {
                        x.ends_with(&y)
                    }
                }
                _ => false,
            }
        }
        Filter::Any(path, var, body) => {
            let Some(coll) = resolve(obj, path, bound).and_then(Value::as_array) else {
                return false;
            };
            coll.iter().any(|item| {
                bound.push((var.clone(), item));
                let r = eval_in(body, obj, bound);
                bound.pop();
                r
            })
        }
    }
}

/// Evaluates a filter over a rendered entity.
pub fn eval(f: &Filter, obj: &Value) -> bool {
    eval_in(f, obj, &mut Vec::new())
}

/// Parsed query options.
#[derive(Clone, Debug)]
pub struct Query {
    filter: Option<Filter>,
    filter_text: String,
    select: Option<Vec<String>>,
    top: usize,
    order_by: String,
    descending: bool,
    /// `$count=true` was asked.
    pub count: bool,
    skiptoken: Option<String>,
    key: String,
}

impl Query {
    /// Parses the decoded query-string pairs against the entity's description.
    pub fn parse(pairs: &[(String, String)], spec: &EntitySpec) -> Result<Self, ODataError> {
        let mut seen = std::collections::HashSet::new();
        let mut q = Query {
            filter: None,
            filter_text: String::new(),
            select: None,
            top: 100,
            order_by: spec.key.clone(),
            descending: false,
            count: false,
            skiptoken: None,
            key: spec.key.clone(),
        };
        for (k, v) in pairs {
            if !k.starts_with('$') {
                continue;
            }
            let name = k.to_ascii_lowercase();
            if !seen.insert(name.clone()) {
                return err(format!("Query option '{k}' was specified more than once; it must be specified at most once."));
            }
            match name.as_str() {
                "$filter" => {
                    let f = parse_filter(v)?;
                    check_props(&f, spec, &mut Vec::new())?;
                    q.filter = Some(f);
                    q.filter_text = v.clone();
                }
                "$select" => {
                    let mut cols = Vec::new();
                    for c in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                        cols.push(spec.canonical(c).ok_or_else(|| spec.unknown(c))?);
                    }
                    if cols.is_empty() {
                        return err("'$select' is empty; list properties separated by commas.");
                    }
                    q.select = Some(cols);
                }
                "$top" => match v.trim().parse::<usize>() {
                    Ok(n) if (1..=999).contains(&n) => q.top = n,
                    _ => return err(format!("Invalid value '{v}' for '$top': use a whole number from 1 to 999.")),
                },
                "$orderby" => {
                    let mut parts = v.split_whitespace();
                    let prop = parts.next().unwrap_or("");
                    let dir = parts.next().map(str::to_ascii_lowercase);
                    if parts.next().is_some() || v.contains(',') {
                        return err("'$orderby' supports a single property, optionally followed by 'asc' or 'desc'.");
                    }
                    let canon = spec.orderable.iter().find(|o| o.eq_ignore_ascii_case(prop)).cloned();
                    let Some(canon) = canon else {
                        return err(format!("Sorting by '{prop}' is not supported on '{}'; use one of: {}.", spec.type_name, spec.orderable.join(", ")));
                    };
                    q.order_by = canon;
                    q.descending = match dir.as_deref() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(d) => return err(format!("Invalid sort direction '{d}' in '$orderby': use asc or desc.")),
                    };
                }
                "$count" => match v.to_ascii_lowercase().as_str() {
                    "true" => q.count = true,
                    "false" => q.count = false,
                    _ => return err(format!("Invalid value '{v}' for '$count': use true or false.")),
                },
                "$skiptoken" => q.skiptoken = Some(v.clone()),
                "$search" => return err("'$search' is not supported; use '$filter' with startswith."),
                other => return err(format!("Query option '{other}' is not supported. Supported: $filter, $select, $top, $orderby, $count, $skiptoken.")),
            }
        }
        Ok(q)
    }

    fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in format!("{}|{}|{}", self.filter_text, self.order_by, self.descending).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{h:016x}")
    }
}

/// Whether the query needs Graph's advanced query capabilities (`ConsistencyLevel: eventual`).
pub fn needs_advanced_query(q: &Query) -> bool {
    q.count || q.filter.as_ref().is_some_and(advanced)
}

/// One page of results.
#[derive(Clone, Debug)]
pub struct Page {
    /// The items, projected.
    pub items: Vec<Value>,
    /// Total matches when `$count=true`.
    pub count: Option<usize>,
    /// The token for the next page, if there is one.
    pub next_skiptoken: Option<String>,
}

fn sort_key(v: &Value, prop: &str) -> Value {
    get_ci(v, prop).cloned().unwrap_or(Value::Null)
}

fn key_cmp(a: &(Value, String), b: &(Value, String), desc: bool) -> Ordering {
    let primary = match (&a.0, &b.0) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (x, y) => compare(x, y).unwrap_or(Ordering::Equal),
    };
    let primary = if desc { primary.reverse() } else { primary };
    primary.then_with(|| a.1.cmp(&b.1))
}

/// Filters, sorts, pages and projects rendered items.
pub fn apply(q: &Query, items: Vec<Value>) -> Result<Page, ODataError> {
    let mut rows: Vec<((Value, String), Value)> = items
        .into_iter()
        .filter(|v| q.filter.as_ref().is_none_or(|f| eval(f, v)))
        .map(|v| {
            (
                (
                    sort_key(&v, &q.order_by),
                    get_ci(&v, &q.key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ),
                v,
            )
        })
        .collect();
    rows.sort_by(|a, b| key_cmp(&a.0, &b.0, q.descending));
    let count = q.count.then_some(rows.len());
    if let Some(tok) = &q.skiptoken {
        let bad = || {
            ODataError(
                "The '$skiptoken' is not valid: use the @odata.nextLink exactly as returned."
                    .into(),
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(tok.trim()).map_err(|_| bad())?;
        let t: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if t.get("f").and_then(Value::as_str) != Some(q.fingerprint().as_str()) {
            return err("The '$skiptoken' belongs to a different query ($filter or $orderby changed); start again without it.");
        }
        let after = (
            t.get("k").cloned().unwrap_or(Value::Null),
            t.get("i")
                .and_then(Value::as_str)
                .ok_or_else(bad)?
                .to_string(),
        );
        rows.retain(|(k, _)| key_cmp(k, &after, q.descending) == Ordering::Greater);
    }
    let more = rows.len() > q.top;
    rows.truncate(q.top);
    let next_skiptoken = if more {
        rows.last().map(|((k, i), _)| {
            URL_SAFE_NO_PAD.encode(json!({"k": k, "i": i, "f": q.fingerprint()}).to_string())
        })
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|(_, v)| match &q.select {
            None => v,
            Some(cols) => {
                let mut m = Map::new();
                if let Some(o) = v.as_object() {
                    for (k, val) in o {
                        if k.starts_with("@odata.") || cols.iter().any(|c| c == k) {
                            m.insert(k.clone(), val.clone());
                        }
                    }
                }
                Value::Object(m)
            }
        })
        .collect();
    Ok(Page {
        items,
        count,
        next_skiptoken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EntitySpec {
        EntitySpec::new(
            "microsoft.graph.user",
            &[
                "id",
                "displayName",
                "department",
                "accountEnabled",
                "identifierUris",
                "createdDateTime",
                "groupTypes",
                "passwordProfile",
            ],
            &["displayName"],
            "id",
        )
    }
    fn user(id: &str, name: &str, dept: Option<&str>) -> Value {
        json!({"id": id, "displayName": name, "department": dept, "accountEnabled": true, "identifierUris": ["api://A", "https://b"], "createdDateTime": "2024-05-01T00:00:00Z", "groupTypes": [], "passwordProfile": {"forceChangePasswordNextSignIn": true}})
    }
    fn ok(f: &str, v: &Value) -> bool {
        eval(&parse_filter(f).unwrap(), v)
    }

    #[test]
    fn operators_and_case_insensitivity() {
        let u = user("1", "Alex Wilber", Some("Sales"));
        assert!(ok("displayName eq 'alex wilber'", &u));
        assert!(ok("DisplayName EQ 'ALEX WILBER'", &u));
        assert!(ok("department ne 'HR'", &u));
        assert!(ok("startswith(displayName,'al')", &u));
        assert!(ok("endswith(displayName,'BER')", &u));
        assert!(ok("department in ('hr', 'sales')", &u));
        assert!(!ok("department in ('hr')", &u));
        assert!(ok("accountEnabled eq true", &u));
        assert!(ok("not (accountEnabled eq false)", &u));
        assert!(ok("identifierUris/any(x:x eq 'api://a')", &u));
        assert!(ok("identifierUris/any(x:startswith(x,'https:'))", &u));
        assert!(!ok("groupTypes/any(c:c eq 'Unified')", &u));
        assert!(ok(
            "createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime lt 2025-01-01T00:00:00Z",
            &u
        ));
        assert!(ok(
            "passwordProfile/forceChangePasswordNextSignIn eq true",
            &u
        ));
        assert!(ok("department eq null", &user("2", "x", None)));
        assert!(ok("id eq '1' or id eq '9'", &u));
        assert!(ok("displayName eq 'O''Neil'", &user("3", "o'neil", None)));
        // Precedence: not > and > or.
        assert!(ok("id eq '9' and id eq '9' or id eq '1'", &u));
        assert!(!ok("id eq '9' and (id eq '9' or id eq '1')", &u));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = |f: &str| {
            parse_filter(f)
                .err()
                .map(|e| e.message())
                .unwrap_or_default()
        };
        assert!(e("department eq").contains("expected a value"));
        assert!(e("department xx 'a'").contains("expected an operator"));
        assert!(e("'unterminated").contains("unterminated"));
        assert!(e("contains(displayName,'a')").contains("contains"));
        assert!(e("(a eq 'b'").contains("')'"));
        assert!(e(&"(".repeat(40)).contains("nested"));
        assert!(e(&"a".repeat(5000)).contains("longer"));
        let pairs = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(Query::parse(&pairs("$filter", "nope eq 'x'"), &spec())
            .unwrap_err()
            .message()
            .contains("'nope'"));
        assert!(Query::parse(&pairs("$select", "nope"), &spec()).is_err());
        assert!(Query::parse(&pairs("$top", "0"), &spec()).is_err());
        assert!(Query::parse(&pairs("$top", "1000"), &spec()).is_err());
        assert!(Query::parse(&pairs("$orderby", "department"), &spec()).is_err());
        assert!(Query::parse(&pairs("$expand", "manager"), &spec()).is_err());
        assert!(Query::parse(&pairs("$search", "x"), &spec()).is_err());
        let dup = vec![
            ("$top".to_string(), "1".to_string()),
            ("$TOP".to_string(), "2".to_string()),
        ];
        assert!(Query::parse(&dup, &spec()).is_err());
        assert!(Query::parse(&pairs("api-version", "x"), &spec()).is_ok());
    }

    #[test]
    fn paging_is_keyset_and_survives_inserts() {
        let mut items: Vec<Value> = (0..10)
            .map(|i| user(&format!("{i:02}"), &format!("n{}", 9 - i), None))
            .collect();
        let pairs = vec![
            ("$top".to_string(), "3".to_string()),
            ("$orderby".to_string(), "displayName desc".to_string()),
        ];
        let mut q = Query::parse(&pairs, &spec()).unwrap();
        let mut seen = Vec::new();
        let mut inserted = false;
        loop {
            let p = apply(&q, items.clone()).unwrap();
            seen.extend(
                p.items
                    .iter()
                    .map(|v| v["displayName"].as_str().unwrap().to_string()),
            );
            if !inserted {
                items.push(user("99", "n5x", None));
                inserted = true;
            }
            match p.next_skiptoken {
                Some(t) => q.skiptoken = Some(t),
                None => break,
            }
        }
        for i in 0..10 {
            assert_eq!(
                seen.iter().filter(|s| **s == format!("n{i}")).count(),
                1,
                "{seen:?}"
            );
        }
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted);
        // A token from another query is refused.
        let other = vec![
            ("$filter".to_string(), "displayName ne 'x'".to_string()),
            ("$skiptoken".to_string(), q.skiptoken.clone().unwrap()),
        ];
        assert!(apply(&Query::parse(&other, &spec()).unwrap(), items.clone()).is_err());
        let bad = vec![("$skiptoken".to_string(), "garbage!".to_string())];
        assert!(apply(&Query::parse(&bad, &spec()).unwrap(), items).is_err());
    }

    #[test]
    fn select_count_and_advanced() {
        let items = vec![user("1", "a", Some("x")), user("2", "b", Some("y"))];
        let pairs = vec![
            ("$select".to_string(), "displayName".to_string()),
            ("$count".to_string(), "true".to_string()),
            ("$filter".to_string(), "department ne 'z'".to_string()),
        ];
        let q = Query::parse(&pairs, &spec()).unwrap();
        assert!(needs_advanced_query(&q));
        let p = apply(&q, items).unwrap();
        assert_eq!(p.count, Some(2));
        assert_eq!(p.items[0], json!({"displayName": "a"}));
        let q = Query::parse(
            &[("$filter".to_string(), "displayName eq 'a'".to_string())],
            &spec(),
        )
        .unwrap();
        assert!(!needs_advanced_query(&q));
    }

    #[test]
    fn never_panics_on_junk() {
        for s in [
            "",
            ")",
            "((",
            "a/any(",
            "a/any(x",
            "a/any(x:",
            "a in (",
            "a in ()",
            "not",
            "eq eq eq",
            "'",
            "a eq 1.2.3",
            "startswith(",
            "x/all(y:y eq 1)",
            "\u{0}",
            "a eq 2024-13-45T99:99:99Z",
        ] {
            let _ = parse_filter(s);
        }
    }
}
