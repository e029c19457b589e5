//! Entra's dynamic membership rule language: lexer, parser to an AST with source positions,
//! and an evaluator over a user's or a device's properties (with the explanation tree Graph's
//! `evaluateDynamicMembership` returns).
//!
//! What Entra documents and this module implements: the comparison operators (`-eq -ne
//! -startsWith -notStartsWith -endsWith -notEndsWith -contains -notContains -match -notMatch
//! -in -notIn`, `-le/-ge` on `employeeHireDate` only), the hyphen optional, `-and -or -not` with
//! Entra's precedence (comparison > `-not` > `-and` > `-or`), parentheses, `-any`/`-all` over
//! multi-valued properties (`_` for string collections, `assignedPlan.*` for `assignedPlans`,
//! `group.objectId -in [...]` for `memberOf`), `null`, the backtick escape of `"` and the doubled
//! `'` in single-quoted strings, values compared ignoring case, `-match` through the `regex` crate
//! (linear time, compiled size bounded), `Direct Reports for "{id}"`, extension attributes, device
//! rules, and the 3,072-character limit. Property names are matched ignoring case (Entra's own
//! examples spell `user.employeehiredate` and `device.devicePhysicalIDs`).

use std::collections::BTreeSet;

use crate::error::Code;
use crate::ids::ObjectId;
use crate::model::{Device, User};
use crate::time::Timestamp;

/// The longest rule Entra accepts, in characters.
pub const MAX_RULE_CHARS: usize = 3072;
/// At most this many groups in one `memberOf` rule (Entra's preview limit).
pub const MAX_MEMBER_OF_GROUPS: usize = 50;
/// At most this many nested parentheses, `-not`s and `-any`/`-all`s (bounds the parser's and
/// the evaluator's recursion).
pub const MAX_NESTING: usize = 32;
/// The compiled size bound of one `-match` pattern (bytes of the regex crate's program).
pub const MAX_REGEX_SIZE: usize = 64 * 1024;

/// What a rule selects: users or devices (a rule never mixes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSubject {
    /// `user.*` properties.
    User,
    /// `device.*` properties.
    Device,
}

impl RuleSubject {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Device => "device",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `-eq`
    Eq,
    /// `-ne`
    Ne,
    /// `-startsWith`
    StartsWith,
    /// `-notStartsWith`
    NotStartsWith,
    /// `-endsWith`
    EndsWith,
    /// `-notEndsWith`
    NotEndsWith,
    /// `-contains`
    Contains,
    /// `-notContains`
    NotContains,
    /// `-match`
    Match,
    /// `-notMatch`
    NotMatch,
    /// `-in`
    In,
    /// `-notIn`
    NotIn,
    /// `-le` (dateTime only)
    Le,
    /// `-ge` (dateTime only)
    Ge,
}

impl CmpOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "startswith" => Self::StartsWith,
            "notstartswith" => Self::NotStartsWith,
            "endswith" => Self::EndsWith,
            "notendswith" => Self::NotEndsWith,
            "contains" => Self::Contains,
            "notcontains" => Self::NotContains,
            "match" => Self::Match,
            "notmatch" => Self::NotMatch,
            "in" => Self::In,
            "notin" => Self::NotIn,
            "le" => Self::Le,
            "ge" => Self::Ge,
            _ => return None,
        })
    }
    /// Entra's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "-eq",
            Self::Ne => "-ne",
            Self::StartsWith => "-startsWith",
            Self::NotStartsWith => "-notStartsWith",
            Self::EndsWith => "-endsWith",
            Self::NotEndsWith => "-notEndsWith",
            Self::Contains => "-contains",
            Self::NotContains => "-notContains",
            Self::Match => "-match",
            Self::NotMatch => "-notMatch",
            Self::In => "-in",
            Self::NotIn => "-notIn",
            Self::Le => "-le",
            Self::Ge => "-ge",
        }
    }
    /// The negated operators: true when the value does not satisfy the positive form.
    const fn negated(self) -> bool {
        matches!(
            self,
            Self::Ne
                | Self::NotStartsWith
                | Self::NotEndsWith
                | Self::NotContains
                | Self::NotMatch
                | Self::NotIn
        )
    }
    const fn positive(self) -> Self {
        match self {
            Self::Ne => Self::Eq,
            Self::NotStartsWith => Self::StartsWith,
            Self::NotEndsWith => Self::EndsWith,
            Self::NotContains => Self::Contains,
            Self::NotMatch => Self::Match,
            Self::NotIn => Self::In,
            o => o,
        }
    }
}

/// The type of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    /// A single string (or null).
    String,
    /// `true`/`false`.
    Bool,
    /// A dateTime (`employeeHireDate`).
    DateTime,
    /// A string collection (`otherMails`, `proxyAddresses`, `devicePhysicalIds`, ...).
    Strings,
    /// `assignedPlans` (objects with `servicePlanId`, `service`, `capabilityStatus`).
    Plans,
    /// `memberOf` (group object ids).
    Groups,
}

