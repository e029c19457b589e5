//! Tests for the OData layer: every operator and error, paging under inserts and deletes, and
//! property tests that nothing panics and that paging returns each match exactly once.

use super::*;
use proptest::prelude::*;

fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.user",
        &[
            "id",
            "displayName",
            "userPrincipalName",
            "department",
            "accountEnabled",
            "identifierUris",
            "createdDateTime",
            "groupTypes",
            "proxyAddresses",
            "passwordProfile",
            "age",
            "appRoles",
        ],
        &["displayName", "userPrincipalName", "createdDateTime"],
        "id",
    )
}

fn user(id: &str, name: &str, dept: Option<&str>) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": id,
        "displayName": name,
        "department": dept,
        "accountEnabled": true,
        "identifierUris": ["api://A", "https://b"],
        "createdDateTime": "2024-05-01T00:00:00Z",
        "groupTypes": [],
        "proxyAddresses": ["SMTP:alex@contoso.com", "smtp:a@contoso.net"],
        "passwordProfile": {"forceChangePasswordNextSignIn": true},
        "age": 42,
        "appRoles": [{"value": "Reader", "isEnabled": true}, {"value": "Writer", "isEnabled": false}],
    })
}

fn ok(f: &str, v: &Value) -> bool {
    match parse_filter(f) {
        Ok(p) => eval(&p, v),
        Err(e) => panic!("{f}: {e}"),
    }
}

