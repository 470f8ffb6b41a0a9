//! `GET /openapi.json` and Swagger UI at `/docs`: the document
//! lists exactly the routes the router serves, every operation declares a
//! success and the problems it can answer, what the hand-written schemas
//! promise is what the routes answer, and the UI comes from the binary.
//!
//! The document does not depend on the backend, so these run on the
//! embedded one only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use zenzefi_api::{page_routes, served_routes};
use zenzefi_domain::user::{EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
use zenzefi_tests::{Backend, TestApp, body};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn app() -> TestApp {
    TestApp::spawn(Backend::Embedded)
        .await
        .expect("the embedded backend needs no services")
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").send().await.expect("GET");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    body(response).await
}

/// Every operation of the document: `(METHOD, path) -> operation`.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            HTTP_METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| ((method.to_ascii_uppercase(), path.clone()), operation))
            })
        })
        .collect()
}

fn as_set(routes: Vec<(actix_web::http::Method, String)>) -> BTreeSet<(String, String)> {
    routes
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path))
        .collect()
}

/// Follows a local `$ref` (`#/components/...`), if `value` is one.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            let target = doc.pointer(pointer);
            resolve(
                doc,
                target.unwrap_or_else(|| panic!("{reference} is dangling")),
            )
        }
        None => value,
    }
}

/// The property names and required names of an object schema, through
/// `$ref` and `allOf`.
fn shape(doc: &Value, schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let schema = resolve(doc, schema);
    let mut properties: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut required: BTreeSet<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = shape(doc, part);
        properties.extend(p);
        required.extend(r);
    }
    (properties, required)
}

/// `answer` has exactly the documented properties, the required ones
/// among them.
fn assert_shape(doc: &Value, schema_name: &str, answer: &Value) {
    let schema = &doc["components"]["schemas"][schema_name];
    assert!(schema.is_object(), "no schema {schema_name}");
    let (properties, required) = shape(doc, schema);
    let keys: BTreeSet<String> = answer
        .as_object()
        .unwrap_or_else(|| panic!("{schema_name}: {answer}"))
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, properties, "{schema_name} vs {answer}");
    assert!(required.is_subset(&keys), "{schema_name} vs {answer}");
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let app = app().await;
    let doc = document(&app).await;
    let documented: BTreeSet<_> = operations(&doc).into_keys().collect();
    let served = as_set(served_routes());
    let own = as_set(page_routes());
    assert!(own.is_subset(&served), "{own:?}");
    let expected: BTreeSet<_> = served.difference(&own).cloned().collect();

    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
    // The routes outside the tables are there, the proxy with each
    // forwarded method.
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        let forward = (method.to_owned(), "/api/v1/proxy/{path}".to_owned());
        assert!(documented.contains(&forward), "{forward:?}");
    }
    assert!(documented.contains(&("GET".to_owned(), "/metrics".to_owned())));
}

/// [`served_routes`] reads the same tables as the router; this asks the
/// running router itself, which also covers the routes mounted outside the
/// tables (the proxy, `/metrics`).
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let app = app().await;
    let doc = document(&app).await;
    // Admin routes answer 401 before routing; a superuser gets through.
    let root = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    for (method, path) in operations(&doc).into_keys() {
        let concrete: Vec<String> = path
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => uuid::Uuid::nil().to_string(),
                false => segment.to_owned(),
            })
            .collect();
        let url = format!("{}{}", app.base_url, concrete.join("/"));
        let response = app
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &url,
            )
            .bearer_auth(&root)
            .send()
            .await
            .expect("a response");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {path}: no route for the method");
        let fallback = status == 404 && matches!(answer["code"].as_str(), None | Some("not_found"));
        assert!(!fallback, "{method} {path} is not routed: {answer}");
    }
}
#[tokio::test]
async fn every_operation_declares_a_success_and_the_problems_it_can_answer() {
    let app = app().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "{version}");

    let mut ids = BTreeSet::new();
    for ((method, path), operation) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
        assert!(operation["tags"][0].is_string(), "{at}: no tag");

        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{at}: no 2xx response"
        );
        let authenticated = operation["security"]
            .as_array()
            .is_some_and(|all| all.iter().any(|r| !r.as_object().unwrap().is_empty()));
        if authenticated {
            assert!(responses.contains_key("401"), "{at}: authenticated, no 401");
        }
        for (status, response) in responses {
            let code: u16 = match status.parse() {
                Ok(code) if code >= 400 => code,
                _ => continue,
            };
            // The health report is the body of an unhealthy 503 too; a
            // HEAD response has no body at all.
            if (path.starts_with("/health") && code == 503) || method == "HEAD" {
                continue;
            }
            let response = resolve(&doc, response);
            let problem = &response["content"]["application/problem+json"]["schema"];
            assert_eq!(
                problem["$ref"], "#/components/schemas/Problem",
                "{at} {status}: not a problem"
            );
        }

        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, placeholders, "{at}: path parameters");
    }

    let problem = &doc["components"]["schemas"]["Problem"];
    let (properties, _) = shape(&doc, problem);
    for field in ["type", "title", "status", "detail", "code", "errors"] {
        assert!(properties.contains(field), "Problem lacks {field}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["bearer_jwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["access_token"]["name"], "X-Access-Token");

    // No reference anywhere points at nothing.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{reference} is dangling");
    }
}