/// A property reference, canonically spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prop {
    /// `user`, `device`, or the item of an `-any`/`-all` (`_`, `assignedPlan`, `group`).
    pub object: String,
    /// Canonical name (`department`, `extensionAttribute3`, `servicePlanId`, `_`).
    pub name: String,
    /// Its type.
    pub ty: PropType,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// A string (quoted or bare).
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[...]`
    List(Vec<String>),
    /// `system.now`, shifted by this many milliseconds (`-plus p1d`, `-minus pt2h`).
    Now(i64),
    /// A literal dateTime, in milliseconds since the epoch.
    DateTime(i64),
}

/// A rule's syntax tree. Every node keeps the character span of its source text.
#[derive(Clone, Debug)]
pub enum Expr {
    /// `a -and b`
    And(Box<Expr>, Box<Expr>, Span),
    /// `a -or b`
    Or(Box<Expr>, Box<Expr>, Span),
    /// `-not a`
    Not(Box<Expr>, Span),
    /// `property op value`
    Compare {
        /// The property.
        prop: Prop,
        /// The operator.
        op: CmpOp,
        /// The value.
        value: Literal,
        /// A compiled `-match` pattern.
        regex: Option<regex::Regex>,
        /// Source span.
        span: Span,
    },
    /// `collection -any (...)` / `-all (...)`
    Quantified {
        /// The multi-valued property.
        prop: Prop,
        /// `-all` (else `-any`).
        all: bool,
        /// The condition on each item.
        body: Box<Expr>,
        /// Source span.
        span: Span,
    },
}

impl Expr {
    /// The source span.
    pub fn span(&self) -> Span {
        match self {
            Self::And(_, _, s) | Self::Or(_, _, s) | Self::Not(_, s) => *s,
            Self::Compare { span, .. } | Self::Quantified { span, .. } => *span,
        }
    }
}

/// A span of characters (0-based, end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
}

/// A parsed rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The text as given.
    pub text: String,
    /// Users or devices.
    pub subject: RuleSubject,
    /// The body.
    pub body: RuleBody,
}

/// The two shapes of a rule.
#[derive(Clone, Debug)]
pub enum RuleBody {
    /// An expression.
    Expr(Expr),
    /// `Direct Reports for "{managerId}"`.
    DirectReports(ObjectId),
}

/// Why a rule was refused. `position` is 1-based (the first character is 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// Where.
    pub position: usize,
    /// What.
    pub kind: RuleErrorKind,
}

/// The kinds of rule errors (each is a row of the error table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// Longer than 3,072 characters.
    TooLong(usize),
    /// A syntax error: what was expected or found.
    Syntax(String),
    /// An unknown property (as written).
    UnknownProperty(String),
    /// An operator that is not Entra's, or not allowed on this property.
    UnsupportedOperator {
        /// As written.
        operator: String,
        /// Why.
        why: String,
    },
    /// A value of the wrong type for the property or operator.
    BadValue(String),
    /// A `-match` pattern that does not compile or is too large.
    Regex(String),
    /// Both `user.` and `device.` properties.
    MixedSubjects,
    /// A `memberOf` rule breaking Entra's limits.
    MemberOf(String),
}

impl RuleError {
    fn new(position: usize, kind: RuleErrorKind) -> Self {
        Self { position, kind }
    }
    /// The message, from the error table.
    pub fn message(&self) -> String {
        let p = self.position;
        match &self.kind {
            RuleErrorKind::TooLong(n) => {
                Code::DynamicRuleTooLong.message(&[("length", n), ("max", &MAX_RULE_CHARS)])
            }
            RuleErrorKind::Syntax(d) => {
                Code::DynamicRuleSyntax.message(&[("position", &p), ("detail", d)])
            }
            RuleErrorKind::UnknownProperty(name) => {
                Code::DynamicRuleUnknownProperty.message(&[("position", &p), ("property", name)])
            }
            RuleErrorKind::UnsupportedOperator { operator, why } => {
                Code::DynamicRuleUnsupportedOperator.message(&[
                    ("position", &p),
                    ("operator", operator),
                    ("detail", why),
                ])
            }
            RuleErrorKind::BadValue(d) => {
                Code::DynamicRuleBadValue.message(&[("position", &p), ("detail", d)])
            }
            RuleErrorKind::Regex(d) => {
                Code::DynamicRuleRegex.message(&[("position", &p), ("detail", d)])
            }
            RuleErrorKind::MixedSubjects => {
                Code::DynamicRuleMixedSubjects.message(&[("position", &p)])
            }
            RuleErrorKind::MemberOf(d) => {
                Code::DynamicRuleMemberOf.message(&[("position", &p), ("detail", d)])
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// `user.x`, `device.x`, `_`, `assignedPlan.x`, `group.x`, `system.now`
    Path(String),
    /// A quoted string.
    Str(String),
    /// An unquoted word or number (`true`, `null`, `Sales`, `2020-06-10T18:13:20Z`, `p1d`).
    Bare(String),
    /// An operator word, lowercased, without its hyphen.
    Op(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
    /// As written.
    text: String,
}

const OP_WORDS: &[&str] = &[
    "eq",
    "ne",
    "startswith",
    "notstartswith",
    "endswith",
    "notendswith",
    "contains",
    "notcontains",
    "match",
    "notmatch",
    "in",
    "notin",
    "le",
    "ge",
    "and",
    "or",
    "not",
    "any",
    "all",
    "plus",
    "minus",
];

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2013}' | '\u{2014}')
}

fn is_delim(c: char) -> bool {
    c.is_whitespace() || "()[],\"'".contains(c)
}

fn lex(chars: &[char]) -> Result<Vec<Token>, RuleError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            out.push(Token {
                tok: t,
                start,
                end: i + 1,
                text: String::new(),
            });
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            // "..." with `" for a quote inside; '...' with '' for a quote inside.
            let mut s = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => {
                        return Err(RuleError::new(
                            start + 1,
                            RuleErrorKind::Syntax(format!(
                                "the string starting here is not closed with {c}"
                            )),
                        ))
                    }
                    (Some('`'), Some('"')) if c == '"' => {
                        s.push('"');
                        i += 2;
                    }
                    (Some('\''), Some('\'')) if c == '\'' => {
                        s.push('\'');
                        i += 2;
                    }
                    (Some(&q), _) if q == c => {
                        i += 1;
                        break;
                    }
                    (Some(&ch), _) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end: i,
                text: String::new(),
            });
            continue;
        }
        if c == '`' && chars.get(i + 1) == Some(&'"') {
            // `"Sales`" outside quotes: the value includes its double quotes.
            let mut s = String::from('"');
            i += 2;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => {
                        return Err(RuleError::new(
                            start + 1,
                            RuleErrorKind::Syntax(
                                "the `\" escaped value starting here is not closed with `\"".into(),
                            ),
                        ))
                    }
                    (Some('`'), Some('"')) => {
                        s.push('"');
                        i += 2;
                        break;
                    }
                    (Some(&ch), _) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end: i,
                text: String::new(),
            });
            continue;
        }
        let dashed = is_dash(c) && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        if dashed {
            i += 1;
        }
        let word_start = i;
        while chars.get(i).is_some_and(|ch| !is_delim(*ch)) {
            i += 1;
        }
        let word: String = chars
            .get(word_start..i)
            .unwrap_or_default()
            .iter()
            .collect();
        let lower = word.to_ascii_lowercase();
        let tok = if dashed || OP_WORDS.contains(&lower.as_str()) {
            Tok::Op(lower)
        } else if word == "_"
            || (word.contains('.')
                && word.starts_with(|ch: char| ch.is_ascii_alphabetic())
                && is_path(&lower))
        {
            Tok::Path(word)
        } else {
            Tok::Bare(word)
        };
        let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
        out.push(Token {
            tok,
            start,
            end: i,
            text,
        });
    }
    Ok(out)
}

fn is_path(lower: &str) -> bool {
    ["user.", "device.", "assignedplan.", "group.", "system."]
        .iter()
        .any(|p| lower.starts_with(p))
}

// ---------------------------------------------------------------------------------------------
// Properties

const USER_STRINGS: &[&str] = &[
    "city",
    "country",
    "companyName",
    "department",
    "displayName",
    "employeeId",
    "facsimileTelephoneNumber",
    "givenName",
    "jobTitle",
    "mail",
    "mailNickname",
    "mobile",
    "objectId",
    "onPremisesDistinguishedName",
    "onPremisesSecurityIdentifier",
    "passwordPolicies",
    "physicalDeliveryOfficeName",
    "postalCode",
    "preferredLanguage",
    "sipProxyAddress",
    "state",
    "streetAddress",
    "surname",
    "telephoneNumber",
    "usageLocation",
    "userPrincipalName",
    "userType",
];
const USER_BOOLS: &[&str] = &["accountEnabled", "dirSyncEnabled"];
const USER_COLLECTIONS: &[&str] = &["otherMails", "proxyAddresses"];

const DEVICE_STRINGS: &[&str] = &[
    "deviceCategory",
    "deviceId",
    "deviceManagementAppId",
    "deviceManufacturer",
    "deviceModel",
    "displayName",
    "deviceOSType",
    "deviceOSVersion",
    "deviceOwnership",
    "deviceTrustType",
    "enrollmentProfileName",
    "managementType",
    "objectId",
    "profileType",
];
const DEVICE_BOOLS: &[&str] = &["accountEnabled", "isRooted", "isCompliant", "isManaged"];
const DEVICE_COLLECTIONS: &[&str] = &["devicePhysicalIds", "systemLabels"];

const PLAN_FIELDS: &[&str] = &["servicePlanId", "service", "capabilityStatus"];