fn ferr(f: &str) -> String {
    match parse_filter(f) {
        Ok(p) => panic!("{f} parsed as {p:?}"),
        Err(e) => e.message(),
    }
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn qerr(kv: &[(&str, &str)]) -> String {
    match Query::parse(&pairs(kv), &spec()) {
        Ok(q) => panic!("{kv:?} parsed as {q:?}"),
        Err(e) => e.message(),
    }
}

fn query(kv: &[(&str, &str)]) -> Query {
    Query::parse(&pairs(kv), &spec()).unwrap()
}

// ----- parsing -------------------------------------------------------------------------------

#[test]
fn parses_the_ast() {
    let s = |x: &str| x.to_string();
    assert_eq!(
        parse_filter("displayName eq 'a'").unwrap(),
        Filter::Cmp(vec![s("displayName")], Op::Eq, Lit::Str(s("a")))
    );
    assert_eq!(
        parse_filter("passwordProfile/forceChangePasswordNextSignIn eq true").unwrap(),
        Filter::Cmp(
            vec![s("passwordProfile"), s("forceChangePasswordNextSignIn")],
            Op::Eq,
            Lit::Bool(true)
        )
    );
    assert_eq!(
        parse_filter("id eq 8F2C1A3E-0000-4000-8000-00000000ABCD").unwrap(),
        Filter::Cmp(
            vec![s("id")],
            Op::Eq,
            Lit::Guid(s("8f2c1a3e-0000-4000-8000-00000000abcd"))
        )
    );
    assert_eq!(
        parse_filter("age ge -3.5").unwrap(),
        Filter::Cmp(vec![s("age")], Op::Ge, Lit::Num(-3.5))
    );
    let Filter::Cmp(_, Op::Ge, Lit::DateTime(d)) =
        parse_filter("activityDateTime ge 2024-01-01T01:00:00+01:00").unwrap()
    else {
        panic!()
    };
    assert_eq!(d.to_rfc3339(), "2024-01-01T00:00:00+00:00");
    let Filter::Cmp(_, _, Lit::DateTime(d)) = parse_filter("x lt 2024-02-03").unwrap() else {
        panic!()
    };
    assert_eq!(d.to_rfc3339(), "2024-02-03T00:00:00+00:00");
    assert_eq!(
        parse_filter("groupTypes/any(c:c eq 'Unified')").unwrap(),
        Filter::Any {
            path: vec![s("groupTypes")],
            var: s("c"),
            body: Some(Box::new(Filter::Cmp(
                vec![s("c")],
                Op::Eq,
                Lit::Str(s("Unified"))
            )))
        }
    );
    assert_eq!(
        parse_filter("department in ('a', 'b')").unwrap(),
        Filter::In(
            vec![s("department")],
            vec![Lit::Str(s("a")), Lit::Str(s("b"))]
        )
    );
    assert_eq!(
        parse_filter("startswith(displayName,'it''s')").unwrap(),
        Filter::StartsWith(vec![s("displayName")], s("it's"))
    );
    assert_eq!(
        parse_filter("department eq null").unwrap(),
        Filter::Cmp(vec![s("department")], Op::Eq, Lit::Null)
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let a = parse_filter("not (a eq 1) and b ne 2 or c in (3) or startswith(d,'x')").unwrap();
    let b = parse_filter("NOT (a EQ 1) AND b Ne 2 OR c IN (3) Or StartsWith(d,'x')").unwrap();
    assert_eq!(a, b);
    assert_eq!(
        parse_filter("a eq TRUE").unwrap(),
        parse_filter("a eq true").unwrap()
    );
    assert_eq!(
        parse_filter("a eq NULL").unwrap(),
        parse_filter("a eq null").unwrap()
    );
    assert_eq!(
        parse_filter("x/ANY(y:y eq 1)").unwrap(),
        parse_filter("x/any(y:y eq 1)").unwrap()
    );
}

#[test]
fn precedence_not_over_and_over_or() {
    let p = |s: &str| parse_filter(s).unwrap();
    // a or b and c == a or (b and c)
    assert_eq!(
        p("a eq 1 or b eq 2 and c eq 3"),
        p("a eq 1 or (b eq 2 and c eq 3)")
    );
    // a and b or c == (a and b) or c
    assert_eq!(
        p("a eq 1 and b eq 2 or c eq 3"),
        p("(a eq 1 and b eq 2) or c eq 3")
    );
    // not a and b == (not a) and b
    assert_eq!(p("not a eq 1 and b eq 2"), p("(not (a eq 1)) and b eq 2"));
    assert!(matches!(
        p("not a eq 1 or b eq 2"),
        Filter::Or(l, _) if matches!(*l, Filter::Not(_))
    ));
    // left associative
    assert_eq!(
        p("a eq 1 or b eq 2 or c eq 3"),
        p("(a eq 1 or b eq 2) or c eq 3")
    );
    let u = user("1", "x", None);
    assert!(ok("id eq '9' and id eq '9' or id eq '1'", &u));
    assert!(!ok("id eq '9' and (id eq '9' or id eq '1')", &u));
    assert!(ok("id eq '1' or id eq '9' and id eq '9'", &u));
    assert!(!ok("not id eq '1' or id eq '9'", &u));
    assert!(ok("not id eq '9' and id eq '1'", &u));
    assert!(ok("not not id eq '1'", &u));
}

#[test]
fn string_escaping() {
    let u = user("3", "O'Neil", None);
    assert!(ok("displayName eq 'o''neil'", &u));
    assert!(!ok("displayName eq 'oneil'", &u));
    assert_eq!(
        parse_filter("a eq ''''").unwrap(),
        Filter::Cmp(vec!["a".into()], Op::Eq, Lit::Str("'".into()))
    );
    assert_eq!(
        parse_filter("a eq ''").unwrap(),
        Filter::Cmp(vec!["a".into()], Op::Eq, Lit::Str(String::new()))
    );
    // Operators inside strings are text.
    assert_eq!(
        parse_filter("a eq 'x and b eq (y)'").unwrap(),
        Filter::Cmp(vec!["a".into()], Op::Eq, Lit::Str("x and b eq (y)".into()))
    );
    assert!(ok(
        "displayName eq 'Zoë ünïcode'",
        &user("1", "ZOË ÜNÏCODE", None)
    ));
}

// ----- evaluation ----------------------------------------------------------------------------

#[test]
fn every_comparison_operator() {
    let u = user("1", "Bob", Some("Sales"));
    for (f, want) in [
        ("displayName eq 'bob'", true),
        ("displayName ne 'bob'", false),
        ("displayName ne 'alice'", true),
        ("displayName gt 'alice'", true),
        ("displayName gt 'BOB'", false),
        ("displayName ge 'BOB'", true),
        ("displayName lt 'carol'", true),
        ("displayName lt 'bob'", false),
        ("displayName le 'BOB'", true),
        ("age eq 42", true),
        ("age eq 42.0", true),
        ("age ne 42", false),
        ("age gt 41", true),
        ("age gt 42", false),
        ("age ge 42", true),
        ("age lt 43", true),
        ("age le 41", false),
        ("accountEnabled eq true", true),
        ("accountEnabled eq false", false),
        ("accountEnabled ne false", true),
        // Type mismatch: never equal.
        ("age eq '42'", false),
        ("displayName eq 5", false),
        ("accountEnabled eq 'true'", false),
    ] {
        assert_eq!(ok(f, &u), want, "{f}");
    }
}

#[test]
fn strings_and_guids_ignore_case() {
    let u = user(
        "8f2c1a3e-0000-4000-8000-00000000abcd",
        "Alex Wilber",
        Some("Sales"),
    );
    assert!(ok("displayName eq 'alex wilber'", &u));
    assert!(ok("DisplayName EQ 'ALEX WILBER'", &u));
    assert!(ok("id eq 8F2C1A3E-0000-4000-8000-00000000ABCD", &u));
    assert!(ok("id eq '8F2C1A3E-0000-4000-8000-00000000ABCD'", &u));
    assert!(ok("id in (8f2c1a3e-0000-4000-8000-00000000abcd, 'x')", &u));
    assert!(ok("startswith(displayName,'ALEX')", &u));
    assert!(ok("endswith(displayName,'wilBER')", &u));
    assert!(!ok("startswith(displayName,'wilber')", &u));
    assert!(!ok("endswith(displayName,'alex')", &u));
    assert!(ok("startswith(displayName,'')", &u));
    assert!(ok("department in ('HR', 'sales')", &u));
    assert!(!ok("department in ('hr')", &u));
}

#[test]
fn null_and_missing_properties() {
    let u = user("2", "x", None);
    assert!(ok("department eq null", &u));
    assert!(!ok("department ne null", &u));
    assert!(ok("department ne 'HR'", &u));
    assert!(!ok("department eq 'HR'", &u));
    assert!(!ok("department gt 'a'", &u));
    assert!(!ok("department lt 'a'", &u));
    assert!(!ok("startswith(department,'a')", &u));
    assert!(ok("department in (null, 'x')", &u));
    // Missing property is null.
    assert!(ok("jobTitle eq null", &u));
    assert!(ok("passwordProfile/nope eq null", &u));
    assert!(ok("nope/deeper/still eq null", &u));
    assert!(!ok("displayName eq null", &u));
    assert!(ok("displayName ne null", &u));
    assert!(!ok("groupTypes/any(c:c eq 'x')", &json!({})));
    // Non-object entity: everything is null.
    assert!(ok("a eq null", &json!(5)));
}

#[test]
fn datetimes_compare_chronologically() {
    let u = json!({"createdDateTime": "2024-05-01T12:00:00.1234567Z"});
    assert!(ok("createdDateTime ge 2024-01-01T00:00:00Z", &u));
    assert!(ok("createdDateTime lt 2025-01-01T00:00:00Z", &u));
    assert!(ok("createdDateTime gt 2024-05-01T12:00:00Z", &u));
    assert!(!ok("createdDateTime gt 2024-05-01T12:00:00.5Z", &u));
    // Offsets are honoured: 13:00+01:00 is 12:00Z.
    assert!(ok("createdDateTime ge 2024-05-01T13:00:00+01:00", &u));
    assert!(!ok("createdDateTime ge 2024-05-01T11:30:00-01:00", &u));
    assert!(ok("createdDateTime ge 2024-05-01", &u));
    let plain = json!({"createdDateTime": "2024-05-01T00:00:00Z"});
    assert!(ok("createdDateTime eq 2024-05-01T02:00:00+02:00", &plain));
    // Not a datetime in the entity: incomparable.
    assert!(!ok(
        "createdDateTime ge 2024-01-01T00:00:00Z",
        &json!({"createdDateTime": "soon"})
    ));
    assert!(ok(
        "createdDateTime ne 2024-01-01T00:00:00Z",
        &json!({"createdDateTime": "soon"})
    ));
}

#[test]
fn lambdas() {
    let u = user("1", "x", None);
    assert!(ok("identifierUris/any(x:x eq 'api://a')", &u));
    assert!(ok("identifierUris/any(x: x eq 'API://A')", &u));
    assert!(!ok("identifierUris/any(x:x eq 'api://c')", &u));
    assert!(ok("proxyAddresses/any(x:startswith(x,'smtp:'))", &u));
    assert!(ok("proxyAddresses/any(x:endswith(x,'.NET'))", &u));
    assert!(!ok("groupTypes/any(c:c eq 'Unified')", &u));
    assert!(ok(
        "groupTypes/any(c:c eq 'Unified')",
        &json!({"groupTypes": ["unified"]})
    ));
    assert!(ok("appRoles/any(r:r/value eq 'writer')", &u));
    assert!(!ok(
        "appRoles/any(r:r/value eq 'writer' and r/isEnabled eq true)",
        &u
    ));
    assert!(ok(
        "appRoles/any(r:r/value eq 'reader' and r/isEnabled eq true)",
        &u
    ));
    assert!(ok("appRoles/any(r:r/value in ('x','READER'))", &u));
    assert!(ok("not groupTypes/any(c:c eq 'Unified')", &u));
    // Body may refer to the entity too.
    assert!(ok(
        "appRoles/any(r:r/value eq 'reader' and displayName eq 'X')",
        &u
    ));
    // any() without a body: non-empty collection.
    assert!(ok("identifierUris/any()", &u));
    assert!(!ok("groupTypes/any()", &u));
    // Nested lambdas.
    let n = json!({"appRoles": [{"tags": ["a", "b"]}, {"tags": ["c"]}]});
    assert!(ok("appRoles/any(r:r/tags/any(t:t eq 'C'))", &n));
    assert!(!ok("appRoles/any(r:r/tags/any(t:t eq 'd'))", &n));
    // Not a collection.
    assert!(!ok("displayName/any(x:x eq 'x')", &u));
}

// ----- errors --------------------------------------------------------------------------------

#[test]
fn filter_errors_name_problem_and_position() {
    assert_eq!(
        ferr("department eq"),
        "Syntax error at position 13 in '$filter': expected a value after 'eq' but found the end of the expression."
    );
    assert_eq!(
        ferr("displayName eq Alice"),
        "Syntax error at position 15 in '$filter': expected a value after 'eq' but found 'Alice' (string values are quoted: 'Alice')."
    );
    assert_eq!(
        ferr("department xx 'a'"),
        "Syntax error at position 11 in '$filter': expected an operator (eq, ne, gt, ge, lt, le, in) after 'department' but found 'xx'."
    );
    assert_eq!(
        ferr("department"),
        "Syntax error at position 10 in '$filter': expected an operator (eq, ne, gt, ge, lt, le, in) after 'department' but found the end of the expression."
    );
    assert!(ferr("a eq 'unterminated")
        .starts_with("Syntax error at position 5 in '$filter': unterminated string literal"));
    assert_eq!(
        ferr("contains(displayName,'a')"),
        "Syntax error at position 0 in '$filter': the function 'contains' is not supported for directory objects; use startswith."
    );
    assert!(ferr("tolower(displayName) eq 'a'").contains("the function 'tolower' is not supported"));
    assert_eq!(
        ferr("(a eq 'b'"),
        "Syntax error at position 9 in '$filter': expected ')' but found the end of the expression."
    );
    assert_eq!(
        ferr("a eq 'b')"),
        "Syntax error at position 8 in '$filter': unbalanced ')'."
    );
    assert!(ferr("a eq 'b' c eq 'd'").starts_with(
        "Syntax error at position 9 in '$filter': unexpected 'c' after a complete expression"
    ));
    assert_eq!(
        ferr("a eq 1 and"),
        "Syntax error at position 10 in '$filter': expected an expression but found the end of the text."
    );
    assert_eq!(
        ferr("a eq #"),
        "Syntax error at position 5 in '$filter': unexpected character '#'."
    );
    assert!(ferr("a eq 1.2.3").contains("'1.2.3' is not a valid number, GUID or datetime"));
    assert!(ferr("a eq 2024-13-45T99:99:99Z").contains("not a valid number"));
    assert!(ferr("a eq 1e999").contains("not a valid number"));
    assert!(ferr("x/all(y:y eq 1)").contains("'all' is not supported"));
    assert!(ferr("x/any(y y eq 1)").contains("expected ':' after the lambda variable"));
    assert!(ferr("x/any('v':y eq 1)").contains("expected a lambda variable name"));
    assert!(ferr("x/any(y:y eq 1").contains("expected ')' closing 'any('"));
    assert!(ferr("startswith('a', displayName)")
        .contains("the first argument of 'startswith' must be a property name"));
    assert!(ferr("startswith(displayName, 3)")
        .contains("the second argument of 'startswith' must be a quoted string"));
    assert!(ferr("startswith(displayName 'a')").contains("expected ','"));
    assert!(ferr("a in ()").contains("expected a value in the 'in' list but found ')'"));
    assert!(ferr("a in ('x' 'y')").contains("expected ',' or ')' in the 'in' list"));
    assert!(ferr("a in 'x'").contains("expected '(' after 'in'"));
    assert!(ferr("true eq a").contains("expected a property name but found the value 'true'"));
    assert!(ferr("'x' eq a").contains("expected a property name but found ''x''"));
    assert!(ferr("a eq b/c").contains("expected a value after 'eq' but found 'b/c'"));
    assert!(ferr("a//b eq 1").contains("'a//b' is not a valid property path"));
    assert!(ferr("owners/$count eq 0").contains("not a valid property path"));
    assert_eq!(ferr(""), "The '$filter' is empty.");
    assert_eq!(ferr("   "), "The '$filter' is empty.");
}

#[test]
fn filter_bounds() {
    // Length: 4096 is fine, 4097 is not.
    let pad = |n: usize| format!("a eq '{}'", "x".repeat(n - 7));
    assert_eq!(pad(4096).chars().count(), 4096);
    assert!(parse_filter(&pad(4096)).is_ok());
    assert_eq!(
        ferr(&pad(4097)),
        "The '$filter' is 4097 characters long; at most 4096 are allowed."
    );
    // Depth: 32 nested parentheses are fine, 33 are not.
    let nest = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse_filter(&nest(32)).is_ok());
    assert_eq!(
        ferr(&nest(33)),
        "Syntax error at position 33 in '$filter': the expression is nested more than 32 levels deep."
    );
    let nots = |n: usize| format!("{}a eq 1", "not ".repeat(n));
    assert!(parse_filter(&nots(32)).is_ok());
    assert!(ferr(&nots(33)).contains("nested more than 32 levels"));
    assert!(ferr(&"(".repeat(4000)).contains("nested more than 32 levels"));
    assert!(ferr(&"not ".repeat(1000)).contains("nested more than 32 levels"));
    // Long flat chains are fine (not nesting).
    let chain = vec!["a eq 1"; 300].join(" and ");
    assert!(parse_filter(&chain).is_ok());
    // in: 100 values fine, 101 not.
    let list = |n: usize| {
        format!(
            "a in ({})",
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        )
    };
    assert!(parse_filter(&list(100)).is_ok());
    assert!(ferr(&list(101)).contains("an 'in' list may hold at most 100 values"));
}

#[test]
fn query_option_errors() {
    assert_eq!(
        qerr(&[("$filter", "nope eq 'x'")]),
        "Could not find a property named 'nope' on type 'microsoft.graph.user'."
    );
    assert_eq!(
        qerr(&[("$filter", "groupTypes/any(c:nope eq 'x')")]),
        "Could not find a property named 'nope' on type 'microsoft.graph.user'."
    );
    assert!(qerr(&[("$filter", "nope/any(c:c eq 'x')")]).contains("'nope'"));
    assert!(qerr(&[("$filter", "startswith(nope,'x')")]).contains("'nope'"));
    assert!(qerr(&[("$filter", "nope in ('x')")]).contains("'nope'"));
    assert_eq!(
        qerr(&[("$select", "displayName,foo")]),
        "Could not find a property named 'foo' on type 'microsoft.graph.user'."
    );
    assert!(qerr(&[("$select", "")]).contains("'$select'"));
    assert!(qerr(&[("$select", "displayName,,id")]).contains("'$select'"));
    for bad in ["0", "1000", "-1", "abc", "", "1.5"] {
        assert_eq!(
            qerr(&[("$top", bad)]),
            format!("Invalid value '{bad}' for query option '$top': it must be an integer from 1 to 999.")
        );
    }
    assert_eq!(
        qerr(&[("$orderby", "department")]),
        "Sorting by 'department' is not supported on 'microsoft.graph.user'; sortable properties: displayName, userPrincipalName, createdDateTime."
    );
    assert_eq!(
        qerr(&[("$orderby", "nope")]),
        "Could not find a property named 'nope' on type 'microsoft.graph.user'."
    );
    assert!(qerr(&[("$orderby", "displayName up")]).contains("'asc' or 'desc'"));
    assert!(qerr(&[("$orderby", "displayName,id")]).contains("single property"));
    assert!(qerr(&[("$orderby", "displayName asc extra")]).contains("'$orderby'"));
    assert!(qerr(&[("$orderby", " ")]).contains("empty"));
    assert_eq!(
        qerr(&[("$count", "yes")]),
        "Invalid value 'yes' for query option '$count': it must be true or false."
    );
    assert_eq!(
        qerr(&[("$search", "\"displayName:x\"")]),
        "Query option '$search' is not supported; use '$filter' with startswith."
    );
    assert_eq!(
        qerr(&[("$expand", "manager")]),
        "Query option '$expand' is not supported. Supported query options: $filter, $select, $top, $orderby, $count, $skiptoken."
    );
    assert!(qerr(&[("$skip", "10")]).contains("'$skip'"));
    assert_eq!(
        qerr(&[("$top", "1"), ("$TOP", "2")]),
        "Query option '$TOP' was specified more than once, but it must be specified at most once."
    );
    assert!(qerr(&[("$filter", "id eq '1'"), ("$filter", "id eq '1'")]).contains("more than once"));
    // Syntax errors pass through.
    assert!(qerr(&[("$filter", "displayName eq")]).starts_with("Syntax error at position 14"));
}

#[test]
fn query_options_parse() {
    let q = query(&[]);
    assert_eq!(q.top(), 100);
    assert_eq!(q.order_by(), ("id", false));
    assert!(!q.wants_count() && q.filter().is_none() && q.select().is_none());
    let q = query(&[
        ("$filter", "displayName eq 'a'"),
        ("$select", "DISPLAYNAME, id,displayName"),
        ("$top", "999"),
        ("$orderby", "userprincipalname DESC"),
        ("$count", "TRUE"),
        ("api-version", "whatever"),
    ]);
    assert_eq!(q.top(), 999);
    assert_eq!(q.order_by(), ("userPrincipalName", true));
    assert_eq!(
        q.select().unwrap(),
        &["displayName".to_string(), "id".to_string()]
    );
    assert!(q.wants_count() && q.count);
    assert!(q.filter().is_some());
    assert_eq!(
        query(&[("$orderby", "displayName asc")]).order_by(),
        ("displayName", false)
    );
    assert!(!query(&[("$count", "false")]).wants_count());
    // Upper-case option names are accepted.
    assert_eq!(query(&[("$TOP", "5")]).top(), 5);
}

#[test]
fn advanced_query_detection() {
    let adv = |f: &str| needs_advanced_query(&query(&[("$filter", f)]));
    assert!(!adv("displayName eq 'a'"));
    assert!(!adv("startswith(displayName,'a')"));
    assert!(!adv("department in ('a')"));
    assert!(!adv("groupTypes/any(c:c eq 'Unified')"));
    assert!(!adv("department eq null"));
    assert!(adv("displayName ne 'a'"));
    assert!(adv("not startswith(displayName,'a')"));
    assert!(adv("endswith(displayName,'a')"));
    assert!(adv("displayName eq 'a' or department ne 'b'"));
    assert!(adv("proxyAddresses/any(x:endswith(x,'.net'))"));
    assert!(needs_advanced_query(&query(&[("$count", "true")])));
    assert!(!needs_advanced_query(&query(&[("$count", "false")])));
    assert!(!needs_advanced_query(&query(&[])));
}

#[test]
fn error_type() {
    let e = ODataError::new("boom");
    assert_eq!(e.message(), "boom");
    assert_eq!(e.to_string(), "boom");
    assert_eq!(e.code(), "Request_BadRequest");
}

// ----- apply: filter, sort, page, project ----------------------------------------------------

fn names(p: &Page) -> Vec<String> {
    p.items
        .iter()
        .map(|v| v["displayName"].as_str().unwrap_or("<null>").to_string())
        .collect()
}

#[test]
fn sorts_case_insensitively_with_nulls_and_key_tiebreak() {
    let items = vec![
        json!({"id": "3", "displayName": "bob"}),
        json!({"id": "1", "displayName": "Bob"}),
        json!({"id": "2", "displayName": "alice"}),
        json!({"id": "4", "displayName": null}),
        json!({"id": "5"}),
        json!({"id": "0", "displayName": "Carol"}),
    ];
    let p = apply(&query(&[("$orderby", "displayName")]), items.clone()).unwrap();
    let ids: Vec<&str> = p.items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["4", "5", "2", "1", "3", "0"]);
    let p = apply(&query(&[("$orderby", "displayName desc")]), items.clone()).unwrap();
    let ids: Vec<&str> = p.items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    // Primary reversed; key tiebreak stays ascending; nulls lowest.
    assert_eq!(ids, ["0", "1", "3", "2", "4", "5"]);
    // Default: by key.
    let p = apply(&query(&[]), items).unwrap();
    let ids: Vec<&str> = p.items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5"]);
}

