//! The sidecar against hostile clients on loopback: slow and idle
//! connections, oversized heads and bodies, hostile but valid JSON, bursts
//! past the concurrency cap, and graceful shutdown under load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rulehost::LiveRules;
use rulehost::sandbox::Sandbox;
use rulehost::server::{self, ServerOptions};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sidecar::start;
use crate::support::{RulesDir, evaluate, example_rules, http, post_json_bytes, sample, test_rule};

/// Sends raw bytes and reads whatever comes back before the server closes
/// the connection or `wait` passes.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off_without_hurting_others() {
    let options = ServerOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    };
    let sidecar = start(example_rules(), options).await;
    let mut slow = TcpStream::connect(sidecar.addr).await.unwrap();
    slow.write_all(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let idle = TcpStream::connect(sidecar.addr).await.unwrap();
    assert_eq!(
        evaluate(sidecar.addr, &sample("allow")).await.status,
        200,
        "others are served meanwhile"
    );
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow connection was closed");
    assert!(started.elapsed() < Duration::from_secs(3));
    let mut idle = idle;
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the idle connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_gets_408() {
    let options = ServerOptions {
        body_read_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    };
    let sidecar = start(example_rules(), options).await;
    let head = "POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user\":";
    let reply = raw(sidecar.addr, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");
}

#[tokio::test]
async fn an_oversized_head_is_refused() {
    let sidecar = start(example_rules(), ServerOptions::default()).await;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let reply = raw(sidecar.addr, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply}"
    );
    assert_eq!(
        http(sidecar.addr, "GET", "/healthz", &[], b"").await.status,
        200
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_position() {
    let sidecar = start(example_rules(), ServerOptions::default()).await;
    for (body, expected) in [
        ("", "EOF"),
        ("{\"user\": \"\\q\"}", "escape"),
        ("{\"user\": \"\\ud800\"}", "escape"),
        (
            "{\"user\": {\"user_id\": \"a\", \"user_id\": \"b\"}}",
            "duplicate key \"user_id\"",
        ),
        (
            &("[".repeat(100) + &"]".repeat(100)),
            "nesting deeper than 64 levels",
        ),
        (
            "{\"n\": 123456789012345678901234567890}",
            "does not fit in 64 bits",
        ),
        ("\u{feff}{}", "expected value"),
    ] {
        let reply = post_json_bytes(sidecar.addr, body.as_bytes()).await;
        let (status, body_json) = (reply.status, reply.json());
        assert_eq!(status, 400, "{body:.40}");
        let description = body_json["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{body:.40}: {description}");
        assert!(
            body_json["line"].is_u64() && body_json["column"].is_u64(),
            "{body_json}"
        );
    }
    let invalid_utf8 = post_json_bytes(sidecar.addr, b"{\"a\": \"\xff\"}").await;
    assert_eq!(invalid_utf8.status, 400);
}

#[tokio::test]
async fn valid_hostile_values_pass_through_exactly() {
    let sidecar = start(example_rules(), ServerOptions::default()).await;
    let mut request = sample("allow");
    let odd = json!({"max": 18446744073709551615u64, "min": -9223372036854775807i64, "unicode": "\u{1F600}\u{0000}", "escaped": "a\"b\\c"});
    request["context"]["odd"] = odd.clone();
    request["user"]["app_metadata"]["deep"] = json!([[[[[[[[{"x": 1}]]]]]]]]);
    let reply = evaluate(sidecar.addr, &request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["context"]["odd"], odd);
    assert_eq!(
        body["user"]["app_metadata"],
        request["user"]["app_metadata"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_concurrency_cap_gets_503_with_retry_after() {
    let dir = RulesDir::new(&test_rule(
        "slow",
        "dispatch",
        "[rule.limits]\ntimeout_ms = 2000",
    ));
    let options = ServerOptions {
        max_concurrent_evaluations: 1,
        ..ServerOptions::default()
    };
    let sidecar = start(dir.path(), options).await;
    let mut slow = sample("allow");
    slow["context"]["request"]["query"]["test_mode"] = json!("loop");
    let addr = sidecar.addr;
    let busy = tokio::spawn(async move { evaluate(addr, &slow).await.status });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused
            .headers
            .to_ascii_lowercase()
            .contains("retry-after: 1"),
        "{}",
        refused.headers
    );
    assert_eq!(busy.await.unwrap(), 500, "the looping rule timed out");
    assert_eq!(
        evaluate(sidecar.addr, &sample("allow")).await.status,
        200,
        "capacity is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_finishes_every_request_in_flight() {
    let dir = RulesDir::new(&test_rule(
        "slowish",
        "dispatch",
        "[rule.limits]\ntimeout_ms = 1500",
    ));
    let sandbox = Arc::new(Sandbox::new(&Default::default()).unwrap());
    let live = Arc::new(LiveRules::load(dir.path(), sandbox).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        live,
        ServerOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    // Requests that each take the rule's whole time budget, all in flight
    // when shutdown starts.
    let mut slow = sample("allow");
    slow["context"]["request"]["query"]["test_mode"] = json!("loop");
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        let slow = slow.clone();
        in_flight.push(tokio::spawn(
            async move { evaluate(addr, &slow).await.status },
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(()).unwrap();
    for request in in_flight {
        assert_eq!(
            request.await.unwrap(),
            500,
            "an in-flight request got its answer"
        );
    }
    let result = tokio::time::timeout(Duration::from_secs(15), server).await;
    assert!(
        result
            .expect("the server stopped within the grace period")
            .unwrap()
            .is_ok()
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connection is accepted"
    );
}
