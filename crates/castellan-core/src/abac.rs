//! Role-assignment conditions (Azure ABAC, `conditionVersion` 2.0), pure: a parser for the
//! expression language and an evaluator over the request's attributes.
//!
//! Supported: `AND` / `OR` (case-insensitive; AND binds tighter), `!` / `NOT`, parentheses,
//! `ActionMatches{'pattern'}` and `SubOperationMatches{'name'}`, and comparisons
//! `@Resource[…]`, `@Request[…]`, `@Principal[…]`, `@Environment[…]` against a string literal
//! or a `{'a', 'b'}` set with `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//! `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `StringStartsWith`,
//! `StringNotStartsWith` (a set matches if any member does; the `Not` forms hold if none does).
//! An attribute the request does not carry makes a positive comparison false and a negated one
//! true, so a condition such as "container name equals 'x'" never grants on a request without
//! a container.

use crate::azure_rbac::op_matches;

/// Where an attribute comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `@Resource`.
    Resource,
    /// `@Request`.
    Request,
    /// `@Principal`.
    Principal,
    /// `@Environment`.
    Environment,
}

/// A string operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringOp {
    /// Exact, case-sensitive.
    Equals,
    /// Case-insensitive.
    EqualsIgnoreCase,
    /// `*` and `?` wildcards, case-sensitive.
    Like,
    /// Prefix, case-sensitive.
    StartsWith,
}

/// A parsed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Both.
    And(Box<Condition>, Box<Condition>),
    /// Either.
    Or(Box<Condition>, Box<Condition>),
    /// Negation.
    Not(Box<Condition>),
    /// The requested operation matches the pattern.
    ActionMatches(String),
    /// The request's sub-operation is this.
    SubOperationMatches(String),
    /// A comparison.
    Compare {
        /// Attribute source.
        source: Source,
        /// Attribute name, e.g. `Microsoft.Storage/storageAccounts/blobServices/containers:name`.
        attribute: String,
        /// Operator.
        op: StringOp,
        /// `Not` form.
        negated: bool,
        /// Values (one, or a set).
        values: Vec<String>,
    },
}

/// The request as a condition sees it.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    /// The operation being decided.
    pub action: String,
    /// Its sub-operation, if any.
    pub sub_operation: Option<String>,
    /// `(source, attribute name, value)`; names compare case-insensitively.
    pub values: Vec<(Source, String, String)>,
}

impl Attributes {
    fn get(&self, source: Source, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(s, n, _)| *s == source && n.eq_ignore_ascii_case(name))
            .map(|(_, _, v)| v.as_str())
    }
}

/// Attributes a blob-service scope carries: the container name and the blob path, derived from
/// `…/blobServices/default/containers/{name}[/blobs/{path}]`.
pub fn storage_attributes(scope: &str) -> Vec<(Source, String, String)> {
    let mut out = Vec::new();
    let lower = scope.to_ascii_lowercase();
    if let Some(i) = lower.find("/containers/") {
        let rest = scope.get(i + "/containers/".len()..).unwrap_or("");
        let (container, tail) = rest.split_once('/').unwrap_or((rest, ""));
        out.push((
            Source::Resource,
            "Microsoft.Storage/storageAccounts/blobServices/containers:name".to_string(),
            container.to_string(),
        ));
        let tl = tail.to_ascii_lowercase();
        if let Some(path) = tl
            .strip_prefix("blobs/")
            .map(|_| tail.get(6..).unwrap_or(""))
        {
            out.push((
                Source::Resource,
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path".to_string(),
                path.to_string(),
            ));
        }
    }
    out
}

/// Why a condition did not parse: the position (in characters) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Character offset.
    pub at: usize,
    /// Message.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: {}", self.at, self.message)
    }
}

