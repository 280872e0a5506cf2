//! In-process cost of one evaluation, for a three-rule and a ten-rule chain
//! of the example rules on a realistic login, three ways in the same run:
//!
//! - `native`: the rules' logic as plain Rust functions on the host, the
//!   floor;
//! - `reused`: the WebAssembly rules, each called on an instance kept across
//!   evaluations, the cost without isolation;
//! - `fresh`: what rulehost does, a fresh instance per rule per evaluation.
//!
//! All three go through the same chain (records from the request JSON,
//! decision checks, edits, write-back), so the differences are the cost of
//! WebAssembly and of isolation. Variants take turns in rounds, so that a
//! noisy neighbour slows all of them alike. Prints a Markdown table of
//! medians, 99th percentiles and ratios.
//!
//! Run with `./example-rules/build.sh && cargo bench -p rulehost --bench evaluate`.
//! `RULEHOST_BENCH_ROUNDS` (default 10) and `RULEHOST_BENCH_BATCH` (default
//! 2000 evaluations per variant per round) set the sample count. Under
//! `cargo test` it runs one short round as a smoke check.

mod support;

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rulehost::bindings::{Claim, Decision, Denial, Edit};
use rulehost::chain::{self, Decide, Failure};
use rulehost::instance::ReusedInstances;
use rulehost::records::LoginRecords;
use rulehost::rule_set::LoadedRule;
use rulehost::{Evaluation, RuleSet};
use serde_json::Value;

/// The six example rules and four more configured differently.
const CHAIN_10_EXTRA: &str = r#"
[[rule]]
name = "deny-internal-api"
module = "deny_audience.wasm"
[rule.config]
audience = "https://internal.api"

[[rule]]
name = "deny-kiosk"
module = "deny_client.wasm"
[rule.config]
client_id = "kiosk"

[[rule]]
name = "partner-ips"
module = "ip_allowlist.wasm"
[rule.config]
cidrs = "198.51.100.0/24 203.0.113.0/24"

[[rule]]
name = "roles-claim-v2"
module = "roles_claim.wasm"
[rule.config]
namespace = "https://rulehost.example/v2/"
"#;

