//! The sidecar under load, beside the HTTP ceiling of this machine, and its
//! resident memory.
//!
//! - `rulehost serve` (the release binary, as operators run it) answers
//!   `POST /v1/evaluate` for three of the example rules (deny by audience,
//!   deny by client, scopes by role), on the
//!   sample login `example-rules/requests/modify.json`;
//! - a minimal hyper server in this process, on a tokio runtime with as
//!   many workers, reads the same request and answers the sidecar's exact
//!   response bytes: what HTTP alone costs here.
//!
//! [oha](https://crates.io/crates/oha) drives both over loopback with the
//! same connections, taking turns for a few rounds: first as fast as each
//! goes, then at half the sidecar's throughput, with latency correction, for
//! the latency a caller sees when the sidecar is not saturated. Last, a
//! sidecar with 50 rules (each its own module) reports its resident memory
//! idle and under full load. The load generator shares the two cores with
//! the server, as a caller on the same host would.
//!
//! Run with `./example-rules/build.sh && cargo bench -p rulehost --bench sidecar`.
//! It installs oha into `target/toolchains/oha` the first time (a few
//! minutes). `RULEHOST_BENCH_ROUNDS` (default 3), `RULEHOST_BENCH_SECONDS`
//! (default 10 per run) and `RULEHOST_BENCH_CONNECTIONS` (default 16) set
//! its size. Under `cargo test` it only checks that both servers give the
//! same answer.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The oha release the benchmark installs and was measured with.
const OHA_VERSION: &str = "1.16.0";

/// Rules in the set whose memory is measured.
const MEMORY_RULES: usize = 50;

/// A `rulehost serve` child process, killed when dropped.
struct Sidecar {
    child: Child,
    address: SocketAddr,
}

impl Sidecar {
    /// Starts the release binary on `rules` and waits until it is ready.
    fn start(rules: &Path) -> Self {
        let address = free_loopback_address();
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sidecar-bench-cache");
        let child = Command::new(env!("CARGO_BIN_EXE_rulehost"))
            .arg("serve")
            .arg("--rules")
            .arg(rules)
            .arg("--listen")
            .arg(address.to_string())
            .arg("--cache-dir")
            .arg(cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting rulehost serve");
        let mut sidecar = Self { child, address };
        let started = Instant::now();
        while get(address, "/readyz").is_none_or(|(status, _)| status != 200) {
            if let Some(status) = sidecar.child.try_wait().expect("polling the sidecar") {
                panic!("rulehost serve exited with {status} before it was ready");
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the sidecar was not ready within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sidecar
    }

    /// The process's resident memory, and its peak, in MiB.
    fn resident_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading the sidecar's /proc status");
        let field = |name: &str| {
            let line = status
                .lines()
                .find(|line| line.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} in /proc status"));
            let kib: f64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|kib| kib.parse().ok())
                .expect("a size in kB");
            kib / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address no one listens on, for a server to take.
fn free_loopback_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("finding a free loopback port")
}

/// Sends one HTTP/1.1 request and returns the status and body, or `None`
/// when no server answers.
fn exchange(address: SocketAddr, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&answer[..split])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, answer[split + 4..].to_vec()))
}

fn get(address: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    exchange(address, &head, b"")
}

fn post_evaluate(address: SocketAddr, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head = format!(
        "POST /v1/evaluate HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    exchange(address, &head, body)
}

/// Serves `answer` as JSON to every request, after reading its body, on a
/// runtime of its own; stops when dropped.
struct BareServer {
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl BareServer {
    fn start(answer: Bytes) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("starting a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding the bare server");
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let answer = answer.clone();
                            async move {
                                request.into_body().collect().await?;
                                let mut response = hyper::Response::new(Full::new(answer));
                                response.headers_mut().insert(
                                    hyper::header::CONTENT_TYPE,
                                    hyper::header::HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, hyper::Error>(response)
                            }
                        });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            _runtime: runtime,
        }
    }
}

/// The oha binary, installed into `target/toolchains/oha` when missing.
fn oha() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/oha");
    let binary = root.join("bin/oha");
    if !binary.exists() {
        eprintln!("installing oha {OHA_VERSION} into {}", root.display());
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "install",
                "oha",
                "--locked",
                "--version",
                OHA_VERSION,
                "--root",
            ])
            .arg(&root)
            .status()
            .expect("running cargo install oha");
        assert!(status.success(), "cargo install oha failed");
    }
    binary
}

/// What one load run measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests_per_second: f64,
    median_ms: f64,
    p99_ms: f64,
}

/// How a run is driven.
struct Drive<'a> {
    oha: &'a Path,
    body: &'a Path,
    seconds: usize,
    connections: usize,
}

