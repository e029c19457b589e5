//! Security suite: small_mends.

// ---------------------------------------------------------------------------------------------
// Authorization codes (issue 12, item 5): any redemption attempt spends the code — a wrong PKCE
// verifier, redirect_uri, client or client secret burns it with one compare-and-set, so a later
// correct attempt is invalid_grant (AADSTS54005). Positive control: a correct first redemption
// works. (`core::flow::auth_code::{decide_request, burned}`, `core::ops::signin::redeem_code`.)
// ---------------------------------------------------------------------------------------------

mod codes {
    use serde_json::Value;

    use super::super::mfa_guessing::Browser;
    use crate::{shared, token_form};

    const VERIFIER: &str = "code-burning-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
    const LOOPBACK: &str = "http://localhost:53201";

    /// A code for the demo user from the authorize pages: the public client with PKCE
    /// (`challenge` = S256 of [`VERIFIER`]) or the confidential client without.
    async fn code(public: bool) -> String {
        let d = &shared().demo;
        let (client, redirect) = if public {
            (d["public_client"]["app_id"].as_str().unwrap(), LOOPBACK)
        } else {
            (
                d["confidential_client"]["app_id"].as_str().unwrap(),
                d["confidential_client"]["redirect_uri"].as_str().unwrap(),
            )
        };
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", client)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid User.Read")
            .append_pair("state", "code-test");
        if public {
            q.append_pair(
                "code_challenge",
                &castellan_core::flow::pkce::s256(VERIFIER),
            )
            .append_pair("code_challenge_method", "S256");
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/authorize?{}",
            shared().origin,
            d["tenant_id"].as_str().unwrap(),
            q.finish()
        );
        let b = Browser::new();
        let login = b.get(&url).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let done = b
            .submit(
                &login,
                &[
                    ("username", d["user"]["upn"].as_str().unwrap()),
                    ("password", d["user"]["password"].as_str().unwrap()),
                ],
            )
            .await;
        let location = done
            .location
            .unwrap_or_else(|| panic!("no redirect ({}): {}", done.status, done.body));
        let u = url::Url::parse(&location).unwrap();
        u.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// Redeems for the public client.
    async fn redeem_public(code: &str, redirect: &str, verifier: &str) -> (u16, Value) {
        let d = &shared().demo;
        token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", d["public_client"]["app_id"].as_str().unwrap()),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("scope", "User.Read"),
        ])
        .await
    }

    /// Redeems for the confidential client with `secret`.
    async fn redeem_confidential(code: &str, secret: &str) -> (u16, Value) {
        let cc = &shared().demo["confidential_client"];
        token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", cc["redirect_uri"].as_str().unwrap()),
            ("scope", "User.Read"),
        ])
        .await
    }

    fn codes_of(v: &Value) -> Vec<u64> {
        v["error_codes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    }

    /// The later, correct attempt after a failed one: invalid_grant 54005, no tokens.
    fn assert_spent(st: u16, v: &Value) {
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"], "invalid_grant", "{v}");
        assert_eq!(codes_of(v), vec![54005], "{v}");
        assert!(v.get("access_token").is_none());
    }

    #[tokio::test]
    async fn code_a_correct_first_redemption_works() {
        let c = code(true).await;
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_eq!(st, 200, "{v}");
        assert!(v["access_token"].is_string());
        let c = code(false).await;
        let secret = shared().demo["confidential_client"]["secret"]
            .as_str()
            .unwrap();
        let (st, v) = redeem_confidential(&c, secret).await;
        assert_eq!(st, 200, "{v}");
    }

    #[tokio::test]
    async fn code_a_wrong_pkce_verifier_burns_the_code() {
        let c = code(true).await;
        let wrong = "wrong-verifier-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
        let (st, v) = redeem_public(&c, LOOPBACK, wrong).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("invalid_grant")),
            "{v}"
        );
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_redirect_uri_burns_the_code() {
        let c = code(true).await;
        let (st, v) = redeem_public(&c, "http://localhost:53202", VERIFIER).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![70000], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_client_burns_the_code() {
        // The public client's code presented by the confidential client (its own secret).
        let c = code(true).await;
        let cc = &shared().demo["confidential_client"];
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            ("client_secret", cc["secret"].as_str().unwrap()),
            ("code", &c),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ])
        .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![700005], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
        // A client id that does not exist here spends it too.
        let c = code(true).await;
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &uuid::Uuid::new_v4().to_string()),
            ("code", &c),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ])
        .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(codes_of(&v), vec![700016], "{v}");
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_wrong_client_secret_burns_the_code() {
        let c = code(false).await;
        let (st, v) = redeem_confidential(&c, "not-the-secret").await;
        assert!(matches!(st, 400 | 401), "{v}");
        assert_eq!(v["error"], "invalid_client", "{v}");
        let secret = shared().demo["confidential_client"]["secret"]
            .as_str()
            .unwrap();
        let (st, v) = redeem_confidential(&c, secret).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_a_refused_client_assertion_burns_the_code() {
        let c = code(false).await;
        let cc = &shared().demo["confidential_client"];
        let (st, v) = token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", cc["app_id"].as_str().unwrap()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
            ("code", &c),
            ("redirect_uri", cc["redirect_uri"].as_str().unwrap()),
        ])
        .await;
        assert!(matches!(st, 400 | 401), "{v}");
        assert!(v.get("access_token").is_none(), "{v}");
        let (st, v) = redeem_confidential(&c, cc["secret"].as_str().unwrap()).await;
        assert_spent(st, &v);
    }

    #[tokio::test]
    async fn code_parallel_attempts_with_one_correct_redeem_at_most_once() {
        let c = code(true).await;
        let mut tasks = Vec::new();
        for i in 0..32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let verifier = if i == 16 {
                    VERIFIER.to_string()
                } else {
                    format!("wrong-verifier-{i:02}-0123456789abcdefghijklmnopqrstuvwxyz")
                };
                redeem_public(&c, LOOPBACK, &verifier).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (st, v) = t.await.unwrap();
            if st == 200 {
                ok += 1;
            } else {
                assert_eq!(v["error"], "invalid_grant", "{v}");
            }
        }
        assert!(ok <= 1, "{ok} redemptions succeeded");
        // Whatever won, the code is spent now.
        let (st, v) = redeem_public(&c, LOOPBACK, VERIFIER).await;
        assert_spent(st, &v);
    }
}
