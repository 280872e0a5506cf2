//! Shared fixtures: guest components built once per test run, throwaway rules
//! directories, the sample requests and a minimal HTTP/1.1 client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_owned()
}

/// The crates built to wasm for the tests: every example rule and the test rule.
const GUESTS: [&str; 7] = [
    "deny-audience",
    "deny-client",
    "role-scopes",
    "require-verified-email",
    "ip-allowlist",
    "roles-claim",
    "test-rule",
];

/// Builds the guests once and returns the folder holding their `.wasm` files.
pub fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"))
            .join("guests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace())
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target);
        for guest in GUESTS {
            command.args(["-p", guest]);
        }
        let output = command.output().expect("running cargo to build the guests");
        assert!(
            output.status.success(),
            "building the guests failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        target.join("wasm32-wasip2").join("release")
    })
}

/// A temporary rules directory holding a manifest.
pub struct RulesDir {
    dir: TempDir,
}

impl RulesDir {
    /// A directory whose `rules.toml` is `manifest`; `{guests}` in it stands
    /// for the folder of built guests.
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let text = manifest.replace("{guests}", &guest_dir().display().to_string());
        std::fs::write(dir.path().join("rules.toml"), text).expect("writing rules.toml");
        Self { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` inside the directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.dir.path().join(name), contents).expect("writing a fixture file");
    }
}

/// A manifest entry for the test rule in `mode`, with extra config lines.
pub fn test_rule(name: &str, mode: &str, extra_config: &str) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\nmodule = \"{{guests}}/test_rule.wasm\"\n[rule.config]\nmode = \"{mode}\"\n{extra_config}\n"
    )
}

/// A copy of `example-rules/rules.toml` beside the example modules freshly
/// built from source.
pub fn example_rules() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = guest_dir().join("example-rules");
        std::fs::create_dir_all(&dir).expect("creating the example rules copy");
        std::fs::copy(
            workspace().join("example-rules/rules.toml"),
            dir.join("rules.toml"),
        )
        .expect("copying the example manifest");
        for guest in GUESTS.iter().filter(|guest| **guest != "test-rule") {
            let name = format!("{}.wasm", guest.replace('-', "_"));
            std::fs::copy(guest_dir().join(&name), dir.join(&name))
                .expect("copying an example rule");
        }
        dir
    })
}

/// A sample request from `example-rules/requests/`.
pub fn sample(name: &str) -> Value {
    let path = workspace()
        .join("example-rules/requests")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("reading a sample request");
    serde_json::from_str(&text).expect("sample requests are valid JSON")
}

/// A status, the headers as text, and the body.
pub struct HttpReply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl HttpReply {
    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("body {:?}: {error}", self.body))
    }
}

/// Sends one HTTP/1.1 request to `addr` and reads the whole reply.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting to the sidecar");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("sending the head");
    // A server may answer and close before reading a body it refuses.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .expect("reading the reply");
    let text = String::from_utf8(raw).expect("the reply is UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("the reply has a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    HttpReply {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

/// POSTs raw `body` bytes as JSON to `/v1/evaluate`.
pub async fn post_json_bytes(addr: std::net::SocketAddr, body: &[u8]) -> HttpReply {
    http(
        addr,
        "POST",
        "/v1/evaluate",
        &[("Content-Type", "application/json")],
        body,
    )
    .await
}

/// POSTs `body` as JSON to `/v1/evaluate`.
pub async fn evaluate(addr: std::net::SocketAddr, body: &Value) -> HttpReply {
    http(
        addr,
        "POST",
        "/v1/evaluate",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}
