//! The sidecar on a real loopback port: decisions, and every bad-input answer.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rulehost::LiveRules;
use rulehost::sandbox::Sandbox;
use rulehost::server::{self, ServerOptions};
use serde_json::json;
use tokio::sync::oneshot;

use crate::support::{RulesDir, evaluate, example_rules, http, post_json_bytes, sample, test_rule};

/// A running sidecar; dropping it stops the server.
pub struct Sidecar {
    pub addr: SocketAddr,
    pub live: Arc<LiveRules>,
    _stop: oneshot::Sender<()>,
}

/// Serves the rules directory `dir` on a loopback port.
pub async fn start(dir: &Path, options: ServerOptions) -> Sidecar {
    let sandbox = Arc::new(Sandbox::new(&Default::default()).unwrap());
    let live = Arc::new(LiveRules::load(dir, sandbox).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    tokio::spawn(server::serve(listener, live.clone(), options, shutdown));
    Sidecar {
        addr,
        live,
        _stop: stop,
    }
}

async fn examples() -> Sidecar {
    start(example_rules(), ServerOptions::default()).await
}

#[tokio::test]
async fn allows_modifies_and_denies() {
    let sidecar = examples().await;
    let allow = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(allow.status, 200, "{}", allow.body);
    let body = allow.json();
    assert_eq!(body["decision"], "allow");
    assert_eq!(body["user"], sample("allow")["user"]);
    assert_eq!(body["context"], sample("allow")["context"]);
    assert_eq!(body["rules"].as_array().unwrap().len(), 6);
    assert!(
        allow
            .headers
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );

    let modify = evaluate(sidecar.addr, &sample("modify")).await.json();
    assert_eq!(modify["decision"], "modify");
    assert_eq!(
        modify["context"]["accessToken"]["scope"],
        json!(["read:todos", "write:todos"])
    );
    assert_eq!(
        modify["context"]["idToken"]["https://rulehost.example/roles"],
        json!(["editor"])
    );
    assert_eq!(
        modify["rules"][4],
        json!({"name": "scopes-by-role", "outcome": "modify", "micros": modify["rules"][4]["micros"]})
    );

    let deny = evaluate(sidecar.addr, &sample("deny")).await;
    assert_eq!(deny.status, 401);
    let body = deny.json();
    assert_eq!(body["error"], "access_denied");
    assert_eq!(body["error_description"], "end_users_not_allowed");
    assert_eq!(body["rule"], "deny-todo-api");
    assert_eq!(body["generation"], 1);
}

#[tokio::test]
async fn a_failing_rule_is_a_server_error_naming_it() {
    let dir = RulesDir::new(&test_rule("faulty", "panic", ""));
    let sidecar = start(dir.path(), ServerOptions::default()).await;
    let reply = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(reply.status, 500);
    let body = reply.json();
    assert_eq!(
        (&body["error"], &body["rule"], &body["reason"]),
        (&json!("server_error"), &json!("faulty"), &json!("trap"))
    );
    let again = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(
        again.status, 500,
        "the sidecar keeps answering after a trap"
    );
}

#[tokio::test]
async fn invalid_json_is_a_400_with_its_position() {
    let sidecar = examples().await;
    let reply = post_json_bytes(sidecar.addr, b"{\n  \"user\": {,\n}").await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!((&body["line"], &body["column"]), (&json!(2), &json!(12)));
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_a_400_naming_it() {
    let sidecar = examples().await;
    let mut missing = sample("allow");
    missing["context"]
        .as_object_mut()
        .unwrap()
        .remove("clientID");
    let body = evaluate(sidecar.addr, &missing).await.json();
    assert_eq!(body["field"], "context.clientID");
    let mut mistyped = sample("allow");
    mistyped["user"]["identities"][0]["isSocial"] = json!("no");
    let reply = evaluate(sidecar.addr, &mistyped).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["field"], "user.identities[0].isSocial");
}

#[tokio::test]
async fn another_content_type_is_a_415() {
    let sidecar = examples().await;
    let body = sample("allow").to_string();
    let reply = http(
        sidecar.addr,
        "POST",
        "/v1/evaluate",
        &[("Content-Type", "text/plain")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 415);
    let reply = http(sidecar.addr, "POST", "/v1/evaluate", &[], body.as_bytes()).await;
    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let options = ServerOptions {
        max_body_bytes: 4096,
        ..ServerOptions::default()
    };
    let sidecar = start(example_rules(), options).await;
    let mut request = sample("allow");
    request["context"]["padding"] = json!("x".repeat(5000));
    assert_eq!(evaluate(sidecar.addr, &request).await.status, 413);
    assert_eq!(evaluate(sidecar.addr, &sample("allow")).await.status, 200);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let sidecar = start(example_rules(), options).await;
    let mut stream = tokio::net::TcpStream::connect(sidecar.addr).await.unwrap();
    let chunk = "a".repeat(800);
    let request = format!(
        "POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    let _ = stream.write_all(request.as_bytes()).await;
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}

#[tokio::test]
async fn wrong_methods_and_paths_are_405_and_404() {
    let sidecar = examples().await;
    let reply = http(sidecar.addr, "GET", "/v1/evaluate", &[], b"").await;
    assert_eq!(reply.status, 405);
    assert!(
        reply.headers.to_ascii_lowercase().contains("allow: post"),
        "{}",
        reply.headers
    );
    assert_eq!(
        http(sidecar.addr, "DELETE", "/healthz", &[], b"")
            .await
            .status,
        405
    );
    let reply = http(sidecar.addr, "GET", "/v2/evaluate", &[], b"").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
}

#[tokio::test]
async fn healthz_and_readyz_answer_once_rules_are_loaded() {
    let sidecar = examples().await;
    let reply = http(sidecar.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
    let ready = http(sidecar.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["generation"], 1);
}

#[tokio::test]
async fn rules_lists_the_serving_generation() {
    let sidecar = examples().await;
    let body = http(sidecar.addr, "GET", "/v1/rules", &[], b"")
        .await
        .json();
    assert_eq!(body["generation"]["number"], 1);
    assert!(
        body["generation"]["loaded_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let rules = body["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    assert_eq!(rules[0]["name"], "deny-todo-api");
    assert!(
        rules[0]["module"]
            .as_str()
            .unwrap()
            .ends_with("deny_audience.wasm")
    );
    assert_eq!(rules[0]["enabled"], true);
    let hash = rules[0]["hash"].as_str().unwrap();
    assert!(
        hash.starts_with("sha256:") && hash.len() == 7 + 64,
        "{hash}"
    );
    assert_eq!(body["last_failed_reload"], serde_json::Value::Null);
}