#[test]
fn sorts_datetimes_chronologically() {
    let items = vec![
        json!({"id": "a", "createdDateTime": "2024-01-01T10:00:00+05:00"}), // 05:00Z
        json!({"id": "b", "createdDateTime": "2024-01-01T06:00:00Z"}),
        json!({"id": "c", "createdDateTime": "2024-01-01T04:00:00.5Z"}),
    ];
    let p = apply(&query(&[("$orderby", "createdDateTime")]), items).unwrap();
    let ids: Vec<&str> = p.items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c", "a", "b"]);
}

#[test]
fn mixed_types_sort_without_panicking() {
    let items = vec![
        json!({"id": "1", "displayName": 3}),
        json!({"id": "2", "displayName": "x"}),
        json!({"id": "3", "displayName": true}),
        json!({"id": "4", "displayName": [1]}),
        json!({"id": "5", "displayName": 1.5}),
        json!({"id": "6", "displayName": "2024-01-01T00:00:00Z"}),
        json!({"id": "7", "displayName": {"a": 1}}),
        json!({"id": "8", "displayName": null}),
        json!("not an object"),
    ];
    let q = query(&[("$orderby", "displayName"), ("$top", "2")]);
    let all = page_all(&q, &items);
    assert_eq!(all.len(), items.len());
}

