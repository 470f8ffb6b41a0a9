//! Usage analytics over HTTP (SPEC §14): what the proxy did, counted per
//! class and reason, equals what the usage endpoints and the session
//! counters say; the query limits answer 422.

use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use zenzefi_tests::upstream::FakeUpstream;
use zenzefi_tests::{Backend, TestApp, body, on_both_backends, problem};

async fn usage_app(upstream: &FakeUpstream, backend: Backend) -> Option<TestApp> {
    let url = upstream.url.clone();
    TestApp::spawn_with(backend, move |s| {
        s.upstream.url = url;
        s.sessions.flush_interval_ms = 200;
    })
    .await
}

async fn after_a_flush() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// `n` proxied requests to `path` with `token` from `device`, all answered
/// `expected`.
async fn send(app: &TestApp, token: &str, device: &str, path: &str, n: usize, expected: u16) {
    let requests = (0..n).map(|_| {
        app.proxied_from(&app.base_url, Method::GET, path, token, device)
            .send()
    });
    for response in join_all(requests).await {
        let response = response.unwrap();
        assert_eq!(response.status(), expected, "{path}");
        response.bytes().await.unwrap();
    }
}

async fn usage_totals(app: &TestApp, jwt: &str, query: &str) -> Value {
    let response = app
        .get_as(jwt, &format!("/api/v1/users/me/usage?{query}"))
        .await;
    assert_eq!(response.status(), 200);
    body(response).await
}

async fn mixed_traffic_counts_exactly_per_class_and_reason(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = usage_app(&upstream, backend).await else {
        return;
    };
    let (jwt, full) = app.token_holder("ann", "full").await;
    let bought = app
        .buy(
            &jwt,
            json!({ "duration_hours": 24, "scope": "certificates_only" }),
        )
        .await;
    let certificates = body(bought).await["token"].as_str().unwrap().to_owned();

    send(&app, &full, "device-0001", "status/200", 40, 200).await;
    send(&app, &full, "device-0001", "status/204", 5, 204).await;
    send(&app, &full, "device-0001", "status/404", 7, 404).await;
    send(&app, &full, "device-0001", "status/503", 3, 503).await;
    send(&app, &full, "device-0001", "echo", 10, 200).await;
    // Refusals of known tokens: another device, a scope, a path.
    send(&app, &full, "device-0002", "status/200", 4, 409).await;
    send(&app, &certificates, "device-0003", "admin/users", 6, 403).await;
    for _ in 0..2 {
        let (status, _) = app
            .raw_get(
                "/api/v1/proxy/a/../status/200",
                &[("x-access-token", &full), ("x-device-id", "device-0001")],
            )
            .await;
        assert_eq!(status, 400);
    }
    // An unknown token is nobody's usage.
    send(&app, "zzf_unknown", "device-0001", "status/200", 3, 401).await;
    after_a_flush().await;

    let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60 * 60;
    let (from, to) = (minute - 3_600, minute + 3_600);
    let period = |granularity: &str| {
        let at = |secs| {
            time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        format!("from={}&to={}&granularity={granularity}", at(from), at(to))
    };
    let by_minute = usage_totals(&app, &jwt, &period("minute")).await;
    let totals = &by_minute["totals"];
    assert_eq!(totals["requests"], 65, "{totals}");
    assert_eq!(
        totals["responses"],
        json!({ "2xx": 55, "3xx": 0, "4xx": 7, "5xx": 3 })
    );
    assert_eq!(
        totals["refused"],
        json!({
            "scope_denied": 6, "invalid_path": 2, "device_conflict": 4, "rate_limited": 0,
            "user_inactive": 0, "upstream_unavailable": 0, "upstream_timeout": 0,
        })
    );
    assert_eq!(by_minute["series"].as_array().unwrap().len(), 120);
    // The other steps read the hour buckets: same totals.
    for granularity in ["hour", "day"] {
        let other = usage_totals(&app, &jwt, &period(granularity)).await;
        assert_eq!(other["totals"], *totals, "{granularity}");
    }
    // And the sessions counted the same requests and bytes.
    let sessions = body(app.get_as(&jwt, "/api/v1/users/me/sessions").await).await;
    let items = sessions["items"].as_array().unwrap();
    let sum = |field: &str| {
        items
            .iter()
            .map(|s| s[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("request_count"), 65);
    let bytes = totals["bytes_in"].as_u64().unwrap() + totals["bytes_out"].as_u64().unwrap();
    assert_eq!(sum("bytes_transferred"), bytes);
    assert!(bytes > 0);

    // One token's own series, and an operator's view of the same.
    let token_id = items[0]["token_id"].as_str().unwrap();
    let own_token = usage_totals(
        &app,
        &jwt,
        &format!("{}&token_id={token_id}", period("hour")),
    )
    .await;
    assert_eq!(own_token["totals"]["requests"], 65);
    app.promote("ann@x.io").await;
    let top = body(
        app.get_as(
            &jwt,
            "/api/v1/admin/usage/top?group=token&by=requests&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(top["items"][0]["token_id"], token_id, "{top}");
    assert_eq!(top["items"][0]["requests"], 65);
    assert_eq!(top["items"][0]["user_username"], "ann");
    let all = body(
        app.get_as(&jwt, &format!("/api/v1/admin/usage?{}", period("hour")))
            .await,
    )
    .await;
    assert_eq!(all["totals"], *totals);
}

async fn usage_queries_out_of_bounds_are_422(backend: Backend) {
    let upstream = FakeUpstream::start().await;
    let Some(app) = usage_app(&upstream, backend).await else {
        return;
    };
    let jwt = app.signed_up("ann@x.io", "ann").await;
    let cases = [
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&granularity=minute",
            "too_many_points",
        ),
        (
            "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "validation_failed",
        ),
        ("granularity=week", "validation_failed"),
        ("from=yesterday", "validation_failed"),
        ("token_id=nope", "validation_failed"),
    ];
    for (query, code) in cases {
        let response = app
            .get_as(&jwt, &format!("/api/v1/users/me/usage?{query}"))
            .await;
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(problem(response).await["code"], code, "{query}");
    }
    // 1 500 minutes is the most a series may have.
    let response = app
        .get_as(
            &jwt,
            "/api/v1/users/me/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T01:00:00Z&granularity=minute",
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await["series"].as_array().unwrap().len(),
        1_500
    );
    app.promote("ann@x.io").await;
    for query in ["by=size", "group=device", "limit=0", "limit=101"] {
        let response = app
            .get_as(&jwt, &format!("/api/v1/admin/usage/top?{query}"))
            .await;
        assert_eq!(response.status(), 422, "{query}");
    }
}

on_both_backends!(
    mixed_traffic_counts_exactly_per_class_and_reason,
    usage_queries_out_of_bounds_are_422,
);