#[tokio::test]
async fn money_is_documented_as_two_place_decimal_strings() {
    let app = app().await;
    let doc = document(&app).await;
    let money = &doc["components"]["schemas"]["Money"];
    assert_eq!(money["type"], "string");
    assert_eq!(money["pattern"], r"^-?[0-9]+\.[0-9]{2}$");
    for (schema, field) in [
        ("User", "currency_balance"),
        ("Balance", "balance"),
        ("Transaction", "amount"),
        ("Price", "price_znc"),
        ("AccessToken", "cost_znc"),
        ("TokenRevoked", "refund_amount"),
    ] {
        let property = &doc["components"]["schemas"][schema]["properties"][field];
        assert_eq!(
            property["$ref"], "#/components/schemas/Money",
            "{schema}.{field}"
        );
    }
}

/// The schemas written by hand or by typed responses match what the routes
/// answer, key for key.
#[tokio::test]
async fn answers_have_the_documented_shapes() {
    let app = app().await;
    let doc = document(&app).await;
    let (jwt, secret) = app.token_holder("ada", "full").await;

    let status = app
        .get("/api/v1/proxy/status")
        .header("x-access-token", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_shape(&doc, "ProxyStatus", &body(status).await);

    assert_shape(&doc, "User", &body(app.me(&jwt).await).await);
    let balance = body(app.get_as(&jwt, "/api/v1/currency/balance").await).await;
    assert_shape(&doc, "Balance", &balance);
    let health = app.get("/health/detailed").send().await.unwrap();
    assert_shape(&doc, "DetailedHealthResponse", &body(health).await);
    let tokens = body(app.get_as(&jwt, "/api/v1/tokens/my-tokens").await).await;
    assert_shape(&doc, "TokenList", &tokens);
    assert_shape(&doc, "AccessToken", &tokens["items"][0]);
    let usage = body(
        app.get_as(&jwt, "/api/v1/users/me/usage?granularity=hour")
            .await,
    )
    .await;
    assert_shape(&doc, "UsageSeries", &usage);
    assert_shape(&doc, "UsagePoint", &usage["series"][0]);
    app.promote("ada@x.io").await;
    let top = body(app.get_as(&jwt, "/api/v1/admin/usage/top?group=user").await).await;
    assert_shape(&doc, "UsageTop", &top);

    let refused = app
        .post("/api/v1/auth/register")
        .json(&json!({ "email": "not-an-email", "username": "x", "password": "p" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem = body(refused).await;
    assert_shape(&doc, "Problem", &problem);
    assert_shape(&doc, "FieldProblem", &problem["errors"][0]);
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = app().await;

    let redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/docs", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.url().path().ends_with("/docs/"), "{}", page.url());
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    // Every asset is the server's own: nothing from a CDN.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );

    let initializer = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap();
    let initializer = initializer.text().await.unwrap();
    assert!(
        initializer.contains(r#""url": "/openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );

    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
    ] {
        let response = app.get(&format!("/docs/{asset}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 10_000, "{asset}");
    }
}

/// The request schema named `name`'s property `field`, through `$ref`.
fn property<'a>(doc: &'a Value, name: &str, field: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    resolve(doc, &schema["properties"][field])
}

/// The rules the handlers apply are in the document, with the values of
/// this configuration (SPEC §16.8): schemathesis (`just schemathesis`)
/// found each of these classes refused with 422 while the schema allowed it.
#[tokio::test]
async fn request_schemas_carry_the_rules_and_the_configured_values() {
    let app = TestApp::spawn_with(Backend::Embedded, |settings| {
        settings.pricing.prices = [("2", "3.00"), ("48", "50.00")]
            .map(|(h, p)| (h.to_owned(), p.to_owned()))
            .into();
        settings.currency.max_balance = "12345.67".to_owned();
    })
    .await
    .expect("the embedded backend needs no services");
    let doc = document(&app).await;

    // Passwords: the domain's bounds and a letter-and-digit pattern.
    for (schema, field) in [
        ("RegisterRequest", "password"),
        ("UpdateMeRequest", "password"),
    ] {
        let password = property(&doc, schema, field);
        assert_eq!(password["minLength"], PASSWORD_MIN_CHARS, "{schema}");
        assert_eq!(password["maxLength"], PASSWORD_MAX_CHARS, "{schema}");
        assert!(password["pattern"].is_string(), "{schema}");
    }
    assert_eq!(
        property(&doc, "RegisterRequest", "email")["maxLength"],
        EMAIL_MAX_CHARS
    );
    // A password sent without the current one is refused: the schema says so.
    let update_me = &doc["components"]["schemas"]["UpdateMeRequest"];
    assert_eq!(
        update_me["dependentRequired"]["password"],
        json!(["current_password"])
    );

    // Token durations: exactly the configured ones.
    let duration = property(&doc, "TokenPurchaseRequest", "duration_hours");
    assert_eq!(duration["enum"], json!([2, 48]));

    // Amounts: the deposit range, and the configured balance limit.
    let bounds = |schema: &str, field: &str| {
        let number = property(&doc, schema, field)["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|form| form["type"] == "number")
            .cloned()
            .unwrap_or_else(|| panic!("{schema}.{field}: no number form"));
        (number["minimum"].as_f64(), number["maximum"].as_f64())
    };
    assert_eq!(
        bounds("DepositRequest", "amount_znc"),
        (Some(1.0), Some(100000.0))
    );
    assert_eq!(
        bounds("AdminUserPatch", "currency_balance"),
        (Some(0.0), Some(12345.67))
    );
    // `{}` changes nothing: refused, and the schema says so.
    let patch = &doc["components"]["schemas"]["AdminUserPatch"];
    assert_eq!(patch["minProperties"], 1);
    assert_eq!(patch["properties"]["is_active"]["type"], "boolean");
}

/// Requests at the edges the schema now draws: inside is accepted, just
/// outside is refused.
#[tokio::test]
async fn requests_at_the_schema_edges_get_the_answer_the_schema_promises() {
    let app = app().await;
    let register = |password: String| {
        app.post("/api/v1/auth/register").json(&json!({
            "email": format!("u{}@x.io", password.len()),
            "username": format!("user{}", password.len()),
            "password": password,
        }))
    };
    let longest = format!("{}1", "я".repeat(PASSWORD_MAX_CHARS - 2) + "a");
    assert_eq!(
        register(longest.clone()).send().await.unwrap().status(),
        201
    );
    assert_eq!(register(longest + "x").send().await.unwrap().status(), 422);

    let root = app.signed_up("root@x.io", "root").await;
    app.promote("root@x.io").await;
    for (amount, status) in [
        (json!("1"), 201),
        (json!("100000.00"), 201),
        (json!(100000), 201),
        (json!("0"), 422),
        (json!("100000.01"), 422),
        (json!(" 10.00"), 422),
    ] {
        let response = app.start_deposit(&root, amount.clone()).await;
        assert_eq!(response.status(), status, "{amount}");
    }

    // An integer written as a float is an integer to JSON Schema.
    let bought = app
        .buy(&root, json!({ "duration_hours": 24.0 }))
        .await
        .status();
    assert_eq!(bought, 402, "no balance yet, but a valid order");

    let me = body(app.me(&root).await).await;
    let patch = app
        .patch(&format!(
            "/api/v1/admin/users/{}",
            me["id"].as_str().unwrap()
        ))
        .bearer_auth(&root)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 422);
}