#[test]
fn filter_count_and_select() {
    let items = vec![
        user("1", "a", Some("x")),
        user("2", "b", Some("y")),
        user("3", "c", Some("z")),
    ];
    let q = query(&[
        ("$select", "displayName,ID"),
        ("$count", "true"),
        ("$filter", "department ne 'z'"),
        ("$top", "1"),
    ]);
    assert!(needs_advanced_query(&q));
    let p = apply(&q, items.clone()).unwrap();
    assert_eq!(p.count, Some(2), "count is before paging");
    assert_eq!(
        p.items,
        vec![json!({"@odata.type": "#microsoft.graph.user", "displayName": "a", "id": "1"})]
    );
    assert!(p.next_skiptoken.is_some());
    let p = apply(
        &query(&[("$filter", "department eq 'none'")]),
        items.clone(),
    )
    .unwrap();
    assert_eq!(
        p,
        Page {
            items: vec![],
            count: None,
            next_skiptoken: None
        }
    );
    // Exactly top rows: no next page.
    let p = apply(&query(&[("$top", "3")]), items).unwrap();
    assert_eq!(p.items.len(), 3);
    assert!(p.next_skiptoken.is_none());
}

/// Follows skiptokens to the end, re-parsing the query each time as the server would.
fn page_all(q: &Query, items: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut p = apply(q, items.to_vec()).unwrap();
    for _ in 0..10_000 {
        out.extend(p.items.clone());
        let Some(t) = p.next_skiptoken.clone() else {
            return out;
        };
        let mut q2 = q.clone();
        q2.after = Some(decode_token(&t, &q.fingerprint).unwrap());
        p = apply(&q2, items.to_vec()).unwrap();
    }
    panic!("paging did not terminate");
}