/// One example rule written as a host function, with its configuration.
enum NativeRule {
    DenyAudience(&'static str),
    DenyClient(&'static str),
    RequireVerifiedEmail,
    IpAllowlist(&'static str),
    RoleScopes(&'static [(&'static str, &'static str)]),
    RolesClaim(&'static str),
}

const GRANTS: &[(&str, &str)] = &[
    ("admin", "read:todos write:todos delete:todos read:billing"),
    ("editor", "read:todos write:todos"),
    ("viewer", "read:todos"),
];

const NATIVE_3: [NativeRule; 3] = [
    NativeRule::DenyAudience("http://todoapi2.api"),
    NativeRule::DenyClient("legacy-portal"),
    NativeRule::RoleScopes(GRANTS),
];

const NATIVE_10: [NativeRule; 10] = [
    NativeRule::DenyAudience("http://todoapi2.api"),
    NativeRule::DenyClient("legacy-portal"),
    NativeRule::RequireVerifiedEmail,
    NativeRule::IpAllowlist("127.0.0.0/8 ::1/128 10.0.0.0/8 192.168.0.0/16 203.0.113.0/24"),
    NativeRule::RoleScopes(GRANTS),
    NativeRule::RolesClaim("https://rulehost.example/"),
    NativeRule::DenyAudience("https://internal.api"),
    NativeRule::DenyClient("kiosk"),
    NativeRule::IpAllowlist("198.51.100.0/24 203.0.113.0/24"),
    NativeRule::RolesClaim("https://rulehost.example/v2/"),
];

fn deny(code: &str, description: &str) -> Decision {
    Decision::Deny(Denial {
        code: code.into(),
        description: description.into(),
    })
}

/// The values of the request parameter `name`, query first, as the guest
/// SDK reads them.
fn params<'a>(records: &'a LoginRecords, name: &'a str) -> impl Iterator<Item = &'a str> {
    let request = &records.context.request;
    request
        .query
        .iter()
        .chain(&request.body)
        .filter(move |(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

impl NativeRule {
    /// The same decision the example rule's WebAssembly build makes.
    fn decide(&self, records: &LoginRecords) -> Result<Decision, Failure> {
        let context = &records.context;
        Ok(match self {
            NativeRule::DenyAudience(forbidden) => {
                let audiences: Vec<&str> = params(records, "audience").collect();
                if audiences.is_empty() || audiences.contains(forbidden) {
                    deny("access_denied", "end_users_not_allowed")
                } else {
                    Decision::Allow
                }
            }
            NativeRule::DenyClient(forbidden) => {
                if context.client.client_id == *forbidden {
                    deny("access_denied", "end_users_not_allowed")
                } else {
                    Decision::Allow
                }
            }
            NativeRule::RequireVerifiedEmail => {
                if records.user.email_verified {
                    Decision::Allow
                } else {
                    deny(
                        "unverified_email",
                        "Please verify your email before logging in.",
                    )
                }
            }
            NativeRule::IpAllowlist(cidrs) => {
                let ranges: Vec<IpNet> = cidrs
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|part| !part.is_empty())
                    .map(|part| part.parse().expect("a valid range"))
                    .collect();
                let ip: IpAddr = context.request.ip.parse().expect("a valid address");
                if ranges.iter().any(|range| range.contains(&ip)) {
                    Decision::Allow
                } else {
                    deny("ip_not_allowed", "Access denied from this IP address.")
                }
            }
            NativeRule::RoleScopes(grants) => {
                let requested = params(records, "scope").next().unwrap_or_default();
                let mut scopes: Vec<String> = Vec::new();
                for scope in requested.split_whitespace() {
                    let granted = context.roles.iter().any(|role| {
                        grants.iter().any(|(granted_role, granted)| {
                            granted_role == role && granted.split_whitespace().any(|g| g == scope)
                        })
                    });
                    if granted && !scopes.iter().any(|kept| kept == scope) {
                        scopes.push(scope.to_owned());
                    }
                }
                if scopes == context.access_token.scopes {
                    Decision::Allow
                } else {
                    Decision::Modify(vec![Edit::ReplaceScopes(scopes)])
                }
            }
            NativeRule::RolesClaim(namespace) => {
                if context.roles.is_empty() {
                    Decision::Allow
                } else {
                    let claim = || Claim {
                        name: format!("{namespace}roles"),
                        value: serde_json::to_string(&context.roles).expect("roles as JSON"),
                    };
                    Decision::Modify(vec![
                        Edit::SetIdTokenClaim(claim()),
                        Edit::SetAccessTokenClaim(claim()),
                    ])
                }
            }
        })
    }
}

/// The native rules of a chain, deciding in place of its WebAssembly ones.
struct Natives(&'static [NativeRule]);

impl Decide for Natives {
    fn decide<'a>(
        &'a mut self,
        index: usize,
        _rule: &'a LoadedRule,
        records: &'a LoginRecords,
    ) -> impl Future<Output = Result<Decision, Failure>> + Send + 'a {
        std::future::ready(self.0[index].decide(records))
    }
}

/// The ways of running a chain that are compared.
#[derive(Clone, Copy)]
enum Variant {
    Native,
    Reused,
    Fresh,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Native, Variant::Reused, Variant::Fresh];

    fn name(self) -> &'static str {
        match self {
            Variant::Native => "native functions (floor)",
            Variant::Reused => "wasm, instance reused (no isolation)",
            Variant::Fresh => "wasm, fresh instance per rule (rulehost)",
        }
    }
}

/// A chain ready to run every variant.
struct Subject {
    name: &'static str,
    set: RuleSet,
    natives: &'static [NativeRule],
    reused: ReusedInstances,
    request: Value,
    // Keeps the rules directory while the set is loaded.
    _dir: tempfile::TempDir,
}

impl Subject {
    fn new(name: &'static str, manifest: &str, natives: &'static [NativeRule]) -> Self {
        let dir = support::rules_dir(manifest, &support::EXAMPLE_MODULES);
        let set = RuleSet::load(dir.path()).expect("loading the benchmark rules");
        assert_eq!(set.rules().len(), natives.len());
        let reused =
            support::block_on(ReusedInstances::new(&set)).expect("instantiating the rules");
        let mut subject = Self {
            name,
            set,
            natives,
            reused,
            request: support::example_request("modify"),
            _dir: dir,
        };
        subject.check_variants_agree();
        subject
    }

    fn evaluate(&mut self, variant: Variant, request: Value) -> Evaluation {
        let result = match variant {
            Variant::Native => support::block_on(chain::run_with(
                self.set.rules(),
                request,
                Natives(self.natives),
            )),
            Variant::Reused => support::block_on(self.reused.evaluate(&self.set, request)),
            Variant::Fresh => support::block_on(self.set.evaluate_async(request)),
        };
        result.expect("the benchmark request evaluates")
    }

    /// Fails unless every variant makes the same decision and writes back
    /// the same request, so that the floor is the same work.
    fn check_variants_agree(&mut self) {
        let fresh = self.evaluate(Variant::Fresh, self.request.clone());
        for variant in [Variant::Native, Variant::Reused] {
            let other = self.evaluate(variant, self.request.clone());
            assert_eq!(other.decision, fresh.decision, "{}", variant.name());
            assert_eq!(other.request, fresh.request, "{}", variant.name());
        }
    }

    /// Times `batch` evaluations, one sample each.
    fn sample(&mut self, variant: Variant, batch: usize, samples: &mut Vec<Duration>) {
        for _ in 0..batch {
            let request = self.request.clone();
            let started = Instant::now();
            let evaluation = self.evaluate(variant, request);
            let elapsed = started.elapsed();
            black_box(evaluation);
            samples.push(elapsed);
        }
    }
}

/// The samples of one variant, and the median of each round.
#[derive(Default)]
struct Samples {
    all: Vec<Duration>,
    round_medians: Vec<Duration>,
}

fn main() {
    let measuring = support::measuring();
    let rounds = support::env_count("RULEHOST_BENCH_ROUNDS", if measuring { 10 } else { 1 });
    let batch = support::env_count("RULEHOST_BENCH_BATCH", if measuring { 2000 } else { 20 });
    let six = std::fs::read_to_string(support::example_rules().join("rules.toml"))
        .expect("reading example-rules/rules.toml");
    let ten = format!("{six}{CHAIN_10_EXTRA}");
    let mut subjects = [
        Subject::new("3 rules", support::CHAIN_3, &NATIVE_3),
        Subject::new("10 rules", &ten, &NATIVE_10),
    ];
    let mut results: Vec<[Samples; 3]> = subjects.iter().map(|_| Default::default()).collect();
    for _ in 0..rounds {
        for (subject, samples) in subjects.iter_mut().zip(&mut results) {
            for (variant, samples) in Variant::ALL.into_iter().zip(samples.iter_mut()) {
                let mut round = Vec::with_capacity(batch);
                subject.sample(variant, batch, &mut round);
                samples.round_medians.push(support::median(round.clone()));
                samples.all.extend(round);
            }
        }
    }
    println!(
        "{rounds} rounds of {batch} evaluations per variant; request example-rules/requests/modify.json\n"
    );
    println!("| chain | variant | median µs | p99 µs | round medians µs | × native | × reused |");
    println!("|---|---|---:|---:|---|---:|---:|");
    for (subject, samples) in subjects.iter().zip(&mut results) {
        let medians: Vec<Duration> = samples
            .iter_mut()
            .map(|samples| {
                samples.all.sort();
                support::quantile(&samples.all, 0.5)
            })
            .collect();
        for (index, variant) in Variant::ALL.into_iter().enumerate() {
            let samples = &mut samples[index];
            samples.round_medians.sort();
            let ratio = |base: Duration| medians[index].as_secs_f64() / base.as_secs_f64();
            println!(
                "| {} | {} | {} | {} | {}–{} | {:.1} | {:.2} |",
                subject.name,
                variant.name(),
                support::micros(medians[index]),
                support::micros(support::quantile(&samples.all, 0.99)),
                support::micros(samples.round_medians[0]),
                support::micros(*samples.round_medians.last().unwrap()),
                ratio(medians[0]),
                ratio(medians[1]),
            );
        }
        let rules = subject.natives.len() as f64;
        let isolation = (medians[2].as_secs_f64() - medians[1].as_secs_f64()) / rules;
        println!(
            "| {} | fresh − reused, per rule | {:.2} | | | | |",
            subject.name,
            isolation * 1e6
        );
    }
}
