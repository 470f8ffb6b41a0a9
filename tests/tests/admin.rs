//! Operators over HTTP: the operators' API behind its superuser guard,
//! and what its actions leave in the ledger, the sessions and the audit log.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use zenzefi_api::admin_routes;
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, PASSWORD, TestApp, body, on_both_backends, problem};

const ADMIN: &str = "/api/v1/admin";

async fn app_before(upstream: &FakeUpstream, backend: Backend) -> Option<TestApp> {
    let url = upstream.url.clone();
    TestApp::spawn_with(backend, move |s| s.upstream.url = url).await
}

/// A superuser `root@x.io`: `(jwt, user id)`.
async fn superuser(app: &TestApp) -> (String, String) {
    let jwt = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    let id = user_id(app, &jwt).await;
    (jwt, id)
}

async fn user_id(app: &TestApp, jwt: &str) -> String {
    body(app.me(jwt).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch_user(app: &TestApp, jwt: &str, id: &str, patch: Value) -> Response {
    let request = app.patch(&format!("{ADMIN}/users/{id}")).bearer_auth(jwt);
    request.json(&patch).send().await.expect("PATCH")
}

/// `GET /api/v1/admin{path}` with `query`, as `jwt`.
async fn admin_get(app: &TestApp, jwt: &str, path: &str, query: &[(&str, &str)]) -> Response {
    let url = format!("{}{ADMIN}{path}", app.base_url);
    let url = reqwest::Url::parse_with_params(&url, query).unwrap();
    let request = app.http.get(url).bearer_auth(jwt);
    request.send().await.expect("GET")
}

async fn listed(app: &TestApp, jwt: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let response = admin_get(app, jwt, path, query).await;
    assert_eq!(response.status(), 200, "{path} {query:?}");
    body(response).await
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().expect("items")
}

/// `"490.00"` → 49000; `"-18.00"` → -1800.
fn cents(amount: &Value) -> i64 {
    let text = amount.as_str().expect("an amount string");
    let (units, fraction) = text.split_once('.').expect("two decimals");
    let sign = if units.starts_with('-') { -1 } else { 1 };
    let units: i64 = units.trim_start_matches('-').parse().unwrap();
    sign * (units * 100 + fraction.parse::<i64>().unwrap())
}

async fn audit_of(app: &TestApp, action: &str) -> Vec<zenzefi_tests::AuditRow> {
    let rows = app.audit_rows().await;
    rows.into_iter().filter(|r| r.action == action).collect()
}

async fn every_admin_route_needs_a_superuser(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, _) = superuser(&app).await;
    let outsider = app.signed_up("ann@x.io", "ann").await;
    let routes = admin_routes();
    assert!(routes.len() >= 8, "{routes:?}");
    const UNKNOWN: &str = "/no-such-route";
    let unknown = (actix_web::http::Method::GET, UNKNOWN);
    for (method, path) in routes.iter().cloned().chain([unknown]) {
        let concrete: Vec<String> = path
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => uuid::Uuid::now_v7().to_string(),
                false => segment.to_owned(),
            })
            .collect();
        let url = format!("{}{ADMIN}{}", app.base_url, concrete.join("/"));
        let call = |jwt: Option<&str>| {
            let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let mut request = app.http.request(method, &url).json(&json!({}));
            if let Some(jwt) = jwt {
                request = request.bearer_auth(jwt);
            }
            request.send()
        };

        let anonymous = call(None).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        assert_eq!(problem(anonymous).await["code"], "not_authenticated");
        let forged = call(Some("not.a.jwt")).await.unwrap();
        assert_eq!(forged.status(), 401, "{method} {path}");

        let refused = problem(call(Some(&outsider)).await.unwrap()).await;
        assert_eq!(refused["status"], 403, "{method} {path}");
        assert_eq!(refused["code"], "superuser_required");
        assert_eq!(refused["detail"], "Superuser permissions required");

        // A superuser reaches the route itself (an unknown id is the
        // route's own 404, not the app's "no such endpoint").
        let admitted = call(Some(&root)).await.unwrap();
        let status = admitted.status().as_u16();
        let answer: Value = admitted.json().await.unwrap_or(Value::Null);
        if path == UNKNOWN {
            assert_eq!((status, &answer["code"]), (404, &json!("not_found")));
        } else {
            assert!(
                !matches!(status, 401 | 403 | 405),
                "{method} {path}: {status}"
            );
            assert_ne!(
                answer["code"], "not_found",
                "{method} {path} is not mounted"
            );
        }
    }
}

