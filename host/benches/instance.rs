//! Where the time of one fresh rule instance goes, step by step, beside the
//! same steps for the smallest component wasmtime can run: what isolation
//! costs in wasmtime itself, whatever a rule does.
//!
//! For the three access-restriction example rules (deny by audience, deny
//! by client, scopes by role) on the sample login, and for a minimal
//! component (one core module with a memory of the size a Rust rule starts
//! with, no imports, an export without arguments), it times separately: a new store and instantiation, the call,
//! and dropping the store, which returns the instance to the pool. It also
//! times the call on an instance kept across calls. Prints a Markdown table
//! of medians.
//!
//! Run with `./example-rules/build.sh && cargo bench -p rulehost --bench instance`.
//! `RULEHOST_BENCH_ROUNDS` (default 5) and `RULEHOST_BENCH_BATCH` (default
//! 20 000 instances per subject per round) set the sample count. Under
//! `cargo test` it runs one short round as a smoke check.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use rulehost::RuleSet;
use rulehost::instance::RuleInstance;
use rulehost::records::LoginRecords;
use rulehost::rule_set::LoadedRule;
use rulehost::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker, TypedFunc};

/// The smallest component with what every rule has: one core module with
/// a linear memory (17 pages, as a Rust rule starts with) and an exported
/// function. It takes no arguments, so its call lowers nothing.
const MINIMAL_COMPONENT: &str = r#"
(component
  (core module $rule
    (memory (export "memory") 17)
    (global $answer (mut i32) (i32.const 1))
    (func (export "evaluate") (result i32) global.get $answer))
  (core instance $rule (instantiate $rule))
  (func (export "evaluate") (result u32) (canon lift (core func $rule "evaluate"))))
"#;

/// A deadline in epoch ticks that a benchmark never reaches.
const NO_DEADLINE: u64 = u64::MAX / 2;

/// The median time of each step, over every sample.
#[derive(Default)]
struct Steps {
    instantiate: Vec<Duration>,
    call: Vec<Duration>,
    drop: Vec<Duration>,
    fresh: Vec<Duration>,
    reused_call: Vec<Duration>,
}

impl Steps {
    fn record_fresh(&mut self, started: Instant, instantiated: Instant, called: Instant) {
        let dropped = Instant::now();
        self.instantiate.push(instantiated - started);
        self.call.push(called - instantiated);
        self.drop.push(dropped - called);
        self.fresh.push(dropped - started);
    }

    fn row(self, subject: &str) -> String {
        let instantiate = support::median(self.instantiate);
        let call = support::median(self.call);
        let drop = support::median(self.drop);
        let fresh = support::median(self.fresh);
        let reused = support::median(self.reused_call);
        format!(
            "| {subject} | {} | {} | {} | {} | {} | {} |",
            support::micros(instantiate),
            support::micros(call),
            support::micros(drop),
            support::micros(fresh),
            support::micros(reused),
            support::micros(fresh.saturating_sub(reused)),
        )
    }
}

/// Times `batch` fresh instances of `rule` and `batch` calls on a kept one.
fn sample_rule(
    sandbox: &Sandbox,
    rule: &LoadedRule,
    records: &LoginRecords,
    batch: usize,
    steps: &mut Steps,
) {
    let instance = |sandbox: &Sandbox| {
        support::block_on(RuleInstance::new(sandbox, rule))
            .unwrap_or_else(|failure| panic!("{}", failure.message))
    };
    for _ in 0..batch {
        let started = Instant::now();
        let mut fresh = instance(sandbox);
        let instantiated = Instant::now();
        black_box(support::block_on(fresh.call(rule, records)).expect("the rule decides"));
        let called = Instant::now();
        drop(fresh);
        steps.record_fresh(started, instantiated, called);
    }
    let mut kept = instance(sandbox);
    for _ in 0..batch {
        kept.renew_deadline(rule);
        let started = Instant::now();
        black_box(support::block_on(kept.call(rule, records)).expect("the rule decides"));
        steps.reused_call.push(started.elapsed());
    }
}

/// The minimal component, pre-instantiated on the sandbox's engine.
struct Minimal {
    pre: InstancePre<()>,
}

impl Minimal {
    fn new(sandbox: &Sandbox) -> Self {
        let bytes = wat::parse_str(MINIMAL_COMPONENT).expect("the minimal component parses");
        let component = Component::new(sandbox.engine(), bytes).expect("compiling it");
        let pre = Linker::new(sandbox.engine())
            .instantiate_pre(&component)
            .expect("it needs no imports");
        Self { pre }
    }

    fn instantiate(&self) -> (Store<()>, TypedFunc<(), (u32,)>) {
        let mut store = Store::new(self.pre.engine(), ());
        store.set_epoch_deadline(NO_DEADLINE);
        let instance =
            support::block_on(self.pre.instantiate_async(&mut store)).expect("instantiating");
        let evaluate = instance
            .get_typed_func(&mut store, "evaluate")
            .expect("the export has its type");
        (store, evaluate)
    }

    fn call(store: &mut Store<()>, evaluate: &TypedFunc<(), (u32,)>) {
        black_box(support::block_on(evaluate.call_async(store, ())).expect("calling"));
    }

    fn sample(&self, batch: usize, steps: &mut Steps) {
        for _ in 0..batch {
            let started = Instant::now();
            let (mut store, evaluate) = self.instantiate();
            let instantiated = Instant::now();
            Self::call(&mut store, &evaluate);
            let called = Instant::now();
            drop(store);
            steps.record_fresh(started, instantiated, called);
        }
        let (mut store, evaluate) = self.instantiate();
        for _ in 0..batch {
            let started = Instant::now();
            Self::call(&mut store, &evaluate);
            steps.reused_call.push(started.elapsed());
        }
    }
}

fn main() {
    let measuring = support::measuring();
    let rounds = support::env_count("RULEHOST_BENCH_ROUNDS", if measuring { 5 } else { 1 });
    let batch = support::env_count("RULEHOST_BENCH_BATCH", if measuring { 20_000 } else { 20 });
    let dir = support::rules_dir(support::CHAIN_3, &support::EXAMPLE_MODULES);
    let set = RuleSet::load(dir.path()).expect("loading the benchmark rules");
    let request = support::example_request("modify");
    let records = LoginRecords::from_request(&request).expect("the sample request is valid");
    let minimal = Minimal::new(set.sandbox());
    let mut rule_steps: Vec<Steps> = set.rules().iter().map(|_| Steps::default()).collect();
    let mut minimal_steps = Steps::default();
    for _ in 0..rounds {
        for (rule, steps) in set.rules().iter().zip(&mut rule_steps) {
            sample_rule(set.sandbox(), rule, &records, batch, steps);
        }
        minimal.sample(batch, &mut minimal_steps);
    }
    println!("{rounds} rounds of {batch} instances per subject; medians in µs\n");
    println!(
        "| subject | new store + instantiate | call | drop | fresh, all steps | call on a kept instance | fresh − kept |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (rule, steps) in set.rules().iter().zip(rule_steps) {
        let module = rule
            .module
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        println!("{}", steps.row(&format!("`{}` (`{module}`)", rule.name)));
    }
    println!("{}", minimal_steps.row("minimal component"));
}