fn find_ci(list: &[&'static str], name: &str) -> Option<&'static str> {
    list.iter().copied().find(|p| p.eq_ignore_ascii_case(name))
}

/// Resolves `user.x` / `device.x` (top level, not inside `-any`).
fn resolve_top(path: &str) -> Option<(RuleSubject, String, PropType)> {
    let (obj, name) = path.split_once('.')?;
    let subject = if obj.eq_ignore_ascii_case("user") {
        RuleSubject::User
    } else if obj.eq_ignore_ascii_case("device") {
        RuleSubject::Device
    } else {
        return None;
    };
    let (strings, bools, colls) = match subject {
        RuleSubject::User => (USER_STRINGS, USER_BOOLS, USER_COLLECTIONS),
        RuleSubject::Device => (DEVICE_STRINGS, DEVICE_BOOLS, DEVICE_COLLECTIONS),
    };
    let found = if let Some(n) = find_ci(strings, name) {
        Some((n.to_string(), PropType::String))
    } else if let Some(n) = find_ci(bools, name) {
        Some((n.to_string(), PropType::Bool))
    } else if let Some(n) = find_ci(colls, name) {
        Some((n.to_string(), PropType::Strings))
    } else if name.eq_ignore_ascii_case("memberOf") {
        Some(("memberOf".into(), PropType::Groups))
    } else if subject == RuleSubject::User && name.eq_ignore_ascii_case("assignedPlans") {
        Some(("assignedPlans".into(), PropType::Plans))
    } else if subject == RuleSubject::User && name.eq_ignore_ascii_case("employeeHireDate") {
        Some(("employeeHireDate".into(), PropType::DateTime))
    } else if let Some(n) = extension_attribute(name) {
        Some((n, PropType::String))
    } else if subject == RuleSubject::User && is_custom_extension(name) {
        Some((name.to_string(), PropType::String))
    } else {
        None
    };
    found.map(|(n, t)| (subject, n, t))
}

/// `extensionAttribute1`..`extensionAttribute15`, canonically spelled.
fn extension_attribute(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let n: u8 = lower.strip_prefix("extensionattribute")?.parse().ok()?;
    (1..=15)
        .contains(&n)
        .then(|| format!("extensionAttribute{n}"))
}

/// `extension_{appIdWithoutHyphens}_{name}`.
fn is_custom_extension(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else {
        return false;
    };
    let Some((app, attr)) = rest.split_once('_') else {
        return false;
    };
    app.len() == 32 && app.chars().all(|c| c.is_ascii_hexdigit()) && !attr.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    len: usize,
    subject: Option<RuleSubject>,
    /// Inside `-any`/`-all` over this property type.
    item: Option<PropType>,
    /// Current nesting.
    depth: usize,
}

fn op_name(t: &Token) -> String {
    t.text.replace(['\u{2013}', '\u{2014}'], "-")
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }
    fn pos(&self) -> usize {
        self.peek().map_or(self.len + 1, |t| t.start + 1)
    }
    fn last_end(&self) -> usize {
        self.i
            .checked_sub(1)
            .and_then(|j| self.toks.get(j))
            .map_or(0, |t| t.end)
    }
    fn syntax<T>(&self, what: &str) -> Result<T, RuleError> {
        let found = match self.peek() {
            None => "the end of the rule".to_string(),
            Some(t) => format!("'{}'", describe(&t.tok)),
        };
        Err(RuleError::new(
            self.pos(),
            RuleErrorKind::Syntax(format!("expected {what}, found {found}")),
        ))
    }
    fn eat_op(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Op(w), .. }) if w == word) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(RuleError::new(
                self.pos(),
                RuleErrorKind::Syntax(format!(
                    "the rule nests parentheses, -not and -any/-all more than {MAX_NESTING} levels deep"
                )),
            ));
        }
        Ok(())
    }
    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.and()?;
        while self.eat_op("or") {
            let right = self.and()?;
            let span = Span {
                start: left.span().start,
                end: right.span().end,
            };
            left = Expr::Or(Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.not()?;
        while self.eat_op("and") {
            let right = self.not()?;
            let span = Span {
                start: left.span().start,
                end: right.span().end,
            };
            left = Expr::And(Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Expr, RuleError> {
        let start = self.peek().map_or(0, |t| t.start);
        if self.eat_op("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            let span = Span {
                start,
                end: inner.span().end,
            };
            return Ok(Expr::Not(Box::new(inner), span));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, RuleError> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::LParen) => {
                self.enter()?;
                self.i += 1;
                let e = self.or()?;
                self.depth -= 1;
                if !matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::RParen,
                        ..
                    })
                ) {
                    return self.syntax("')' to close the parenthesis");
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Path(_)) => self.comparison(),
            Some(Tok::Bare(w)) => Err(RuleError::new(
                self.pos(),
                RuleErrorKind::UnknownProperty(w),
            )),
            _ => self.syntax("a property such as user.department, '(' or -not"),
        }
    }

    fn property(&mut self) -> Result<(Prop, usize), RuleError> {
        let Some(t) = self.peek().cloned() else {
            return self.syntax("a property");
        };
        let Tok::Path(path) = &t.tok else {
            return self.syntax("a property");
        };
        let at = t.start + 1;
        self.i += 1;
        if let Some(item) = self.item {
            // Inside -any/-all: the item's own name.
            let lower = path.to_ascii_lowercase();
            let ok = match item {
                PropType::Strings if path == "_" => Some(Prop {
                    object: "_".into(),
                    name: "_".into(),
                    ty: PropType::String,
                }),
                PropType::Plans => lower
                    .strip_prefix("assignedplan.")
                    .and_then(|f| find_ci(PLAN_FIELDS, f))
                    .map(|n| Prop {
                        object: "assignedPlan".into(),
                        name: n.into(),
                        ty: PropType::String,
                    }),
                PropType::Groups if lower == "group.objectid" => Some(Prop {
                    object: "group".into(),
                    name: "objectId".into(),
                    ty: PropType::String,
                }),
                _ => None,
            };
            return ok.map(|p| (p, at)).ok_or_else(|| {
                let want = match item {
                    PropType::Plans => "assignedPlan.servicePlanId, assignedPlan.service or assignedPlan.capabilityStatus",
                    PropType::Groups => "group.objectId",
                    _ => "_",
                };
                RuleError::new(
                    at,
                    RuleErrorKind::UnknownProperty(format!("{path}' inside -any/-all; use {want} there, not '{path}")),
                )
            });
        }
        if path == "_" {
            return Err(RuleError::new(
                at,
                RuleErrorKind::Syntax("'_' stands for an item of a collection and is allowed only inside -any (...) or -all (...)".into()),
            ));
        }
        let Some((subject, name, ty)) = resolve_top(path) else {
            return Err(RuleError::new(
                at,
                RuleErrorKind::UnknownProperty(path.clone()),
            ));
        };
        match self.subject {
            Some(s) if s != subject => {
                return Err(RuleError::new(at, RuleErrorKind::MixedSubjects))
            }
            _ => self.subject = Some(subject),
        }
        Ok((
            Prop {
                object: subject.as_str().into(),
                name,
                ty,
            },
            at,
        ))
    }

    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let start = self.peek().map_or(0, |t| t.start);
        let (prop, at) = self.property()?;
        let Some(op_tok) = self.peek().cloned() else {
            return self.syntax("an operator such as -eq after the property");
        };
        let Tok::Op(word) = &op_tok.tok else {
            return match &op_tok.tok {
                Tok::Bare(w) => Err(RuleError::new(
                    op_tok.start + 1,
                    RuleErrorKind::UnsupportedOperator {
                        operator: w.clone(),
                        why: "(it is not an operator of the rule language)".into(),
                    },
                )),
                _ => self.syntax("an operator such as -eq after the property"),
            };
        };
        let op_pos = op_tok.start + 1;
        let written = op_name(&op_tok);
        self.i += 1;
        if word == "any" || word == "all" {
            if !matches!(
                prop.ty,
                PropType::Strings | PropType::Plans | PropType::Groups
            ) {
                return Err(RuleError::new(
                    op_pos,
                    RuleErrorKind::UnsupportedOperator {
                        operator: written,
                        why: format!("on {}.{}, which is not multi-valued (use it on assignedPlans, proxyAddresses, otherMails, devicePhysicalIds or memberOf)", prop.object, prop.name),
                    },
                ));
            }
            if prop.ty == PropType::Groups && word == "all" {
                return Err(RuleError::new(
                    op_pos,
                    RuleErrorKind::MemberOf(
                        "memberOf takes -any (group.objectId -in [...]) only".into(),
                    ),
                ));
            }
            self.enter()?;
            let saved = self.item.replace(prop.ty);
            let body = if matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::LParen,
                    ..
                })
            ) {
                self.primary()?
            } else {
                self.comparison()?
            };
            self.item = saved;
            self.depth -= 1;
            if prop.ty == PropType::Groups {
                check_member_of_body(&body, op_pos)?;
            }
            let span = Span {
                start,
                end: self.last_end(),
            };
            return Ok(Expr::Quantified {
                prop,
                all: word == "all",
                body: Box::new(body),
                span,
            });
        }
        let Some(op) = CmpOp::parse(word) else {
            return Err(RuleError::new(
                op_pos,
                RuleErrorKind::UnsupportedOperator { operator: written, why: "(it is not a comparison operator; use -eq, -ne, -startsWith, -notStartsWith, -endsWith, -notEndsWith, -contains, -notContains, -match, -notMatch, -in or -notIn)".into() },
            ));
        };
        let value_pos = self.pos();
        let value = self.value()?;
        check_types(&prop, op, &value, at, op_pos, value_pos, &written)?;
        let regex = if matches!(op, CmpOp::Match | CmpOp::NotMatch) {
            let Literal::Str(p) = &value else {
                return Err(RuleError::new(
                    value_pos,
                    RuleErrorKind::BadValue(format!("{written} needs a string pattern")),
                ));
            };
            Some(
                regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(MAX_REGEX_SIZE)
                    .dfa_size_limit(MAX_REGEX_SIZE)
                    .build()
                    .map_err(|e| {
                        RuleError::new(value_pos, RuleErrorKind::Regex(first_line(&e.to_string())))
                    })?,
            )
        } else {
            None
        };
        let span = Span {
            start,
            end: self.last_end(),
        };
        Ok(Expr::Compare {
            prop,
            op,
            value,
            regex,
            span,
        })
    }

    fn value(&mut self) -> Result<Literal, RuleError> {
        let Some(t) = self.peek().cloned() else {
            return self.syntax("a value");
        };
        self.i += 1;
        Ok(match t.tok {
            Tok::Str(s) => Literal::Str(s),
            Tok::Bare(w) => match w.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" | "$null" => Literal::Null,
                _ => Literal::Str(w),
            },
            Tok::Path(p) if p.eq_ignore_ascii_case("system.now") => {
                let mut shift = 0i64;
                if let Some(Token {
                    tok: Tok::Op(w), ..
                }) = self.peek().cloned()
                {
                    if w == "plus" || w == "minus" {
                        self.i += 1;
                        let at = self.pos();
                        let Some(Token {
                            tok: Tok::Bare(d), ..
                        }) = self.peek().cloned()
                        else {
                            return self
                                .syntax("an ISO 8601 duration such as p1d after -plus/-minus");
                        };
                        self.i += 1;
                        let ms = parse_duration(&d).ok_or_else(|| {
                            RuleError::new(
                                at,
                                RuleErrorKind::BadValue(format!(
                                    "'{d}' is not an ISO 8601 duration (e.g. p1d, pt12h)"
                                )),
                            )
                        })?;
                        shift = if w == "plus" { ms } else { -ms };
                    }
                }
                Literal::Now(shift)
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                loop {
                    match self.peek().map(|t| t.tok.clone()) {
                        Some(Tok::Str(s) | Tok::Bare(s)) => {
                            self.i += 1;
                            items.push(s);
                        }
                        Some(Tok::RBracket) if items.is_empty() => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.syntax("a quoted value in the list"),
                    }
                    match self.peek().map(|t| t.tok.clone()) {
                        Some(Tok::Comma) => self.i += 1,
                        Some(Tok::RBracket) => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.syntax("',' or ']' in the list"),
                    }
                }
                Literal::List(items)
            }
            _ => {
                self.i -= 1;
                return self.syntax("a value (a quoted string, true, false, null or [list])");
            }
        })
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Path(s) | Tok::Bare(s) => s.clone(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Op(w) => format!("-{w}"),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
    }
}