/// Parses a condition (version 2.0).
pub fn parse(text: &str) -> Result<Condition, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { s: &chars, i: 0 };
    let c = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("unexpected text after the end of the expression"));
    }
    Ok(c)
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, m: &str) -> ParseError {
        ParseError {
            at: self.i,
            message: m.to_string(),
        }
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
    fn keyword(&mut self, k: &str) -> bool {
        self.ws();
        let n = k.chars().count();
        let Some(slice) = self.s.get(self.i..self.i + n) else {
            return false;
        };
        let word: String = slice.iter().collect();
        let boundary = self
            .s
            .get(self.i + n)
            .is_none_or(|c| !c.is_alphanumeric() && *c != '_');
        if word.eq_ignore_ascii_case(k) && boundary {
            self.i += n;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Condition, ParseError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Condition, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            let right = self.unary()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Condition, ParseError> {
        self.ws();
        if self.peek() == Some('!') {
            self.i += 1;
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some('(') {
            self.i += 1;
            let c = self.or()?;
            self.ws();
            if self.peek() != Some(')') {
                return Err(self.err("expected ')'"));
            }
            self.i += 1;
            return Ok(c);
        }
        if self.keyword("ActionMatches") {
            return Ok(Condition::ActionMatches(self.braced_literal()?));
        }
        if self.keyword("SubOperationMatches") {
            return Ok(Condition::SubOperationMatches(self.braced_literal()?));
        }
        if self.peek() == Some('@') {
            return self.compare();
        }
        Err(self.err(
            "expected '(', '!', ActionMatches{…}, SubOperationMatches{…} or an @Resource/@Request/@Principal/@Environment attribute",
        ))
    }
    fn braced_literal(&mut self) -> Result<String, ParseError> {
        self.ws();
        if self.peek() != Some('{') {
            return Err(self.err("expected '{'"));
        }
        self.i += 1;
        let v = self.literal()?;
        self.ws();
        if self.peek() != Some('}') {
            return Err(self.err("expected '}'"));
        }
        self.i += 1;
        Ok(v)
    }
    fn literal(&mut self) -> Result<String, ParseError> {
        self.ws();
        if self.peek() != Some('\'') {
            return Err(self.err("expected a string literal in single quotes"));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string literal")),
                Some('\'') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
    fn compare(&mut self) -> Result<Condition, ParseError> {
        self.i += 1; // '@'
        let source = if self.keyword("Resource") {
            Source::Resource
        } else if self.keyword("Request") {
            Source::Request
        } else if self.keyword("Principal") {
            Source::Principal
        } else if self.keyword("Environment") {
            Source::Environment
        } else {
            return Err(self.err("expected Resource, Request, Principal or Environment after '@'"));
        };
        if self.peek() != Some('[') {
            return Err(self.err("expected '[' and an attribute name"));
        }
        self.i += 1;
        let mut attribute = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated attribute name")),
                Some(']') => {
                    self.i += 1;
                    break;
                }
                Some(c) => {
                    attribute.push(c);
                    self.i += 1;
                }
            }
        }
        let attribute = attribute.trim().to_string();
        if attribute.is_empty() {
            return Err(self.err("empty attribute name"));
        }
        self.ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '_')
        {
            self.i += 1;
        }
        let word: String = self.s.get(start..self.i).unwrap_or(&[]).iter().collect();
        let (op, negated) = match word.to_ascii_lowercase().as_str() {
            "stringequals" => (StringOp::Equals, false),
            "stringnotequals" => (StringOp::Equals, true),
            "stringequalsignorecase" => (StringOp::EqualsIgnoreCase, false),
            "stringnotequalsignorecase" => (StringOp::EqualsIgnoreCase, true),
            "stringlike" => (StringOp::Like, false),
            "stringnotlike" => (StringOp::Like, true),
            "stringstartswith" => (StringOp::StartsWith, false),
            "stringnotstartswith" => (StringOp::StartsWith, true),
            _ => {
                self.i = start;
                return Err(self.err(&format!(
                    "unsupported operator '{word}' (supported: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, StringStartsWith, StringNotStartsWith)"
                )));
            }
        };
        self.ws();
        let values = if self.peek() == Some('{') {
            self.i += 1;
            let mut vs = vec![self.literal()?];
            loop {
                self.ws();
                match self.peek() {
                    Some(',') => {
                        self.i += 1;
                        vs.push(self.literal()?);
                    }
                    Some('}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}' in a value set")),
                }
            }
            vs
        } else {
            vec![self.literal()?]
        };
        Ok(Condition::Compare {
            source,
            attribute,
            op,
            negated,
            values,
        })
    }
}

fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|k| v.get(k..).is_some_and(|t| go(rest, t))),
            Some(('?', rest)) => v.split_first().is_some_and(|(_, t)| go(rest, t)),
            Some((c, rest)) => v.split_first().is_some_and(|(d, t)| d == c && go(rest, t)),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

/// Evaluates a condition for a request.
pub fn evaluate(c: &Condition, a: &Attributes) -> bool {
    match c {
        Condition::And(l, r) => evaluate(l, a) && evaluate(r, a),
        Condition::Or(l, r) => evaluate(l, a) || evaluate(r, a),
        Condition::Not(x) => !evaluate(x, a),
        Condition::ActionMatches(p) => op_matches(p, &a.action),
        Condition::SubOperationMatches(s) => a
            .sub_operation
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(s)),
        Condition::Compare {
            source,
            attribute,
            op,
            negated,
            values,
        } => {
            let Some(v) = a.get(*source, attribute) else {
                return *negated;
            };
            let any = values.iter().any(|want| match op {
                StringOp::Equals => v == want,
                StringOp::EqualsIgnoreCase => v.eq_ignore_ascii_case(want),
                StringOp::Like => like(want, v),
                StringOp::StartsWith => v.starts_with(want.as_str()),
            });
            any != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";
    const SCOPE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/docs/blobs/reports/q1.txt";

    fn attrs(action: &str, scope: &str) -> Attributes {
        Attributes {
            action: action.into(),
            sub_operation: None,
            values: storage_attributes(scope),
        }
    }

    #[test]
    fn the_portal_shaped_container_condition_parses_and_decides() {
        let text = "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'docs'))";
        let c = parse(text).unwrap();
        assert!(evaluate(&c, &attrs(READ, SCOPE)));
        let other = SCOPE.replace("/containers/docs/", "/containers/secret/");
        assert!(!evaluate(&c, &attrs(READ, &other)));
        // Not a read: the condition does not restrict it.
        assert!(evaluate(
            &c,
            &attrs(
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                &other
            )
        ));
    }

    #[test]
    fn blob_path_and_operators() {
        let a = attrs(READ, SCOPE);
        let cases = [
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith 'reports/'", true),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringNotStartsWith 'reports/'", false),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike 'reports/*.txt'", true),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike 'reports/q?.txt'", true),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike '*.pdf'", false),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'DOCS'", false),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEqualsIgnoreCase 'DOCS'", true),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals {'a', 'docs'}", true),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals {'a', 'docs'}", false),
            ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] stringnotequals 'x' and ActionMatches{'*/read'}", true),
            ("NOT ActionMatches{'*/read'} or ActionMatches{'*/write'}", false),
            // Missing attribute: positive false, negated true.
            ("@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:versionId] StringEquals '1'", false),
            ("@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:versionId] StringNotEquals '1'", true),
        ];
        for (text, want) in cases {
            let c = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(evaluate(&c, &a), want, "{text}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let t = "ActionMatches{'a'} OR ActionMatches{'b'} AND ActionMatches{'c'}";
        let c = parse(t).unwrap();
        let a = Attributes {
            action: "a".into(),
            ..Default::default()
        };
        assert!(evaluate(&c, &a));
        let b = Attributes {
            action: "b".into(),
            ..Default::default()
        };
        assert!(!evaluate(&c, &b));
    }

    #[test]
    fn bad_conditions_name_the_problem_and_where() {
        for (text, needle) in [
            ("", "expected '('"),
            ("(ActionMatches{'x'}", "expected ')'"),
            ("ActionMatches{x}", "single quotes"),
            (
                "@Resource[a] StringContains 'x'",
                "unsupported operator 'StringContains'",
            ),
            ("@Tenant[a] StringEquals 'x'", "expected Resource"),
            ("@Resource[a] StringEquals 'x", "unterminated"),
            ("@Resource[a] StringEquals {'x' 'y'}", "expected ',' or '}'"),
            ("ActionMatches{'x'} garbage", "unexpected text"),
            ("@Resource[] StringEquals 'x'", "empty attribute"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn storage_attributes_come_from_the_scope() {
        let v = storage_attributes(SCOPE);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].2, "docs");
        assert_eq!(v[1].2, "reports/q1.txt");
        assert!(storage_attributes("/subscriptions/s").is_empty());
    }
}