impl Drive<'_> {
    /// Runs oha against `address`, as fast as it goes or at `rate` requests
    /// per second, and fails unless every answer was a 200.
    fn run(&self, address: SocketAddr, rate: Option<f64>) -> Load {
        let mut command = Command::new(self.oha);
        command
            .args(["--no-tui", "--output-format", "json", "-m", "POST"])
            .args(["-T", "application/json", "-D"])
            .arg(self.body)
            .args(["-z", &format!("{}s", self.seconds)])
            .args(["-c", &self.connections.to_string()]);
        if let Some(rate) = rate {
            command.args(["-q", &format!("{rate:.0}"), "--latency-correction"]);
        }
        let output = command
            .arg(format!("http://{address}/v1/evaluate"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running oha");
        assert!(output.status.success(), "oha failed");
        let report: Value = serde_json::from_slice(&output.stdout).expect("oha's JSON report");
        let statuses = &report["statusCodeDistribution"];
        let total: u64 = statuses
            .as_object()
            .map(|codes| codes.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        assert!(
            total > 0 && statuses["200"].as_u64() == Some(total),
            "not every answer was 200: {statuses}, errors {}",
            report["errorDistribution"]
        );
        let seconds = |value: &Value| value.as_f64().expect("a latency in seconds") * 1e3;
        Load {
            requests_per_second: report["summary"]["requestsPerSec"]
                .as_f64()
                .expect("requestsPerSec"),
            median_ms: seconds(&report["latencyPercentiles"]["p50"]),
            p99_ms: seconds(&report["latencyPercentiles"]["p99"]),
        }
    }
}

/// The median of each field over `loads`.
fn medians(loads: &[Load]) -> Load {
    let median = |field: fn(&Load) -> f64| {
        let mut values: Vec<f64> = loads.iter().map(field).collect();
        values.sort_by(f64::total_cmp);
        support::quantile(&values, 0.5)
    };
    Load {
        requests_per_second: median(|load| load.requests_per_second),
        median_ms: median(|load| load.median_ms),
        p99_ms: median(|load| load.p99_ms),
    }
}

fn print_row(name: &str, load: Load, ceiling: Load) {
    println!(
        "| {name} | {:.0} | {:.3} | {:.3} | {:.0}% |",
        load.requests_per_second,
        load.median_ms,
        load.p99_ms,
        100.0 * load.requests_per_second / ceiling.requests_per_second
    );
}

/// The resident memory of a sidecar with [`MEMORY_RULES`] rules, idle and
/// while `drive` loads it.
fn memory(drive: &Drive, body: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    support::many_rules(dir.path(), MEMORY_RULES);
    let sidecar = Sidecar::start(dir.path());
    let (status, _) = post_evaluate(sidecar.address, body).expect("the 50-rule sidecar answers");
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(1));
    let (idle, _) = sidecar.resident_mib();
    let sampling = Arc::new(AtomicBool::new(true));
    let pid = sidecar.child.id();
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while sampling.load(Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = status
                        .lines()
                        .find(|line| line.starts_with("VmRSS:"))
                        .and_then(|line| line.split_whitespace().nth(1))
                        .and_then(|kib| kib.parse::<f64>().ok())
                {
                    peak = peak.max(kib / 1024.0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let load = drive.run(sidecar.address, None);
    sampling.store(false, Ordering::Relaxed);
    let loaded = sampler.join().unwrap();
    let (after, high_water) = sidecar.resident_mib();
    println!("\n| {MEMORY_RULES} rules | resident MiB |\n|---|---:|");
    println!("| idle, after one evaluation | {idle:.1} |");
    println!(
        "| under load ({:.0} evaluations/s), highest sample | {loaded:.1} |",
        load.requests_per_second
    );
    println!("| after the load | {after:.1} |");
    println!("| peak (VmHWM) | {high_water:.1} |");
}

fn main() {
    let rules = support::rules_dir(support::CHAIN_3, &support::EXAMPLE_MODULES);
    let body_path = support::example_rules().join("requests/modify.json");
    let body = std::fs::read(&body_path).expect("reading the sample request");
    let sidecar = Sidecar::start(rules.path());
    let (status, answer) = post_evaluate(sidecar.address, &body).expect("the sidecar answers");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let bare = BareServer::start(Bytes::from(answer.clone()));
    assert_eq!(
        post_evaluate(bare.address, &body),
        Some((200, answer)),
        "the bare server answers as the sidecar does"
    );
    if !support::measuring() {
        println!("smoke check: the sidecar and the bare server answer alike");
        return;
    }
    let oha = oha();
    let drive = Drive {
        oha: &oha,
        body: &body_path,
        seconds: support::env_count("RULEHOST_BENCH_SECONDS", 10),
        connections: support::env_count("RULEHOST_BENCH_CONNECTIONS", 16),
    };
    let rounds = support::env_count("RULEHOST_BENCH_ROUNDS", 3);
    let (mut ceiling, mut served) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ceiling.push(drive.run(bare.address, None));
        served.push(drive.run(sidecar.address, None));
    }
    let (ceiling, served) = (medians(&ceiling), medians(&served));
    let half = served.requests_per_second / 2.0;
    let (mut ceiling_half, mut served_half) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ceiling_half.push(drive.run(bare.address, Some(half)));
        served_half.push(drive.run(sidecar.address, Some(half)));
    }
    let (ceiling_half, served_half) = (medians(&ceiling_half), medians(&served_half));
    println!(
        "oha {OHA_VERSION}, {} connections, {} s per run, medians of {rounds} rounds; \
         request example-rules/requests/modify.json, 3-rule chain\n",
        drive.connections, drive.seconds
    );
    println!(
        "| server | requests/s | median ms | p99 ms | of bare hyper |\n|---|---:|---:|---:|---:|"
    );
    print_row("bare hyper, full load", ceiling, ceiling);
    print_row("rulehost, full load", served, ceiling);
    print_row(&format!("bare hyper at {half:.0}/s"), ceiling_half, ceiling);
    print_row(&format!("rulehost at {half:.0}/s"), served_half, ceiling);
    drop(sidecar);
    memory(&drive, &body);
}