fn check_member_of_body(body: &Expr, pos: usize) -> Result<(), RuleError> {
    match body {
        Expr::Compare {
            op: CmpOp::In,
            value: Literal::List(ids),
            ..
        } => {
            if ids.is_empty() || ids.len() > MAX_MEMBER_OF_GROUPS {
                return Err(RuleError::new(
                    pos,
                    RuleErrorKind::MemberOf(format!(
                        "it names {} groups; name 1 to {MAX_MEMBER_OF_GROUPS}",
                        ids.len()
                    )),
                ));
            }
            if let Some(bad) = ids.iter().find(|i| ObjectId::parse(i).is_none()) {
                return Err(RuleError::new(
                    pos,
                    RuleErrorKind::MemberOf(format!("'{bad}' is not a group object id")),
                ));
            }
            Ok(())
        }
        _ => Err(RuleError::new(
            pos,
            RuleErrorKind::MemberOf(
                "memberOf takes exactly -any (group.objectId -in ['id', ...])".into(),
            ),
        )),
    }
}

fn check_types(
    prop: &Prop,
    op: CmpOp,
    value: &Literal,
    prop_pos: usize,
    op_pos: usize,
    value_pos: usize,
    written: &str,
) -> Result<(), RuleError> {
    let pname = format!("{}.{}", prop.object, prop.name);
    let unsupported = |why: String| {
        Err(RuleError::new(
            op_pos,
            RuleErrorKind::UnsupportedOperator {
                operator: written.to_string(),
                why,
            },
        ))
    };
    let bad = |d: String| Err(RuleError::new(value_pos, RuleErrorKind::BadValue(d)));
    match prop.ty {
        PropType::Plans | PropType::Groups => {
            return Err(RuleError::new(
                prop_pos,
                RuleErrorKind::UnsupportedOperator {
                    operator: written.to_string(),
                    why: format!(
                        "on {pname}, a collection of objects: use {pname} -any (...) or -all (...)"
                    ),
                },
            ))
        }
        PropType::Bool => {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return unsupported(format!(
                    "on {pname}, a boolean (use -eq or -ne with true or false)"
                ));
            }
            if !matches!(value, Literal::Bool(_)) {
                return bad(format!(
                    "{pname} is a boolean: compare it with true or false"
                ));
            }
        }
        PropType::DateTime => {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne | CmpOp::Le | CmpOp::Ge) {
                return unsupported(format!("on {pname}, a dateTime (use -eq, -ne, -le or -ge)"));
            }
            if matches!(value, Literal::Null) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return bad("null is compared with -eq or -ne only".into());
            }
            if let Literal::Str(s) = value {
                if parse_datetime(s).is_none() {
                    return bad(format!("'{s}' is not a dateTime (use e.g. 2020-06-10T18:13:20Z or system.now -plus p1d)"));
                }
            }
            if !matches!(value, Literal::Str(_) | Literal::Now(_) | Literal::Null) {
                return bad(format!(
                    "{pname} is a dateTime: compare it with a dateTime or system.now"
                ));
            }
        }
        PropType::String | PropType::Strings => {
            if matches!(op, CmpOp::Le | CmpOp::Ge) {
                return unsupported(format!(
                    "on {pname}, a string (-le and -ge apply to employeeHireDate only)"
                ));
            }
            match (op, value) {
                (CmpOp::In | CmpOp::NotIn, Literal::List(_)) => {}
                (CmpOp::In | CmpOp::NotIn, _) => {
                    return bad(format!("{written} needs a list such as [\"a\", \"b\"]"))
                }
                (_, Literal::List(_)) => {
                    return bad(format!("a list needs -in or -notIn, not {written}"))
                }
                (CmpOp::Eq | CmpOp::Ne, Literal::Null) => {}
                (_, Literal::Null) => {
                    return bad(format!(
                        "null is compared with -eq or -ne only, not {written}"
                    ))
                }
                (_, Literal::Now(_)) => {
                    return bad("system.now is compared with employeeHireDate only".into())
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Parses `p1d`, `pt12h`, `p1dt2h30m`, `pt45s` into milliseconds (days, hours, minutes, seconds).
fn parse_duration(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let rest = lower.strip_prefix('p')?;
    let mut total = 0i64;
    let mut num = String::new();
    let mut time = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => num.push(c),
            't' if num.is_empty() => time = true,
            'd' | 'h' | 'm' | 's' | 'w' => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let unit = match (c, time) {
                    ('w', false) => 7 * 86_400_000,
                    ('d', false) => 86_400_000,
                    ('h', true) => 3_600_000,
                    ('m', true) => 60_000,
                    ('s', true) => 1000,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
            _ => return None,
        }
    }
    (any && num.is_empty()).then_some(total)
}

/// Parses `YYYY-MM-DD[THH:MM:SS[.fff]Z]` into milliseconds since the epoch (UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches(['Z', 'z']);
    let (date, time) = s.split_once(['T', 't']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next().unwrap_or("0").parse().ok()?;
    let ss: f64 = t.next().unwrap_or("0").parse().ok()?;
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0.0..61.0).contains(&ss) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    #[allow(clippy::cast_possible_truncation)]
    let ms = (ss * 1000.0) as i64;
    Some(days * 86_400_000 + hh * 3_600_000 + mm * 60_000 + ms)
}

/// Parses a rule: the length limit, `Direct Reports for "{id}"`, else an expression.
pub fn parse(text: &str) -> Result<Rule, RuleError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_RULE_CHARS {
        return Err(RuleError::new(
            MAX_RULE_CHARS + 1,
            RuleErrorKind::TooLong(chars.len()),
        ));
    }
    let trimmed = text.trim_start();
    let lead = chars.len() - trimmed.chars().count();
    let prefix = "direct reports for";
    if trimmed.len() >= prefix.len()
        && trimmed
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        let rest = trimmed.get(prefix.len()..).unwrap_or_default();
        let rest_chars: Vec<char> = rest.chars().collect();
        let toks = lex(&rest_chars)
            .map_err(|e| RuleError::new(e.position + lead + prefix.len(), e.kind))?;
        let at =
            |t: Option<&Token>| t.map_or(chars.len() + 1, |t| lead + prefix.len() + t.start + 1);
        return match toks.as_slice() {
            [Token {
                tok: Tok::Str(id) | Tok::Bare(id),
                ..
            }] => ObjectId::parse(id)
                .map(|m| Rule {
                    text: text.to_string(),
                    subject: RuleSubject::User,
                    body: RuleBody::DirectReports(m),
                })
                .ok_or_else(|| {
                    RuleError::new(
                        at(toks.first()),
                        RuleErrorKind::BadValue(format!("'{id}' is not a manager's object id")),
                    )
                }),
            [] => Err(RuleError::new(
                at(None),
                RuleErrorKind::Syntax("expected the manager's object id in quotes".into()),
            )),
            [_, extra, ..] => Err(RuleError::new(
                at(Some(extra)),
                RuleErrorKind::Syntax(
                    "a Direct Reports rule cannot be combined with other expressions".into(),
                ),
            )),
            [other] => Err(RuleError::new(
                at(Some(other)),
                RuleErrorKind::Syntax("expected the manager's object id in quotes".into()),
            )),
        };
    }
    let toks = lex(&chars)?;
    if toks.is_empty() {
        return Err(RuleError::new(
            1,
            RuleErrorKind::Syntax(
                "the rule is empty; write e.g. user.department -eq \"Sales\"".into(),
            ),
        ));
    }
    let mut p = Parser {
        toks: &toks,
        i: 0,
        len: chars.len(),
        subject: None,
        item: None,
        depth: 0,
    };
    let expr = p.or()?;
    if p.peek().is_some() {
        return p.syntax("-and, -or or the end of the rule");
    }
    // memberOf cannot be combined with other expressions (Entra's limit).
    if !matches!(
        expr,
        Expr::Quantified {
            prop: Prop {
                ty: PropType::Groups,
                ..
            },
            ..
        }
    ) && mentions_member_of(&expr)
    {
        return Err(RuleError::new(
            expr.span().start + 1,
            RuleErrorKind::MemberOf(
                "a memberOf expression cannot be combined with other expressions or operators"
                    .into(),
            ),
        ));
    }
    Ok(Rule {
        text: text.to_string(),
        subject: p.subject.unwrap_or(RuleSubject::User),
        body: RuleBody::Expr(expr),
    })
}