#[test]
fn paging_survives_inserts_and_deletes() {
    let mut items: Vec<Value> = (0..10)
        .map(|i| user(&format!("{i:02}"), &format!("n{}", 9 - i), None))
        .collect();
    let base = pairs(&[("$top", "3"), ("$orderby", "displayName desc")]);
    let mut req = base.clone();
    let mut seen = Vec::new();
    for round in 0.. {
        let q = Query::parse(&req, &spec()).unwrap();
        let p = apply(&q, items.clone()).unwrap();
        seen.extend(names(&p));
        match round {
            // A row sorting before the cursor, one after it, and a deletion ahead.
            0 => {
                items.push(user("98", "n9z", None));
                items.push(user("99", "n0a", None));
                items.retain(|u| u["displayName"] != "n4");
            }
            // Delete the very row the cursor points at.
            1 => {
                let last = seen.last().unwrap().clone();
                items.retain(|u| u["displayName"] != last.as_str());
            }
            _ => {}
        }
        let Some(t) = p.next_skiptoken else { break };
        req = base.clone();
        req.push(("$skiptoken".into(), t));
    }
    for i in [0, 1, 2, 3, 5, 6, 7, 8, 9] {
        assert_eq!(
            seen.iter().filter(|s| **s == format!("n{i}")).count(),
            1,
            "n{i} exactly once: {seen:?}"
        );
    }
    assert!(!seen.contains(&"n9z".to_string()), "inserted before cursor");
    assert!(seen.contains(&"n0a".to_string()), "inserted after cursor");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "order kept across pages");
}

