//! Loading rules: each way a rules directory can be wrong is refused with an
//! error naming the rule, the file and the problem.

use rulehost::RuleSet;

use crate::support::{RulesDir, test_rule};

fn load_error(dir: &RulesDir) -> String {
    match RuleSet::load(dir.path()) {
        Ok(_) => panic!("the rules directory should not load"),
        Err(error) => format!("{error:#}"),
    }
}

fn single_rule(module: &str) -> RulesDir {
    RulesDir::new(&format!(
        "[[rule]]\nname = \"suspect\"\nmodule = \"{module}\"\n"
    ))
}

#[test]
fn a_missing_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let message = match RuleSet::load(dir.path()) {
        Ok(_) => panic!("an empty directory should not load"),
        Err(error) => format!("{error:#}"),
    };
    assert!(message.contains("rules.toml"), "{message}");
}

#[test]
fn a_missing_module_names_the_rule_and_file() {
    let message = load_error(&single_rule("nowhere.wasm"));
    assert!(
        message.contains("\"suspect\"") && message.contains("nowhere.wasm"),
        "{message}"
    );
    assert!(message.contains("reading the module"), "{message}");
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let dir = single_rule("garbage.wasm");
    dir.write("garbage.wasm", b"\x00asm\x0d\x00\x01\x00truncated");
    let message = load_error(&dir);
    assert!(
        message.contains("\"suspect\"") && message.contains("garbage.wasm"),
        "{message}"
    );
    assert!(message.contains("compiling the module"), "{message}");
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let dir = single_rule("core.wasm");
    dir.write(
        "core.wasm",
        wat::parse_str("(module (func (export \"evaluate\")))").unwrap(),
    );
    let message = load_error(&dir);
    assert!(message.contains("compiling the module"), "{message}");
}

#[test]
fn a_component_without_the_export_is_refused() {
    let dir = single_rule("empty.wasm");
    dir.write("empty.wasm", wat::parse_str("(component)").unwrap());
    let message = load_error(&dir);
    assert!(
        message.contains("does not implement the rulehost:rule world"),
        "{message}"
    );
}

#[test]
fn a_component_importing_the_unknown_is_refused_naming_the_import() {
    let dir = single_rule("http.wasm");
    let component = "(component (import \"wasi:http/outgoing-handler@0.2.0\" (instance (export \"handle\" (func)))))";
    dir.write("http.wasm", wat::parse_str(component).unwrap());
    let message = load_error(&dir);
    assert!(
        message.contains("imports something rulehost does not provide"),
        "{message}"
    );
    assert!(message.contains("wasi:http/outgoing-handler"), "{message}");
    assert!(
        message.contains("`wasi:http/outgoing-handler@0.2.0`; rebuild the rule without it"),
        "the import is named in the message itself, with how to do without it: {message}"
    );
    assert!(
        message.contains("disable the http feature") && message.contains("--stub-wasi"),
        "{message}"
    );
}

#[test]
fn a_component_importing_only_what_rulehost_provides_gets_no_hint() {
    let dir = single_rule("clock.wasm");
    let component = "(component (import \"wasi:clocks/monotonic-clock@0.2.0\" (instance (export \"now\" (func)))))";
    dir.write("clock.wasm", wat::parse_str(component).unwrap());
    let message = load_error(&dir);
    assert!(
        message.contains("imports something rulehost does not provide")
            && !message.contains("rebuild"),
        "a provided interface of the wrong shape is left to the linker's own words: {message}"
    );
}

/// A component of `count` core instances, each of a module with a memory
/// of one page, and nothing else.
fn component_with_memories(count: usize) -> Vec<u8> {
    let instances: String = (0..count)
        .map(|index| format!("(core instance $m{index} (instantiate $memory))"))
        .collect();
    wat::parse_str(format!(
        "(component (core module $memory (memory 1)) {instances})"
    ))
    .unwrap()
}

#[test]
fn a_rule_with_more_memories_than_a_rule_may_have_is_refused() {
    // Before, one rule with hundreds of memories loaded, and a few
    // evaluations of it at once took every memory of the shared pool, so
    // that every other rule failed with host_resources.
    let dir = single_rule("many.wasm");
    dir.write("many.wasm", component_with_memories(50));
    let message = load_error(&dir);
    assert!(
        message.contains("\"suspect\"") && message.contains("many.wasm"),
        "{message}"
    );
    assert!(
        message.contains("50 Wasm linear memories") && message.contains("maximum of 2"),
        "{message}"
    );
    assert!(
        !message.contains("is it a WebAssembly component"),
        "a bound on the rule is not a sign of the wrong kind of file: {message}"
    );
}

#[test]
fn a_rule_with_two_memories_is_within_the_bound() {
    let dir = single_rule("two.wasm");
    dir.write("two.wasm", component_with_memories(2));
    let message = load_error(&dir);
    assert!(
        message.contains("does not implement the rulehost:rule world"),
        "two memories pass the pool's bound and fail only the world check: {message}"
    );
}

#[test]
fn a_duplicate_name_is_refused_with_its_line() {
    let manifest = [
        test_rule("twice", "echo", ""),
        test_rule("twice", "echo", ""),
    ]
    .concat();
    let message = load_error(&RulesDir::new(&manifest));
    assert!(
        message.contains("rules.toml:8") && message.contains("\"twice\""),
        "{message}"
    );
}

#[test]
fn a_malformed_manifest_is_refused_with_its_line() {
    let message = load_error(&RulesDir::new("[[rule]]\nname = \"a\"\nmodule = \n"));
    assert!(
        message.contains("rules.toml") && message.contains("line 3"),
        "{message}"
    );
}

#[test]
fn files_that_cannot_be_components_are_refused_before_parsing() {
    let cases: [(&str, &[u8], &str); 3] = [
        ("text.wasm", b"just some text", "not a WebAssembly binary"),
        ("wat.wasm", b"(component)", "not a WebAssembly binary"),
        ("empty.wasm", b"", "the module file is empty"),
    ];
    for (name, contents, expected) in cases {
        let dir = single_rule(name);
        dir.write(name, contents);
        let message = load_error(&dir);
        assert!(
            message.contains(name) && message.contains(expected),
            "{message}"
        );
    }
    let dir = single_rule("folder.wasm");
    std::fs::create_dir(dir.path().join("folder.wasm")).unwrap();
    assert!(load_error(&dir).contains("not a regular file"));
}

#[test]
fn a_manifest_without_an_enabled_rule_is_refused() {
    let message = load_error(&RulesDir::new(""));
    assert!(message.contains("no enabled rule"), "{message}");
    let disabled =
        test_rule("off", "echo", "").replace("[rule.config]", "enabled = false\n[rule.config]");
    assert!(load_error(&RulesDir::new(&disabled)).contains("no enabled rule"));
}