async fn a_balance_change_is_an_adjustment_in_the_ledger_and_the_audit_log(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    let ann = app.signed_up("ann@x.io", "ann").await;
    let ann_id = user_id(&app, &ann).await;
    app.fund(&ann, "10.00").await;

    let patched = app
        .patch(&format!("{ADMIN}/users/{ann_id}"))
        .bearer_auth(&root)
        .header("user-agent", "admin-console/1")
        .header("x-request-id", "req-admin-balance")
        .json(&json!({ "currency_balance": "500.00" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched = body(patched).await;
    assert_eq!(patched["currency_balance"], "500.00");
    assert_eq!(patched["id"], ann_id.as_str());
    assert_eq!(app.balance(&ann).await, "500.00");

    let ledger = body(app.get_as(&ann, "/api/v1/currency/transactions").await).await;
    let newest = &items(&ledger)[0];
    assert_eq!(newest["transaction_type"], "adjustment");
    assert_eq!(newest["status"], "succeeded");
    assert_eq!(cents(&newest["amount"]), 49_000);
    let sum: i64 = items(&ledger).iter().map(|e| cents(&e["amount"])).sum();
    assert_eq!(sum, 50_000, "the balance is the sum of the ledger");

    let updates = audit_of(&app, "admin_user_update").await;
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(
        update.details["changed_fields"],
        json!({ "currency_balance": { "old": "10.00", "new": "500.00" } })
    );
    assert_eq!(update.user_id.unwrap().to_string(), root_id, "the actor");
    assert_eq!(update.resource_id.unwrap().to_string(), ann_id);
    assert_eq!(update.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(update.user_agent.as_deref(), Some("admin-console/1"));
    assert_eq!(update.request_id.as_deref(), Some("req-admin-balance"));

    // Numbers are read exactly, like strings.
    let numeric = patch_user(&app, &root, &ann_id, json!({ "currency_balance": 12.5 })).await;
    assert_eq!(body(numeric).await["currency_balance"], "12.50");

    for invalid in [
        json!({ "currency_balance": "-1.00" }),
        json!({ "currency_balance": "1.005" }),
        json!({ "currency_balance": "lots" }),
        json!({ "is_active": "no" }),
        json!({ "email": "new@x.io" }),
    ] {
        let refused = patch_user(&app, &root, &ann_id, invalid.clone()).await;
        assert_eq!(refused.status(), 422, "{invalid}");
        assert_eq!(problem(refused).await["code"], "validation_failed");
    }
    let nobody = uuid::Uuid::now_v7().to_string();
    let missing = patch_user(&app, &root, &nobody, json!({ "is_active": false })).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(problem(missing).await["code"], "user_not_found");
    let malformed = patch_user(&app, &root, "not-a-uuid", json!({ "is_active": false })).await;
    assert_eq!(malformed.status(), 422);
    assert_eq!(app.balance(&ann).await, "12.50", "refusals change nothing");
}

async fn an_admin_cannot_lock_themselves_out(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    for patch in [
        json!({ "is_active": false }),
        json!({ "is_superuser": false }),
    ] {
        let refused = patch_user(&app, &root, &root_id, patch.clone()).await;
        assert_eq!(refused.status(), 409, "{patch}");
        assert_eq!(problem(refused).await["code"], "self_lockout");
    }
    let me = body(app.me(&root).await).await;
    assert_eq!(
        (me["is_active"].clone(), me["is_superuser"].clone()),
        (json!(true), json!(true))
    );

    // Another admin may be made and unmade.
    let bob = app.signed_up("bob@x.io", "bob").await;
    let bob_id = user_id(&app, &bob).await;
    let promoted = patch_user(&app, &root, &bob_id, json!({ "is_superuser": true })).await;
    assert_eq!(body(promoted).await["is_superuser"], true);
    assert_eq!(admin_get(&app, &bob, "/users", &[]).await.status(), 200);
    let demoted = patch_user(&app, &bob, &root_id, json!({ "is_superuser": false })).await;
    assert_eq!(demoted.status(), 200);
    assert_eq!(admin_get(&app, &root, "/users", &[]).await.status(), 403);
}

async fn deactivation_locks_out_the_users_jwt_tokens_and_session_at_once(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (root, _) = superuser(&app).await;
    let (ann, token) = app.token_holder("ann", "full").await;
    let ann_id = user_id(&app, &ann).await;
    let proxied = app.proxied(Method::GET, "echo", &token).send().await;
    assert_eq!(
        proxied.unwrap().status(),
        200,
        "the token is live and cached"
    );

    let patched = patch_user(&app, &root, &ann_id, json!({ "is_active": false })).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(body(patched).await["is_active"], false);

    let me = app.me(&ann).await;
    assert_eq!(me.status(), 403);
    assert_eq!(problem(me).await["code"], "user_inactive");
    let proxied = app.proxied(Method::GET, "echo", &token).send().await;
    let proxied = problem(proxied.unwrap()).await;
    assert_eq!(
        (&proxied["status"], &proxied["code"]),
        (&json!(403), &json!("user_inactive"))
    );
    assert_eq!(upstream.hits(), 1, "nothing more reached the upstream");

    let query = [("user_id", ann_id.as_str()), ("active_only", "false")];
    let sessions = listed(&app, &root, "/sessions", &query).await;
    assert_eq!(sessions["total"], 1);
    let session = &items(&sessions)[0];
    assert_eq!(session["is_active"], false);
    assert_eq!(session["end_reason"], "revoked");
    let live = listed(&app, &root, "/sessions", &[("user_id", ann_id.as_str())]).await;
    assert_eq!(live["total"], 0, "active_only is the default");

    let inactive = listed(&app, &root, "/users", &[("is_active", "false")]).await;
    assert_eq!(inactive["total"], 1);
    assert_eq!(items(&inactive)[0]["username"], "ann");
    let update = &audit_of(&app, "admin_user_update").await[0];
    assert_eq!(
        update.details["changed_fields"],
        json!({ "is_active": { "old": true, "new": false } })
    );
}

async fn user_search_is_literal_case_insensitive_and_newest_first(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, _) = superuser(&app).await;
    app.signed_up("a_b@x.io", "a_b").await;
    app.signed_up("axb@x.io", "axb").await;
    app.signed_up("pct@x.io", "100pct").await;

    let names = |list: &Value| -> Vec<String> {
        items(list)
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    for (term, found) in [
        ("a_b", &["a_b"][..]),
        ("A_B@X", &["a_b"]),
        ("axb", &["axb"]),
        ("%", &[]),
        ("\\", &[]),
    ] {
        let result = listed(&app, &root, "/users", &[("search", term)]).await;
        assert_eq!(names(&result), found, "search={term}");
    }

    let all = listed(&app, &root, "/users", &[]).await;
    assert_eq!(names(&all), ["100pct", "axb", "a_b", "root"]);
    assert_eq!(
        (all["total"].clone(), all["limit"].clone()),
        (json!(4), json!(50))
    );
    let user = &items(&all)[0];
    assert_eq!(user["currency_balance"], "0.00");
    assert_eq!(user["email"], "pct@x.io");
    assert!(user.get("password_hash").is_none());
    let paged = listed(&app, &root, "/users", &[("limit", "2"), ("offset", "1")]).await;
    assert_eq!(names(&paged), ["axb", "a_b"]);
    assert_eq!(paged["total"], 4);

    for query in [
        [("is_active", "maybe")],
        [("limit", "0")],
        [("limit", "101")],
        [("offset", "-1")],
    ] {
        let refused = admin_get(&app, &root, "/users", &query).await;
        assert_eq!(refused.status(), 422, "{query:?}");
    }
}

async fn tokens_are_listed_with_owner_and_prefix_never_the_secret(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, _) = superuser(&app).await;
    let (ann, secret) = app.token_holder("ann", "full").await;
    let ann_id = user_id(&app, &ann).await;
    let (bob, _) = app.token_holder("bob", "certificates_only").await;
    let bob_id = user_id(&app, &bob).await;

    let response = admin_get(&app, &root, "/tokens", &[("user_id", ann_id.as_str())]).await;
    let text = response.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret is never listed");
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["total"], 1);
    let token = &items(&list)[0];
    assert_eq!(token["token_prefix"], &secret[..8]);
    assert_eq!(token["user_id"], ann_id.as_str());
    assert_eq!(token["user_email"], "ann@x.io");
    assert_eq!(token["user_username"], "ann");
    assert_eq!(token["cost_znc"], "18.00");
    assert_eq!(token["scope"], "full");
    assert_eq!(token["expires_at"], Value::Null);
    assert_eq!(token["last_used_at"], Value::Null);
    assert_eq!(token["is_active"], true);

    let all = listed(&app, &root, "/tokens", &[]).await;
    assert_eq!(all["total"], 2);
    assert_eq!(items(&all)[0]["user_id"], bob_id.as_str(), "newest first");

    let token_id = token["token_id"].as_str().unwrap();
    let revoked = app
        .delete_as(&ann, &format!("/api/v1/tokens/{token_id}"))
        .await;
    assert_eq!(revoked.status(), 200);
    let active = listed(&app, &root, "/tokens", &[("user_id", ann_id.as_str())]).await;
    assert_eq!(active["total"], 0, "active_only is the default");
    let query = [("user_id", ann_id.as_str()), ("active_only", "false")];
    let every = listed(&app, &root, "/tokens", &query).await;
    assert_eq!(every["total"], 1);
    assert_eq!(items(&every)[0]["is_active"], false);

    for query in [[("user_id", "ann")], [("active_only", "yes")]] {
        let refused = admin_get(&app, &root, "/tokens", &query).await;
        assert_eq!(refused.status(), 422, "{query:?}");
    }
}

async fn force_revoke_refunds_nothing_and_ends_the_session(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    let (ann, token) = app.token_holder("ann", "full").await;
    let proxied = app.proxied(Method::GET, "echo", &token).send().await;
    assert_eq!(proxied.unwrap().status(), 200);
    let balance = app.balance(&ann).await;
    assert_eq!(balance, "82.00");
    let mine = body(app.get_as(&ann, "/api/v1/tokens/my-tokens").await).await;
    let token_id = items(&mine)[0]["token_id"].as_str().unwrap().to_owned();

    let path = format!("{ADMIN}/tokens/{token_id}");
    let revoked = body(app.delete_as(&root, &path).await).await;
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["token_id"], token_id.as_str());
    assert!(
        revoked["message"].as_str().unwrap().contains("no refund"),
        "{revoked}"
    );
    assert_eq!(app.balance(&ann).await, balance, "no refund");

    let refused = app.proxied(Method::GET, "echo", &token).send().await;
    let refused = refused.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(problem(refused).await["code"], "invalid_token");
    let sessions = body(app.get_as(&ann, "/api/v1/users/me/sessions").await).await;
    assert_eq!(items(&sessions)[0]["end_reason"], "revoked");
    assert_eq!(items(&sessions)[0]["is_active"], false);

    let again = app.delete_as(&root, &path).await;
    assert_eq!(again.status(), 409);
    assert_eq!(problem(again).await["code"], "already_revoked");
    let unknown = format!("{ADMIN}/tokens/{}", uuid::Uuid::now_v7());
    let unknown = app.delete_as(&root, &unknown).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(problem(unknown).await["code"], "token_not_found");

    let revokes = audit_of(&app, "admin_force_revoke").await;
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].user_id.unwrap().to_string(), root_id);
    assert_eq!(revokes[0].resource_id.unwrap().to_string(), token_id);
    assert_eq!(revokes[0].details["refund"], "0.00");
}