fn mentions_member_of(e: &Expr) -> bool {
    match e {
        Expr::And(a, b, _) | Expr::Or(a, b, _) => mentions_member_of(a) || mentions_member_of(b),
        Expr::Not(a, _) => mentions_member_of(a),
        Expr::Compare { .. } => false,
        Expr::Quantified { prop, .. } => prop.ty == PropType::Groups,
    }
}

impl Rule {
    /// The top-level properties the rule reads (canonical names; `manager` for Direct Reports).
    pub fn reads(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        match &self.body {
            RuleBody::DirectReports(_) => {
                out.insert("manager".to_string());
            }
            RuleBody::Expr(e) => collect_reads(e, &mut out),
        }
        out
    }

    /// The groups a `memberOf` rule names.
    pub fn member_of_groups(&self) -> Vec<ObjectId> {
        match &self.body {
            RuleBody::Expr(Expr::Quantified { prop, body, .. }) if prop.ty == PropType::Groups => {
                match body.as_ref() {
                    Expr::Compare {
                        value: Literal::List(ids),
                        ..
                    } => ids.iter().filter_map(|i| ObjectId::parse(i)).collect(),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Whether `subject` satisfies the rule.
    pub fn matches(&self, subject: &dyn Subject, now: Timestamp) -> bool {
        match &self.body {
            RuleBody::DirectReports(m) => subject.manager() == Some(*m),
            RuleBody::Expr(e) => eval(e, subject, None, now),
        }
    }

    /// Evaluates with the explanation tree (which sub-expression decided).
    pub fn explain(&self, subject: &dyn Subject, now: Timestamp) -> Explanation {
        match &self.body {
            RuleBody::DirectReports(m) => Explanation {
                expression: self.text.trim().to_string(),
                result: subject.manager() == Some(*m),
                property: Some((
                    "manager".into(),
                    subject.manager().map(|m| m.to_string()).unwrap_or_default(),
                )),
                children: Vec::new(),
            },
            RuleBody::Expr(e) => {
                let chars: Vec<char> = self.text.chars().collect();
                explain(e, &chars, subject, now)
            }
        }
    }
}

fn collect_reads(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::And(a, b, _) | Expr::Or(a, b, _) => {
            collect_reads(a, out);
            collect_reads(b, out);
        }
        Expr::Not(a, _) => collect_reads(a, out),
        Expr::Compare { prop, .. } | Expr::Quantified { prop, .. } => {
            out.insert(prop.name.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A property value as the evaluator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    /// Not set.
    Null,
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A dateTime (ms since the epoch).
    DateTime(i64),
    /// A string collection.
    Strings(Vec<String>),
    /// Assigned plans: (servicePlanId, service, capabilityStatus).
    Plans(Vec<[String; 3]>),
    /// Group ids (direct memberships).
    Groups(Vec<ObjectId>),
}

/// What a rule is evaluated over.
pub trait Subject {
    /// A property by canonical name.
    fn attr(&self, name: &str) -> Attr;
    /// The manager (users).
    fn manager(&self) -> Option<ObjectId>;
}

/// A user, with the groups it is a direct member of (for `memberOf`).
pub struct UserFacts<'a> {
    /// The user.
    pub user: &'a User,
    /// Direct memberships.
    pub member_of: &'a [ObjectId],
}

fn opt(v: &Option<String>) -> Attr {
    v.as_ref()
        .filter(|s| !s.is_empty())
        .map_or(Attr::Null, |s| Attr::Str(s.clone()))
}

impl Subject for UserFacts<'_> {
    fn attr(&self, name: &str) -> Attr {
        let u = self.user;
        match name {
            "accountEnabled" => Attr::Bool(u.account_enabled),
            "dirSyncEnabled" => Attr::Bool(false),
            "companyName" => opt(&u.company_name),
            "department" => opt(&u.department),
            "displayName" => Attr::Str(u.display_name.clone()),
            "employeeId" => opt(&u.employee_id),
            "givenName" => opt(&u.given_name),
            "jobTitle" => opt(&u.job_title),
            "mail" => opt(&u.mail),
            "mailNickname" => opt(&u.mail_nickname),
            "objectId" => Attr::Str(u.id.to_string()),
            "physicalDeliveryOfficeName" => opt(&u.office_location),
            "surname" => opt(&u.surname),
            "userPrincipalName" => Attr::Str(u.user_principal_name.clone()),
            "userType" => Attr::Str(u.user_type.as_str().into()),
            "otherMails" => Attr::Strings(u.other_mails.clone()),
            "usageLocation" => opt(&u.usage_location),
            "proxyAddresses" => Attr::Strings(u.mail.iter().map(|m| format!("SMTP:{m}")).collect()),
            "assignedPlans" => Attr::Plans(Vec::new()),
            "memberOf" => Attr::Groups(self.member_of.to_vec()),
            _ => Attr::Null,
        }
    }
    fn manager(&self) -> Option<ObjectId> {
        self.user.manager_id
    }
}

/// A device, with the groups it is a direct member of.
pub struct DeviceFacts<'a> {
    /// The device.
    pub device: &'a Device,
    /// Direct memberships.
    pub member_of: &'a [ObjectId],
}

impl Subject for DeviceFacts<'_> {
    fn attr(&self, name: &str) -> Attr {
        let d = self.device;
        match name {
            "accountEnabled" => Attr::Bool(d.account_enabled),
            "isCompliant" => Attr::Bool(d.is_compliant),
            "isManaged" => Attr::Bool(d.is_managed),
            "isRooted" => Attr::Bool(false),
            "deviceId" => Attr::Str(d.device_id.to_string()),
            "displayName" => Attr::Str(d.display_name.clone()),
            "deviceOSType" => Attr::Str(d.operating_system.as_str().into()),
            "deviceOSVersion" => Attr::Str(d.operating_system_version.clone()),
            // Entra spells a joined device's trust type `AzureAD` in rules.
            "deviceTrustType" => Attr::Str(d.trust_type.as_str().into()),
            "deviceOwnership" => Attr::Str(
                if d.trust_type == crate::model::DeviceTrustType::Workplace {
                    "Personal"
                } else {
                    "Company"
                }
                .into(),
            ),
            "objectId" => Attr::Str(d.id.to_string()),
            "managementType" => {
                if d.is_managed {
                    Attr::Str("MDM".into())
                } else {
                    Attr::Null
                }
            }
            "devicePhysicalIds" | "systemLabels" => Attr::Strings(Vec::new()),
            "memberOf" => Attr::Groups(self.member_of.to_vec()),
            _ => Attr::Null,
        }
    }
    fn manager(&self) -> Option<ObjectId> {
        None
    }
}

/// One `-any`/`-all` item.
#[derive(Clone, Copy)]
enum Item<'a> {
    Str(&'a str),
    Plan(&'a [String; 3]),
    Group(ObjectId),
}

fn item_attr(item: Item<'_>, prop: &Prop) -> Attr {
    match item {
        Item::Str(s) => Attr::Str(s.to_string()),
        Item::Group(g) => Attr::Str(g.to_string()),
        Item::Plan(p) => {
            let i = PLAN_FIELDS
                .iter()
                .position(|f| *f == prop.name)
                .unwrap_or(0);
            p.get(i)
                .filter(|s| !s.is_empty())
                .map_or(Attr::Null, |s| Attr::Str(s.clone()))
        }
    }
}

fn lookup(prop: &Prop, subject: &dyn Subject, item: Option<Item<'_>>) -> Attr {
    match item {
        Some(it) if prop.object != "user" && prop.object != "device" => item_attr(it, prop),
        _ => subject.attr(&prop.name),
    }
}

fn eval(e: &Expr, s: &dyn Subject, item: Option<Item<'_>>, now: Timestamp) -> bool {
    match e {
        Expr::And(a, b, _) => eval(a, s, item, now) && eval(b, s, item, now),
        Expr::Or(a, b, _) => eval(a, s, item, now) || eval(b, s, item, now),
        Expr::Not(a, _) => !eval(a, s, item, now),
        Expr::Compare {
            prop,
            op,
            value,
            regex,
            ..
        } => compare(&lookup(prop, s, item), *op, value, regex.as_ref(), now),
        Expr::Quantified {
            prop, all, body, ..
        } => {
            let attr = s.attr(&prop.name);
            let mut items: Vec<Item<'_>> = Vec::new();
            match &attr {
                Attr::Strings(v) => items.extend(v.iter().map(|x| Item::Str(x))),
                Attr::Plans(v) => items.extend(v.iter().map(Item::Plan)),
                Attr::Groups(v) => items.extend(v.iter().map(|g| Item::Group(*g))),
                _ => {}
            }
            if *all {
                items.iter().all(|it| eval(body, s, Some(*it), now))
            } else {
                items.iter().any(|it| eval(body, s, Some(*it), now))
            }
        }
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// One comparison: values ignore case; a null property satisfies only `-eq null` and the
/// negated operators; a string collection compared directly matches when any item does (and
/// a negated operator when no item does the positive).
fn compare(
    attr: &Attr,
    op: CmpOp,
    value: &Literal,
    regex: Option<&regex::Regex>,
    now: Timestamp,
) -> bool {
    if let Attr::Strings(items) = attr {
        if matches!(value, Literal::Null) {
            return (op == CmpOp::Eq) == items.is_empty();
        }
        let pos = op.positive();
        let any = items
            .iter()
            .any(|i| compare(&Attr::Str(i.clone()), pos, value, regex, now));
        return if op.negated() { !any } else { any };
    }
    match (attr, value) {
        (Attr::Bool(b), Literal::Bool(v)) => (b == v) == (op == CmpOp::Eq),
        (Attr::Null, Literal::Null) => op == CmpOp::Eq,
        (_, Literal::Null) => op == CmpOp::Ne,
        (Attr::Null, _) => op.negated(),
        (Attr::DateTime(t), v) => {
            let want = match v {
                Literal::Now(shift) => now.millis() + shift,
                Literal::Str(s) => match parse_datetime(s) {
                    Some(x) => x,
                    None => return false,
                },
                Literal::DateTime(x) => *x,
                _ => return false,
            };
            match op {
                CmpOp::Eq => *t == want,
                CmpOp::Ne => *t != want,
                CmpOp::Le => *t <= want,
                CmpOp::Ge => *t >= want,
                _ => false,
            }
        }
        (Attr::Str(a), v) => {
            let a_f = fold(a);
            let positive = match (op.positive(), v) {
                (CmpOp::Eq, Literal::Str(b)) => a_f == fold(b),
                (CmpOp::Eq, Literal::Bool(b)) => a_f == b.to_string(),
                (CmpOp::StartsWith, Literal::Str(b)) => a_f.starts_with(&fold(b)),
                (CmpOp::EndsWith, Literal::Str(b)) => a_f.ends_with(&fold(b)),
                (CmpOp::Contains, Literal::Str(b)) => a_f.contains(&fold(b)),
                (CmpOp::Match, _) => regex.is_some_and(|r| r.is_match(a)),
                (CmpOp::In, Literal::List(l)) => l.iter().any(|b| fold(b) == a_f),
                _ => false,
            };
            positive != op.negated()
        }
        _ => false,
    }
}

/// Graph's `expressionEvaluationDetails`: the expression, its result, the property it read, and
/// the sub-expressions that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The sub-expression's source text.
    pub expression: String,
    /// Its result.
    pub result: bool,
    /// `(propertyName, propertyValue)` for a comparison.
    pub property: Option<(String, String)>,
    /// Sub-expressions.
    pub children: Vec<Explanation>,
}

fn source(chars: &[char], span: Span) -> String {
    chars
        .get(span.start..span.end)
        .unwrap_or_default()
        .iter()
        .collect::<String>()
        .trim()
        .to_string()
}

fn render_attr(a: &Attr) -> String {
    match a {
        Attr::Null => String::new(),
        Attr::Str(s) => s.clone(),
        Attr::Bool(b) => b.to_string(),
        Attr::DateTime(t) => t.to_string(),
        Attr::Strings(v) => v.join(","),
        Attr::Plans(v) => v.iter().map(|p| p.join("/")).collect::<Vec<_>>().join(","),
        Attr::Groups(v) => v
            .iter()
            .map(ObjectId::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn explain(e: &Expr, chars: &[char], s: &dyn Subject, now: Timestamp) -> Explanation {
    let expression = source(chars, e.span());
    match e {
        Expr::And(a, b, _) | Expr::Or(a, b, _) => {
            let (ea, eb) = (explain(a, chars, s, now), explain(b, chars, s, now));
            let result = if matches!(e, Expr::And(..)) {
                ea.result && eb.result
            } else {
                ea.result || eb.result
            };
            Explanation {
                expression,
                result,
                property: None,
                children: vec![ea, eb],
            }
        }
        Expr::Not(a, _) => {
            let ea = explain(a, chars, s, now);
            Explanation {
                expression,
                result: !ea.result,
                property: None,
                children: vec![ea],
            }
        }
        Expr::Compare { prop, .. } => Explanation {
            expression,
            result: eval(e, s, None, now),
            property: Some((prop.name.clone(), render_attr(&s.attr(&prop.name)))),
            children: Vec::new(),
        },
        Expr::Quantified { prop, .. } => Explanation {
            expression,
            result: eval(e, s, None, now),
            property: Some((prop.name.clone(), render_attr(&s.attr(&prop.name)))),
            children: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::model::{DeviceOs, DeviceTrustType, UserType};

    const MANAGER: &str = "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb";
    const GROUP_A: &str = "11111111-2222-3333-4444-555555555555";

    fn david() -> User {
        User {
            id: ObjectId::parse("319b41e8-d9e4-42f8-bdc9-741113f48b33").unwrap(),
            tenant_id: TenantId::from_random([1; 16]),
            display_name: "David".into(),
            user_principal_name: "david@contoso.onmicrosoft.test".into(),
            mail_nickname: Some("david-vendor".into()),
            mail: Some("david@contoso.com".into()),
            given_name: Some("David".into()),
            surname: Some("Jones".into()),
            job_title: Some("SDE II".into()),
            department: Some("Sales".into()),
            office_location: None,
            company_name: Some("Contoso".into()),
            employee_id: Some("E1".into()),
            account_enabled: true,
            user_type: UserType::Member,
            created: Timestamp(0),
            password_hash: None,
            force_change_password_next_sign_in: false,
            manager_id: ObjectId::parse(MANAGER),
            other_mails: vec!["alias@domain".into(), "d@contoso.com".into()],
            usage_location: None,
            external: None,
        }
    }

    fn laptop() -> Device {
        Device {
            id: ObjectId::from_random([9; 16]),
            tenant_id: TenantId::from_random([1; 16]),
            device_id: uuid::Uuid::from_bytes([7; 16]),
            display_name: "Rob iPhone".into(),
            operating_system: DeviceOs::Windows,
            operating_system_version: "10.0.19045".into(),
            trust_type: DeviceTrustType::AzureAd,
            is_compliant: true,
            is_managed: true,
            account_enabled: true,
            public_key: None,
            created: Timestamp(0),
            last_sign_in: None,
        }
    }

    #[derive(Debug)]
    enum Want {
        T,
        F,
        /// An error whose message contains this.
        E(&'static str),
    }
    use Want::*;

    fn check(rows: &[(&str, Want)], s: &dyn Subject) {
        let now = Timestamp(1_700_000_000_000);
        for (rule, want) in rows {
            let got = parse(rule);
            match (want, got) {
                (T | F, Ok(r)) => {
                    let expect = matches!(want, T);
                    assert_eq!(r.matches(s, now), expect, "{rule}");
                    assert_eq!(
                        r.explain(s, now).result,
                        expect,
                        "{rule}: explanation agrees"
                    );
                }
                (E(part), Err(e)) => assert!(e.message().contains(part), "{rule}: {}", e.message()),
                (w, g) => panic!("{rule}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    /// Every example rule on Entra's page "Dynamic membership rules for groups in Microsoft Entra
    /// ID" (user rules), with the expected result for David (Sales, SDE II, other mails
    /// alias@domain and d@contoso.com, manager aaaaaaaa-…). Placeholders ("value") are kept as
    /// written where they are valid strings; where a placeholder is not a valid value of its type
    /// the expected answer is the error.
    #[test]
    fn golden_corpus_user_rules() {
        let u = david();
        let groups = [ObjectId::parse(GROUP_A).unwrap()];
        let s = UserFacts {
            user: &u,
            member_of: &groups,
        };
        check(
            &[
                ("user.department -eq \"Sales\"", T),
                ("user.accountEnabled -eq true", T),
                ("user.dirSyncEnabled -eq true", F),
                ("user.employeeHireDate -eq \"value\"", E("not a dateTime")),
                ("user.city -eq \"value\"", F),
                ("user.country -eq \"value\"", F),
                ("user.companyName -eq \"value\"", F),
                ("user.department -eq \"value\"", F),
                ("user.displayName -eq \"value\"", F),
                ("user.employeeId -eq \"value\"", F),
                ("user.employeeId -ne null", T),
                ("user.facsimileTelephoneNumber -eq \"value\"", F),
                ("user.givenName -eq \"value\"", F),
                ("user.jobTitle -eq \"value\"", F),
                ("user.mail -eq \"value\"", F),
                ("user.mail -notEndsWith \"@Contoso.com\"", F),
                ("user.mailNickName -eq \"value\"", F),
                ("user.mailNickname -endsWith \"-vendor\"", T),
                ("user.memberOf -any (group.objectId -in ['value'])", E("not a group object id")),
                ("user.memberOf -any (group.objectId -in ['11111111-2222-3333-4444-555555555555'])", T),
                ("user.mobile -eq \"value\" ", F),
                ("user.objectId -eq \"aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb\" ", F),
                ("user.onPremisesDistinguishedName -eq \"value\" ", F),
                ("user.onPremisesSecurityIdentifier -eq \"S-1-1-11-1111111111-1111111111-1111111111-1111111\"", F),
                ("user.passwordPolicies -eq \"DisableStrongPassword\"", F),
                ("user.physicalDeliveryOfficeName -eq \"value\"", F),
                ("user.postalCode -eq \"value\"", F),
                ("user.preferredLanguage -eq \"en-US\"", F),
                ("user.sipProxyAddress -eq \"value\"", F),
                ("user.state -eq \"value\"", F),
                ("user.streetAddress -eq \"value\"", F),
                ("user.surname -eq \"value\"", F),
                ("user.telephoneNumber -eq \"value\"", F),
                ("user.usageLocation -eq \"US\"", F),
                ("user.userPrincipalName -eq \"alias@domain\"", F),
                ("user.userType -eq \"Member\"", T),
                ("user.otherMails -startsWith \"alias@domain\"", T),
                ("user.otherMails -endsWith\"@contoso.com\"", T),
                ("user.proxyAddresses -startsWith \"SMTP: alias@domain\"", F),
                ("user.proxyAddresses -notEndsWith \"@outlook.com\"", T),
                ("user.department -in [\"50001\",\"50002\",\"50003\",\"50005\",\"50006\",\"50007\",\"50008\",\"50016\",\"50020\",\"50024\",\"50038\",\"50039\",\"51100\"]", F),
                ("user.employeehiredate -ge system.now -plus p1d ", F),
                ("user.employeehiredate -le 2020-06-10T18:13:20Z ", F),
                ("user.displayName -match \"^Da.*\"   ", T),
                ("user.displayName -match \".*vid\"", T),
                ("user.department -eq `\"Sales`\"", F),
                ("user.department -eq null", F),
                ("user.mail \u{2013}ne null", T),
                ("(user.department -eq \"Sales\") -or (user.department -eq \"Marketing\")", T),
                ("(user.department -eq \"Sales\") -and -not (user.jobTitle -startsWith \"SDE\")", F),
                ("user.department \u{2013}eq \"Marketing\" \u{2013}and user.country \u{2013}eq \"US\"", F),
                ("user.country \u{2013}eq \"US\" \u{2013}and (user.department \u{2013}eq \"Marketing\" \u{2013}or user.department \u{2013}eq \"Sales\")", F),
                ("user.assignedPlans -any (assignedPlan.servicePlanId -eq \"aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e\" -and assignedPlan.capabilityStatus -eq \"Enabled\") ", F),
                ("user.assignedPlans -any (assignedPlan.servicePlanId -eq \"efb87545-963c-4e0d-99df-69c6916d9eb0\" -and assignedPlan.capabilityStatus -eq \"Enabled\")", F),
                ("user.assignedPlans -any (assignedPlan.service -eq \"SCO\" -and assignedPlan.capabilityStatus -eq \"Enabled\")", F),
                ("user.assignedPlans -all (assignedPlan.servicePlanId -eq null)", T),
                ("(user.proxyAddresses -any (_ -startsWith \"contoso\"))", F),
                ("Direct Reports for \"aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb\"", T),
                ("user.objectId -ne null", T),
                ("(user.objectId -ne null) -and (user.userType -eq \"Member\")", T),
                ("(user.extensionAttribute15 -eq \"Marketing\")", F),
                ("user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq \"123\"", F),
                // From "Create simpler, more efficient rules".
                ("user.city -match \"ago\"", F),
                ("user.city -match \".*?ago.*\"", F),
                ("user.city -startswith \"Lag\"", F),
                ("user.department -eq \"Accounts\" -and user.city -in [\"Lagos\", \"Ibadan\", \"Kaduna\", \"Abuja\", \"Port Harcourt\"]", F),
                ("user.city -notin [\"Lagos\", \"Ibadan\", \"Kaduna\", \"Abuja\", \"Port Harcourt\"]", T),
                // The Q&A's rule: a list needs -in.
                ("(user.jobTitle -eq \"employeetitle1\") or (user.displayName -eq [\"a\", \"b\"])", E("a list needs -in or -notIn")),
                ("(user.displayName -startsWith \"EndTestUser\")", F),
            ],
            &s,
        );
    }

    /// The device rules of the same page, for a compliant, managed, Entra-joined Windows device.
    #[test]
    fn golden_corpus_device_rules() {
        let d = laptop();
        let s = DeviceFacts {
            device: &d,
            member_of: &[],
        };
        check(
            &[
                ("device.accountEnabled -eq true", T),
                ("device.deviceCategory -eq \"BYOD\"", F),
                (
                    "device.deviceId -eq \"d4fe7726-5966-431c-b3b8-cddc8fdb717d\"",
                    F,
                ),
                (
                    "device.deviceManagementAppId -eq \"0000000a-0000-0000-c000-000000000000\"",
                    F,
                ),
                ("device.deviceManufacturer -eq \"Samsung\"", F),
                ("device.deviceModel -eq \"iPad Air\"", F),
                ("device.displayName -eq \"Rob iPhone\"", T),
                (
                    "(device.deviceOSType -eq \"iPad\") -or (device.deviceOSType -eq \"iOS\")",
                    F,
                ),
                ("device.deviceOSType -startsWith \"AndroidEnterprise\"", F),
                ("device.deviceOSType -eq \"AndroidForWork\"", F),
                ("device.deviceOSType -eq \"Windows\"", T),
                ("device.deviceOSVersion -eq \"9.1\"", F),
                ("device.deviceOSVersion -startsWith \"10.0.1\"", T),
                ("(device.deviceOSVersion -startsWith \"10.0.1\")", T),
                ("device.deviceOwnership -eq \"Company\"", T),
                ("device.devicePhysicalIDs -any _ -startsWith \"[ZTDId]\"", F),
                (
                    "(device.devicePhysicalIds -any _ -eq \"[OrderID]:179887111881\"",
                    E("expected ')'"),
                ),
                (
                    "(device.devicePhysicalIds -any _ -eq \"[PurchaseOrderId]:76222342342\")",
                    F,
                ),
                ("device.deviceTrustType -eq \"AzureAD\"", T),
                ("device.enrollmentProfileName -eq \"DEP iPhones\"", F),
                ("device.extensionAttribute1 -eq \"some string value\"", F),
                ("device.extensionAttribute15 -eq \"some string value\"", F),
                ("device.isRooted -eq true", F),
                ("device.managementType -eq \"MDM\"", T),
                (
                    "device.memberOf -any (group.objectId -in ['value'])",
                    E("not a group object id"),
                ),
                (
                    "device.objectId -eq \"aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb\"",
                    F,
                ),
                ("device.profileType -eq \"RegisteredDevice\"", F),
                ("device.systemLabels -startsWith \"M365Managed\"", F),
                ("device.objectId -ne null", T),
                ("device.isCompliant -eq true", T),
            ],
            &s,
        );
    }

    #[test]
    fn errors_name_the_position_and_what_is_unsupported() {
        let pos = |r: &str| parse(r).unwrap_err();
        let e = pos("user.department -eq \"Sales\" -and user.shoeSize -eq \"9\"");
        assert_eq!(e.position, 34);
        assert!(
            e.message().contains("'user.shoeSize'") && e.message().contains("position 34"),
            "{}",
            e.message()
        );
        let e = pos("user.department -like \"Sales\"");
        assert_eq!(e.position, 17);
        assert!(e.message().contains("'-like'"), "{}", e.message());
        let e = pos("user.accountEnabled -startsWith true");
        assert!(
            e.message().contains("'-startsWith'") && e.message().contains("boolean"),
            "{}",
            e.message()
        );
        let e = pos("user.department -le \"x\"");
        assert!(
            e.message().contains("employeeHireDate only"),
            "{}",
            e.message()
        );
        let e = pos("user.department -eq \"Sales\" -and device.isRooted -eq true");
        assert_eq!(e.kind, RuleErrorKind::MixedSubjects);
        let e = pos("user.department -eq \"Sales");
        assert!(e.message().contains("not closed"), "{}", e.message());
        let e = pos("(user.department -eq \"a\"");
        assert!(e.message().contains("expected ')'"), "{}", e.message());
        let e = pos("user.department -eq \"a\" user.city -eq \"b\"");
        assert!(e.message().contains("-and, -or"), "{}", e.message());
        let e = pos("user.department -match \"(unclosed\"");
        assert!(
            e.message().contains("regular expression"),
            "{}",
            e.message()
        );
        let e = pos(&format!("user.department -eq \"{}\"", "x".repeat(3100)));
        assert!(
            matches!(e.kind, RuleErrorKind::TooLong(_)) && e.message().contains("3072"),
            "{}",
            e.message()
        );
        let e = pos("_ -eq \"x\"");
        assert!(e.message().contains("only inside -any"), "{}", e.message());
        let e = pos("user.proxyAddresses -any (assignedPlan.service -eq \"x\")");
        assert!(e.message().contains("use _ there"), "{}", e.message());
        let e = pos("user.department -any (_ -eq \"x\")");
        assert!(e.message().contains("not multi-valued"), "{}", e.message());
        let e = pos(
            "Direct Reports for \"aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb\" -and user.city -eq \"x\"",
        );
        assert!(
            e.message().contains("cannot be combined"),
            "{}",
            e.message()
        );
        let e = pos("user.memberOf -any (group.objectId -in ['11111111-2222-3333-4444-555555555555']) -and user.city -eq \"x\"");
        assert!(
            e.message().contains("cannot be combined"),
            "{}",
            e.message()
        );
        let many: Vec<String> = (0..51)
            .map(|i| format!("'{:08x}-0000-0000-0000-000000000000'", i))
            .collect();
        let e = pos(&format!(
            "user.memberOf -any (group.objectId -in [{}])",
            many.join(",")
        ));
        assert!(e.message().contains("51 groups"), "{}", e.message());
        assert!(pos("").message().contains("empty"));
        let deep = format!("{}user.city -eq \"a\"{}", "(".repeat(40), ")".repeat(40));
        assert!(
            pos(&deep).message().contains("levels deep"),
            "{}",
            pos(&deep).message()
        );
        let nots = format!("{}user.city -eq \"a\"", "-not ".repeat(600));
        assert!(pos(&nots).message().contains("levels deep"));
        let ok = format!("{}user.city -eq \"a\"{}", "(".repeat(30), ")".repeat(30));
        assert!(parse(&ok).is_ok(), "30 levels are fine");
        // Just under the limit is fine.
        let ok = format!(
            "user.department -eq \"{}\"",
            "x".repeat(MAX_RULE_CHARS - 22)
        );
        assert_eq!(ok.chars().count(), MAX_RULE_CHARS);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn precedence_case_escaping_and_null() {
        let u = david();
        let s = UserFacts {
            user: &u,
            member_of: &[],
        };
        let now = Timestamp(0);
        let m = |r: &str| parse(r).unwrap().matches(&s, now);
        // -and binds tighter than -or: F -and F -or T = T; F -and (F -or T) = F.
        assert!(m(
            "user.city -eq \"x\" -and user.city -eq \"y\" -or user.department -eq \"sales\""
        ));
        assert!(!m(
            "user.city -eq \"x\" -and (user.city -eq \"y\" -or user.department -eq \"sales\")"
        ));
        // -not binds tighter than -and.
        assert!(m(
            "-not user.city -eq \"x\" -and user.department -eq \"Sales\""
        ));
        // Hyphen optional, operators in any case, values ignore case.
        assert!(m(
            "user.department EQ \"SALES\" and user.jobTitle startsWith \"sde\""
        ));
        assert!(m("user.displayName -match \"^DAV\""));
        // Single quotes with a doubled quote; backtick-escaped double quotes inside a string.
        let mut o = david();
        o.department = Some("O'Neil \"R&D\"".into());
        let s2 = UserFacts {
            user: &o,
            member_of: &[],
        };
        assert!(parse("user.department -eq 'O''Neil \"R&D\"'")
            .unwrap()
            .matches(&s2, now));
        assert!(parse("user.department -eq \"O'Neil `\"R&D`\"\"")
            .unwrap()
            .matches(&s2, now));
        // null: unset property.
        assert!(m("user.city -eq null"));
        assert!(m("user.city -ne \"Lagos\""));
        assert!(!m("user.city -startsWith \"L\""));
        assert!(m("user.city -notStartsWith \"L\""));
        // "null" in quotes is the string.
        assert!(!m("user.city -eq \"null\""));
        // -all over an empty collection is true, -any false.
        let mut n = david();
        n.other_mails.clear();
        let s3 = UserFacts {
            user: &n,
            member_of: &[],
        };
        assert!(parse("user.otherMails -all (_ -endsWith \"@x\")")
            .unwrap()
            .matches(&s3, now));
        assert!(!parse("user.otherMails -any (_ -endsWith \"@x\")")
            .unwrap()
            .matches(&s3, now));
        assert!(m("user.otherMails -all (_ -contains \"@\")"));
        assert!(!m("user.otherMails -all (_ -endsWith \"@contoso.com\")"));
    }

    #[test]
    fn match_is_linear_time_and_size_bounded() {
        // Catastrophic for a backtracking engine; linear for the regex crate.
        let u = User {
            display_name: format!("{}!", "a".repeat(5000)),
            ..david()
        };
        let s = UserFacts {
            user: &u,
            member_of: &[],
        };
        assert!(!parse("user.displayName -match \"^(a+)+$\"")
            .unwrap()
            .matches(&s, Timestamp(0)));
        // A pattern whose compiled program is too large is refused.
        let e = parse("user.displayName -match \"\\w{1000}\\w{1000}\"").unwrap_err();
        assert!(matches!(e.kind, RuleErrorKind::Regex(_)), "{e:?}");
    }

    #[test]
    fn reads_and_explanation() {
        let r =
            parse("(user.department -eq \"Sales\") -and -not (user.jobTitle -startsWith \"SDE\")")
                .unwrap();
        assert_eq!(
            r.reads().into_iter().collect::<Vec<_>>(),
            ["department", "jobTitle"]
        );
        let u = david();
        let x = r.explain(
            &UserFacts {
                user: &u,
                member_of: &[],
            },
            Timestamp(0),
        );
        assert!(!x.result);
        assert_eq!(x.children.len(), 2);
        assert_eq!(x.children[0].expression, "user.department -eq \"Sales\"");
        assert_eq!(
            x.children[0].property,
            Some(("department".into(), "Sales".into()))
        );
        assert!(
            x.children[1].children[0].result,
            "the -not's operand was true"
        );
        assert_eq!(
            parse("Direct Reports for \"aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb\"")
                .unwrap()
                .reads()
                .len(),
            1
        );
        assert_eq!(
            parse_datetime("2020-06-10T18:13:20Z"),
            Some(1_591_812_800_000)
        );
        assert_eq!(parse_duration("p1d"), Some(86_400_000));
        assert_eq!(parse_duration("pt1h30m"), Some(5_400_000));
    }
}
