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
//!
//! Bounds (the text is untrusted: it arrives in a role-assignment PUT and is parsed again at
//! every access check): at most [`MAX_CONDITION_LEN`] bytes, [`MAX_CONDITION_DEPTH`] levels of
//! parentheses and negations, and [`MAX_CONDITION_NODES`] nodes (expressions, `AND`/`OR`/`NOT`
//! and set values together). The parser and the evaluator therefore never recurse deeper than
//! a few dozen frames, and `StringLike` matches without recursion or backtracking blow-up.

/// The longest accepted condition, in bytes (Azure: "A condition can be up to 8 KB long").
pub const MAX_CONDITION_LEN: usize = 8 * 1024;
/// The deepest accepted nesting of parentheses and `!`/`NOT` in a condition.
pub const MAX_CONDITION_DEPTH: usize = 32;
/// The most nodes a condition may have: every `AND`, `OR`, `NOT`, expression and set value
/// counts one. A left-leaning chain of `AND`s is as deep as it is long, so this also bounds the
/// depth of the tree the evaluator walks.
pub const MAX_CONDITION_NODES: usize = 256;

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

/// Parses a condition (version 2.0), refusing one beyond the bounds
/// ([`MAX_CONDITION_LEN`], [`MAX_CONDITION_DEPTH`], [`MAX_CONDITION_NODES`]) with a message that
/// names the limit.
pub fn parse(text: &str) -> Result<Condition, ParseError> {
    if text.len() > MAX_CONDITION_LEN {
        return Err(ParseError {
            at: 0,
            message: format!(
                "the condition is {} bytes long; at most {MAX_CONDITION_LEN} are allowed",
                text.len()
            ),
        });
    }
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        s: &chars,
        i: 0,
        depth: 0,
        nodes: 0,
    };
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
    /// Current nesting of parentheses and negations.
    depth: usize,
    /// Nodes built so far.
    nodes: usize,
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
    /// Counts one node, refusing the condition past [`MAX_CONDITION_NODES`].
    fn node(&mut self) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_CONDITION_NODES {
            return Err(self.err(&format!(
                "the condition has more than {MAX_CONDITION_NODES} expressions, operators and values; split it or simplify it"
            )));
        }
        Ok(())
    }
    /// Enters one level of nesting, refusing past [`MAX_CONDITION_DEPTH`].
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(self.err(&format!(
                "the condition is nested more than {MAX_CONDITION_DEPTH} levels deep (parentheses and negations)"
            )));
        }
        Ok(())
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
            self.node()?;
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Condition, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            self.node()?;
            let right = self.unary()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Condition, ParseError> {
        self.ws();
        let negation = if self.peek() == Some('!') {
            self.i += 1;
            true
        } else {
            self.keyword("NOT")
        };
        if negation {
            self.node()?;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Condition::Not(Box::new(inner)));
        }
        if self.peek() == Some('(') {
            self.i += 1;
            self.enter()?;
            let c = self.or()?;
            self.ws();
            if self.peek() != Some(')') {
                return Err(self.err("expected ')'"));
            }
            self.i += 1;
            self.depth -= 1;
            return Ok(c);
        }
        self.node()?;
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
                        self.node()?;
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

/// `StringLike`: `*` matches any run of characters, `?` exactly one; case-sensitive. Iterative
/// with backtracking to the last `*` only (the classic linear-space glob), so neither a long
/// pattern nor a long blob path can exhaust the stack or take exponential time.
fn like(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while vi < v.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = vi;
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == v.get(vi) => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some(st) => {
                    pi = st + 1;
                    mark += 1;
                    vi = mark;
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
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

/// Case-insensitive match of an operation against a pattern where `*` matches any run of
/// characters (Azure's wildcard semantics: `Microsoft.Storage/*`, `*/read`, `*`).
pub fn op_matches(pattern: &str, op: &str) -> bool {
    let (p, o) = (pattern.as_bytes(), op.as_bytes());
    // Iterative glob match with backtracking on the last '*'; no allocation.
    let (mut pi, mut oi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while oi < o.len() {
        let pc = p.get(pi).copied();
        let oc = o.get(oi).copied();
        if pc == Some(b'*') {
            star = Some(pi);
            mark = oi;
            pi += 1;
        } else if pc.is_some()
            && oc.is_some()
            && pc.map(|c| c.to_ascii_lowercase()) == oc.map(|c| c.to_ascii_lowercase())
        {
            pi += 1;
            oi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            oi = mark;
        } else {
            return false;
        }
    }
    while p.get(pi) == Some(&b'*') {
        pi += 1;
    }
    pi == p.len()
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

    #[test]
    fn deep_long_and_wide_conditions_are_refused_with_the_limit_named() {
        // Thousands of levels: once a stack overflow that aborted the server.
        for deep in [
            format!(
                "{}ActionMatches{{'a'}}{}",
                "(".repeat(3000),
                ")".repeat(3000)
            ),
            format!("{}ActionMatches{{'a'}}", "!".repeat(5000)),
            format!("{}ActionMatches{{'a'}}", "NOT ".repeat(1500)),
        ] {
            let e = parse(&deep).unwrap_err();
            assert!(e.message.contains("nested more than 32 levels"), "{e}");
        }
        // Exactly at the depth limit still parses.
        let ok = format!(
            "{}ActionMatches{{'a'}}{}",
            "(".repeat(MAX_CONDITION_DEPTH),
            ")".repeat(MAX_CONDITION_DEPTH)
        );
        assert!(parse(&ok).is_ok());
        let long = format!("ActionMatches{{'{}'}}", "a".repeat(MAX_CONDITION_LEN));
        let e = parse(&long).unwrap_err();
        assert!(e.message.contains("at most 8192"), "{e}");
        assert!(e.message.contains(&long.len().to_string()), "{e}");
        // A flat chain is as deep as it is long: bounded by the node count.
        let chain = vec!["ActionMatches{'a'}"; 200].join(" AND ");
        let e = parse(&chain).unwrap_err();
        assert!(e.message.contains("more than 256"), "{e}");
        let set = format!(
            "@Resource[x] StringEquals {{{}}}",
            vec!["'v'"; 300].join(",")
        );
        assert!(parse(&set).unwrap_err().message.contains("more than 256"));
        let fine = vec!["ActionMatches{'a'}"; 100].join(" OR ");
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn string_like_is_linear_on_hostile_patterns() {
        assert!(like("a*b?c", "aXXbYc"));
        assert!(!like("a*b?c", "aXXbc"));
        assert!(like("*", ""));
        assert!(like("**", "x"));
        assert!(!like("?", ""));
        // Exponential for a naive backtracking matcher; instant here.
        let pattern = format!("{}b", "*a".repeat(40));
        let value = "a".repeat(4000);
        assert!(!like(&pattern, &value));
        assert!(like(&pattern, &format!("{value}b")));
    }
}