async fn audit_logs_filter_by_action_actor_and_time(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    let ann = app.signed_up("ann@x.io", "ann").await;
    let ann_id = user_id(&app, &ann).await;
    app.fund(&ann, "10.00").await;
    patch_user(&app, &root, &ann_id, json!({ "currency_balance": "20.00" })).await;

    let everything = listed(&app, &root, "/audit-logs", &[("limit", "100")]).await;
    let all = items(&everything);
    assert_eq!(everything["total"].as_u64().unwrap() as usize, all.len());
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let newest = &all[0];
    assert_eq!(newest["action"], "admin_user_update");
    assert_eq!(newest["user_id"], root_id.as_str());
    assert_eq!(newest["user_email"], "root@x.io");
    assert_eq!(newest["user_username"], "root");
    assert_eq!(newest["resource_type"], "user");
    assert_eq!(newest["resource_id"], ann_id.as_str());
    assert_eq!(newest["ip_address"], "127.0.0.1");
    assert!(newest["request_id"].is_string() && newest["id"].is_string());

    let registrations = listed(&app, &root, "/audit-logs", &[("action", "auth_register")]).await;
    assert_eq!(registrations["total"], 2);
    assert!(
        items(&registrations)
            .iter()
            .all(|e| e["action"] == "auth_register")
    );
    let by_ann = listed(&app, &root, "/audit-logs", &[("user_id", ann_id.as_str())]).await;
    assert_eq!(by_ann["total"], 3, "register, login, deposit: {by_ann}");
    assert!(
        items(&by_ann)
            .iter()
            .all(|e| e["user_id"] == ann_id.as_str())
    );
    let about_ann = [("resource_type", "user"), ("resource_id", ann_id.as_str())];
    let about_ann = listed(&app, &root, "/audit-logs", &about_ann).await;
    let actions: Vec<&str> = items(&about_ann)
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["admin_user_update", "auth_login", "auth_register"]
    );

    let total = everything["total"].clone();
    for (since, until, expected) in [
        ("2000-01-01T00:00:00Z", "2999-01-01T00:00:00+00:00", total),
        ("2999-01-01T00:00:00Z", "3000-01-01T00:00:00Z", json!(0)),
        ("1999-01-01T00:00:00Z", "2000-01-01T00:00:00Z", json!(0)),
    ] {
        let query = [("since", since), ("until", until)];
        let window = listed(&app, &root, "/audit-logs", &query).await;
        assert_eq!(window["total"], expected, "{since}..{until}");
    }
    // `since` is inclusive, `until` exclusive.
    let newest_at = times[0];
    let since = listed(&app, &root, "/audit-logs", &[("since", newest_at)]).await;
    assert!(items(&since).iter().any(|e| e["id"] == newest["id"]));
    let until = listed(
        &app,
        &root,
        "/audit-logs",
        &[("until", newest_at), ("limit", "100")],
    )
    .await;
    assert!(items(&until).iter().all(|e| e["id"] != newest["id"]));

    for (field, value) in [
        ("action", "nope"),
        ("resource_type", "nope"),
        ("user_id", "not-a-uuid"),
        ("resource_id", "42"),
        ("since", "yesterday"),
        ("until", "2025-01-01"),
        ("limit", "many"),
    ] {
        let refused = admin_get(&app, &root, "/audit-logs", &[(field, value)]).await;
        assert_eq!(refused.status(), 422, "{field}={value}");
        let refused = problem(refused).await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
}