#[test]
fn skiptoken_is_refused_for_another_query_and_when_malformed() {
    let items: Vec<Value> = (0..5).map(|i| user(&i.to_string(), "n", None)).collect();
    let p = apply(&query(&[("$top", "2"), ("$orderby", "displayName")]), items).unwrap();
    let t = p.next_skiptoken.unwrap();
    // Same query with the token: fine, even with a different $top or $select.
    assert!(Query::parse(
        &pairs(&[
            ("$orderby", "displayName"),
            ("$top", "3"),
            ("$select", "id"),
            ("$skiptoken", &t)
        ]),
        &spec()
    )
    .is_ok());
    let refused = "The '$skiptoken' belongs to a different query ($filter or $orderby changed); repeat the request without '$skiptoken'.";
    assert_eq!(qerr(&[("$skiptoken", &t)]), refused);
    assert_eq!(
        qerr(&[("$orderby", "displayName desc"), ("$skiptoken", &t)]),
        refused
    );
    assert_eq!(
        qerr(&[
            ("$orderby", "displayName"),
            ("$filter", "displayName ne 'x'"),
            ("$skiptoken", &t)
        ]),
        refused
    );
    // Another entity type.
    let groups = EntitySpec::new(
        "microsoft.graph.group",
        &["id", "displayName"],
        &["displayName"],
        "id",
    );
    let e = Query::parse(
        &pairs(&[("$orderby", "displayName"), ("$skiptoken", &t)]),
        &groups,
    )
    .unwrap_err();
    assert_eq!(e.message(), refused);
    let malformed =
        "The '$skiptoken' value is malformed: use the @odata.nextLink exactly as returned.";
    for bad in [
        "garbage!",
        "",
        "e30",                            // {}
        &URL_SAFE_NO_PAD.encode("[1,2]"), // not an object
        &URL_SAFE_NO_PAD.encode("{\"v\":2,\"f\":\"x\",\"k\":\"a\",\"s\":1}"),
        &URL_SAFE_NO_PAD.encode("{\"v\":1,\"f\":\"x\",\"s\":1}"),
        &URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
    ] {
        assert_eq!(qerr(&[("$skiptoken", bad)]), malformed, "{bad}");
    }
}