/// A user agent that CSV must quote, sent on an audited request.
const AWKWARD_AGENT: &str = "Agent \"Q\", v1,2";

async fn exports_stream_every_matching_row_as_ndjson_or_csv(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, _) = superuser(&app).await;
    let registered = app
        .post("/api/v1/auth/register")
        .header("user-agent", AWKWARD_AGENT)
        .json(&json!({ "email": "ann@x.io", "username": "ann", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    for _ in 0..3 {
        assert_eq!(app.login("ann@x.io", PASSWORD).await.status(), 200);
    }
    let export = |query: &'static [(&'static str, &'static str)]| {
        admin_get(&app, &root, "/audit-logs/export", query)
    };

    let ndjson = export(&[("format", "ndjson")]).await;
    assert_eq!(ndjson.status(), 200);
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let disposition = ndjson.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let text = ndjson.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listed_all = listed(&app, &root, "/audit-logs", &[("limit", "100")]).await;
    assert_eq!(rows.len() as u64, listed_all["total"].as_u64().unwrap());
    assert_eq!(
        &rows,
        items(&listed_all),
        "the same rows as the list, in order"
    );
    assert!(text.ends_with('\n'));

    let logins = export(&[("format", "ndjson"), ("action", "auth_login")]).await;
    let logins = logins.text().await.unwrap();
    assert_eq!(logins.lines().count(), 4, "root's login and ann's three");
    assert!(
        logins
            .lines()
            .all(|l| l.contains("\"action\":\"auth_login\""))
    );

    let csv = export(&[("format", "csv"), ("action", "auth_register")]).await;
    assert_eq!(csv.status(), 200);
    let content_type = csv.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,created_at,action,resource_type,resource_id,user_id,user_email,user_username,\
         ip_address,user_agent,request_id,details"
    );
    assert_eq!(lines.len(), 3, "the header and two registrations: {csv}");
    let ann_row = lines[1];
    assert!(ann_row.contains(",auth_register,user,"), "{ann_row}");
    assert!(ann_row.contains(",ann@x.io,ann,127.0.0.1,"), "{ann_row}");
    assert!(
        ann_row.contains(",\"Agent \"\"Q\"\", v1,2\","),
        "the agent is quoted: {ann_row}"
    );
    assert!(
        ann_row.ends_with('"'),
        "the JSON details are quoted: {ann_row}"
    );

    let none = export(&[("format", "csv"), ("since", "2999-01-01T00:00:00Z")]).await;
    assert_eq!(
        none.text().await.unwrap().split_terminator("\r\n").count(),
        1
    );

    for query in [
        &[][..],
        &[("format", "xml")][..],
        &[("format", "csv"), ("since", "later")][..],
        &[("format", "ndjson"), ("action", "nope")][..],
    ] {
        let refused = admin_get(&app, &root, "/audit-logs/export", query).await;
        assert_eq!(refused.status(), 422, "{query:?}");
        assert_eq!(problem(refused).await["code"], "validation_failed");
    }
}

async fn sessions_are_listed_with_owners_and_terminated(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = app_before(&upstream, backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    let (ann, token) = app.token_holder("ann", "full").await;
    let ann_id = user_id(&app, &ann).await;
    let proxied = app.proxied(Method::GET, "echo", &token).send().await;
    assert_eq!(proxied.unwrap().status(), 200);
    let mine = body(app.get_as(&ann, "/api/v1/tokens/my-tokens").await).await;
    let token_id = items(&mine)[0]["token_id"].as_str().unwrap().to_owned();

    let live = listed(&app, &root, "/sessions", &[]).await;
    assert_eq!(live["total"], 1);
    let session = &items(&live)[0];
    assert_eq!(session["user_id"], ann_id.as_str());
    assert_eq!(session["token_id"], token_id.as_str());
    assert_eq!(session["user_email"], "ann@x.io");
    assert_eq!(session["user_username"], "ann");
    assert_eq!(session["device_id"], "device-0001");
    assert_eq!(session["is_active"], true);
    let of_token = listed(&app, &root, "/sessions", &[("token_id", token_id.as_str())]).await;
    assert_eq!(of_token["total"], 1);
    let of_root = listed(&app, &root, "/sessions", &[("user_id", root_id.as_str())]).await;
    assert_eq!(of_root["total"], 0);

    let session_id = session["id"].as_str().unwrap().to_owned();
    let path = format!("{ADMIN}/sessions/{session_id}");
    let ended = body(app.delete_as(&root, &path).await).await;
    assert_eq!(
        ended,
        json!({ "terminated": true, "session_id": session_id, "was_active": true })
    );
    let again = body(app.delete_as(&root, &path).await).await;
    assert_eq!(again["was_active"], false);
    let unknown = format!("{ADMIN}/sessions/{}", uuid::Uuid::now_v7());
    let unknown = app.delete_as(&root, &unknown).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(problem(unknown).await["code"], "session_not_found");
    assert_eq!(
        app.delete_as(&root, &format!("{ADMIN}/sessions/42"))
            .await
            .status(),
        422
    );

    assert_eq!(listed(&app, &root, "/sessions", &[]).await["total"], 0);
    let every = listed(&app, &root, "/sessions", &[("active_only", "false")]).await;
    assert_eq!(items(&every)[0]["end_reason"], "terminated");
    // The token is free for another device now.
    let base = app.base_url.clone();
    let phone = app.proxied_from(&base, Method::GET, "echo", &token, "phone-00001");
    assert_eq!(phone.send().await.unwrap().status(), 200);

    let terminations = audit_of(&app, "admin_session_terminate").await;
    assert_eq!(terminations.len(), 2);
    assert_eq!(terminations[0].user_id.unwrap().to_string(), root_id);
    assert_eq!(terminations[0].resource_id.unwrap().to_string(), session_id);
    assert_eq!(terminations[0].details["was_active"], true);
}

/// Walking a list by `next_cursor` visits every row once, in order, and
/// the user's page and ledger are there for the console.
async fn lists_page_by_cursor_and_one_user_reads_with_their_ledger(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (root, root_id) = superuser(&app).await;
    for name in ["ann", "bob", "cid"] {
        app.signed_up(&format!("{name}@x.io"), name).await;
    }
    let everyone = listed(&app, &root, "/users", &[]).await;
    let expected: Vec<_> = items(&everyone).iter().map(|u| u["id"].clone()).collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(everyone["total_estimated"], false);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut query = vec![("limit", "1")];
        if !cursor.is_empty() {
            query.push(("cursor", cursor.as_str()));
        }
        let page = listed(&app, &root, "/users", &query).await;
        assert_eq!(page["total"], 4);
        seen.extend(items(&page).iter().map(|u| u["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    // The last full page still names a cursor; the page after it is empty.
    assert_eq!(seen, expected);
    for bad in [
        "nope",
        "1_2",
        "99999999999999999999999999_00000000-0000-0000-0000-000000000000",
    ] {
        let refused = admin_get(&app, &root, "/audit-logs", &[("cursor", bad)]).await;
        assert_eq!(refused.status(), 422, "{bad}");
        assert_eq!(problem(refused).await["errors"][0]["field"], "cursor");
    }

    let me = listed(&app, &root, &format!("/users/{root_id}"), &[]).await;
    assert_eq!(me["email"], "root@x.io");
    let patched = patch_user(
        &app,
        &root,
        &root_id,
        json!({ "currency_balance": "12.00" }),
    )
    .await;
    assert_eq!(patched.status(), 200);
    let ledger = listed(&app, &root, &format!("/users/{root_id}/transactions"), &[]).await;
    assert_eq!(ledger["total"], 1);
    assert_eq!(items(&ledger)[0]["transaction_type"], "adjustment");
    let unknown = format!("/users/{}", uuid::Uuid::now_v7());
    let missing = admin_get(&app, &root, &unknown, &[]).await;
    assert_eq!(problem(missing).await["code"], "user_not_found");
    let missing = admin_get(&app, &root, &format!("{unknown}/transactions"), &[]).await;
    assert_eq!(problem(missing).await["code"], "user_not_found");
    // No worker ran here: no job has a success to show.
    let jobs = listed(&app, &root, "/jobs", &[]).await;
    assert_eq!(jobs, json!({ "items": [] }));
}

on_both_backends!(
    lists_page_by_cursor_and_one_user_reads_with_their_ledger,
    every_admin_route_needs_a_superuser,
    a_balance_change_is_an_adjustment_in_the_ledger_and_the_audit_log,
    an_admin_cannot_lock_themselves_out,
    deactivation_locks_out_the_users_jwt_tokens_and_session_at_once,
    user_search_is_literal_case_insensitive_and_newest_first,
    tokens_are_listed_with_owner_and_prefix_never_the_secret,
    force_revoke_refunds_nothing_and_ends_the_session,
    audit_logs_filter_by_action_actor_and_time,
    exports_stream_every_matching_row_as_ndjson_or_csv,
    sessions_are_listed_with_owners_and_terminated,
);