#[test]
fn skiptoken_is_opaque_base64url() {
    let items: Vec<Value> = (0..5).map(|i| user(&i.to_string(), "n", None)).collect();
    let t = apply(&query(&[("$top", "1")]), items)
        .unwrap()
        .next_skiptoken
        .unwrap();
    assert!(t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
}

// ----- property tests ------------------------------------------------------------------------

fn filterish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "displayName",
        "id",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "and",
        "or",
        "not",
        "in",
        "(",
        ")",
        ",",
        ":",
        "'a'",
        "'O''x'",
        "'",
        "null",
        "true",
        "false",
        "42",
        "-1.5",
        "2024-01-01T00:00:00Z",
        "8f2c1a3e-0000-4000-8000-00000000abcd",
        "startswith(",
        "endswith(",
        "contains(",
        "groupTypes/any(",
        "x",
        "x/value",
        "/",
        "any()",
        "all(",
        "appRoles/any(r:r/value",
        "#",
        "\u{0}",
        "é",
        " ",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_filter_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse_filter(&s);
    }

    #[test]
    fn parse_filter_never_panics_on_filterish_strings(s in filterish(), sep in "[ ()'/:,]{0,3}") {
        for candidate in [s.clone(), s.replace(' ', &sep), s.replace(' ', "")] {
            if let Ok(f) = parse_filter(&candidate) {
                let _ = eval(&f, &user("1", "x", Some("y")));
                let _ = eval(&f, &json!(null));
            }
            let _ = Query::parse(&[("$filter".into(), candidate.clone())], &spec());
            let _ = Query::parse(&[("$skiptoken".into(), candidate.clone())], &spec());
            let _ = Query::parse(&[("$orderby".into(), candidate.clone())], &spec());
            let _ = Query::parse(&[("$select".into(), candidate)], &spec());
        }
    }

    #[test]
    fn paging_returns_every_match_exactly_once_in_order(
        rows in prop::collection::vec(
            (prop::option::of(prop::sample::select(vec!["a", "A", "b", "B", "c", "ab", "Ab"])), any::<bool>()),
            0..60,
        ),
        top in 1usize..8,
        order in prop::sample::select(vec![None, Some("displayName"), Some("displayName desc")]),
        filtered in any::<bool>(),
    ) {
        let items: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(i, (name, flag))| json!({"id": format!("{i:03}"), "displayName": name, "accountEnabled": flag}))
            .collect();
        let mut kv = vec![("$top".to_string(), top.to_string())];
        if let Some(o) = order {
            kv.push(("$orderby".into(), o.into()));
        }
        if filtered {
            kv.push(("$filter".into(), "accountEnabled eq true".into()));
        }
        let q = Query::parse(&kv, &spec()).unwrap();
        // Expected: the matching rows sorted by (ci name, nulls lowest; reversed if desc), then id.
        let mut expected: Vec<(Option<String>, String)> = rows
            .iter()
            .enumerate()
            .filter(|(_, (_, flag))| !filtered || *flag)
            .map(|(i, (n, _))| (n.map(str::to_lowercase), format!("{i:03}")))
            .collect();
        expected.sort_by(|a, b| {
            let p = match order {
                None => Ordering::Equal,
                Some("displayName") => a.0.cmp(&b.0),
                Some(_) => b.0.cmp(&a.0),
            };
            p.then_with(|| a.1.cmp(&b.1))
        });
        let mut got = Vec::new();
        let mut req = kv.clone();
        for _ in 0..=expected.len() + 1 {
            let q2 = Query::parse(&req, &spec()).unwrap();
            let p = apply(&q2, items.clone()).unwrap();
            prop_assert!(p.items.len() <= top);
            got.extend(p.items.iter().map(|v| v["id"].as_str().unwrap_or_default().to_string()));
            match p.next_skiptoken {
                Some(t) => {
                    prop_assert_eq!(p.items.len(), top);
                    req = kv.clone();
                    req.push(("$skiptoken".into(), t));
                }
                None => break,
            }
        }
        let want: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
        prop_assert_eq!(got, want);
        let _ = q;
    }

    #[test]
    fn paging_with_concurrent_changes_keeps_survivors_once_in_order(
        initial in 1usize..40,
        top in 1usize..6,
        ops in prop::collection::vec((any::<bool>(), 0usize..1000, prop::sample::select(vec!["a","B","c","D","e"])), 0..20),
        desc in any::<bool>(),
    ) {
        let names = ["a", "B", "c", "D", "e"];
        let mut items: Vec<Value> = (0..initial)
            .map(|i| json!({"id": format!("{i:04}"), "displayName": names.get(i % 5).copied().unwrap_or("a")}))
            .collect();
        let original: Vec<String> = items.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
        let mut deleted: Vec<String> = Vec::new();
        let order = if desc { "displayName desc" } else { "displayName" };
        let kv = pairs(&[("$top", &top.to_string()), ("$orderby", order)]);
        let mut req = kv.clone();
        let mut got: Vec<Value> = Vec::new();
        let mut ops = ops.into_iter();
        let mut next_id = 5000;
        for _ in 0..500 {
            let q = Query::parse(&req, &spec()).unwrap();
            let p = apply(&q, items.clone()).unwrap();
            got.extend(p.items);
            // Mutate between pages.
            if let Some((insert, n, name)) = ops.next() {
                if insert {
                    items.push(json!({"id": format!("{next_id:04}"), "displayName": name}));
                    next_id += 1;
                } else if !items.is_empty() {
                    let v = items.remove(n % items.len());
                    deleted.push(v["id"].as_str().unwrap().to_string());
                }
            }
            match p.next_skiptoken {
                Some(t) => { req = kv.clone(); req.push(("$skiptoken".into(), t)); }
                None => break,
            }
        }
        let ids: Vec<String> = got.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
        for id in &original {
            let n = ids.iter().filter(|x| *x == id).count();
            if deleted.contains(id) {
                prop_assert!(n <= 1);
            } else {
                prop_assert_eq!(n, 1, "{} missing or duplicated in {:?}", id, ids);
            }
        }
        // No duplicates at all, and the sequence is sorted.
        let mut uniq = ids.clone();
        uniq.sort();
        uniq.dedup();
        prop_assert_eq!(uniq.len(), ids.len());
        let keys: Vec<(String, String)> = got
            .iter()
            .map(|v| (v["displayName"].as_str().unwrap().to_lowercase(), v["id"].as_str().unwrap().to_string()))
            .collect();
        for w in keys.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let p = if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
            prop_assert!(p.then_with(|| a.1.cmp(&b.1)) == Ordering::Less, "{:?} then {:?}", a, b);
        }
    }
}

#[test]
fn filter_term_count_is_bounded() {
    let chain = |n: usize| vec!["a eq 1"; n].join(" or ");
    assert!(parse_filter(&chain(MAX_FILTER_TERMS)).is_ok());
    let e = ferr(&chain(MAX_FILTER_TERMS + 1));
    assert!(e.contains("more than 300 terms"), "{e}");
    // Functions and lambdas count as terms too.
    let mut parts = vec!["a eq 1"; 200];
    parts.extend(vec!["startswith(a,'')"; MAX_FILTER_TERMS + 1 - 200]);
    let fns = parts.join(" or ");
    assert!(fns.chars().count() <= MAX_FILTER_LEN);
    assert!(ferr(&fns).contains("more than 300 terms"));
    // A hostile mix of everything stays an error, never a panic.
    for s in [
        format!("{}a eq 1", "not (".repeat(3000)),
        format!("x/any(y:{})", "y/any(z:".repeat(2000)),
        "'".repeat(5000),
        "(".repeat(MAX_FILTER_LEN + 1),
    ] {
        assert!(parse_filter(&s).is_err());
    }
}

#[test]
fn search_parses_and_matches_word_prefixes() {
    let spec = EntitySpec::new(
        "microsoft.graph.user",
        &["id", "displayName", "mail", "userPrincipalName", "jobTitle"],
        &["displayName"],
        "id",
    );
    let u = json!({"displayName": "Adele Vance", "mail": "adelev@contoso.com", "jobTitle": "x"});
    let s = parse_search("\"displayName:van\"", &spec).unwrap();
    assert!(search_matches(&s, &u));
    let s = parse_search("\"displayName:dele\"", &spec).unwrap();
    assert!(!search_matches(&s, &u));
    let s = parse_search("\"displayName:zz\" OR \"mail:ADELEV@\"", &spec).unwrap();
    assert!(search_matches(&s, &u));
    let s = parse_search("\"displayName:adele\" AND \"mail:zz\"", &spec).unwrap();
    assert!(!search_matches(&s, &u));
    for bad in [
        "displayName:x",
        "\"displayName:x",
        "\"jobTitle:x\"",
        "\"nope:x\"",
        "\"displayName\"",
        "\"displayName:x\" NEAR \"mail:y\"",
        "\"displayName:x\" OR",
    ] {
        assert!(parse_search(bad, &spec).is_err(), "{bad}");
    }
    let long = format!("\"displayName:{}\"", "a".repeat(MAX_SEARCH_LEN));
    assert!(parse_search(&long, &spec).is_err());
    let many = vec!["\"displayName:a\""; MAX_SEARCH_CLAUSES + 1].join(" OR ");
    assert!(parse_search(&many, &spec).is_err());
}

#[test]
fn expanding_lists_cap_the_page_and_keep_the_key() {
    let items: Vec<Value> = (0..5)
        .map(|i| user(&format!("id{i}"), &format!("n{i}"), None))
        .collect();
    let mut q = Query::parse(
        &pairs(&[("$top", "4"), ("$select", "displayName")]),
        &spec(),
    )
    .unwrap();
    q.cap_top(2);
    q.ensure_selected("id");
    let page = apply(&q, items.clone()).unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_skiptoken.is_some());
    assert!(page.items[0].get("id").is_some() && page.items[0].get("department").is_none());
    // Capping never raises the page size; no $select stays no $select.
    let mut q = Query::parse(&pairs(&[("$top", "1")]), &spec()).unwrap();
    q.cap_top(100);
    q.ensure_selected("id");
    let page = apply(&q, items).unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].get("department").is_some());
}
