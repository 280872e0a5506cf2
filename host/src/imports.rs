//! Explains why a component does not link: which of its imports the sandbox
//! does not provide, and how the usual toolchains build a rule without them.
//!
//! [`rule_set`](crate::rule_set) adds this text as context to the linker's
//! own error when pre-instantiating a rule fails.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The WASI preview 2 packages the sandbox links (see
/// [`sandbox`](crate::sandbox)); all other WASI packages, `wasi:http` among
/// them, are absent.
const PROVIDED_WASI: [&str; 6] = [
    "wasi:cli",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:io",
    "wasi:random",
    "wasi:sockets",
];

/// The message for a component whose imports the linker could not satisfy:
/// the imports outside what rulehost provides, named, followed by how to
/// build a rule without them.
pub(crate) fn link_failure(component: &Component, engine: &Engine) -> String {
    let missing: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !is_provided(name))
        .map(|name| format!("`{name}`"))
        .collect();
    let mut message =
        String::from("linking the module: it imports something rulehost does not provide");
    if !missing.is_empty() {
        message.push_str(&format!(
            ": {}; rebuild the rule without it (JavaScript, componentize-js: disable the http \
             feature and the other WASI features with `--disable stdio random clocks http \
             fetch-event`; Python, componentize-py: `--stub-wasi`; C: no libc I/O, or the \
             WASI preview1 reactor adapter)",
            missing.join(", ")
        ));
    }
    message
}

/// Whether rulehost links the interface `name`, for example
/// `wasi:io/streams@0.2.3` or `rulehost:rule/config@0.1.0`.
fn is_provided(name: &str) -> bool {
    let (package, version) = match name.split_once('/') {
        Some((package, rest)) => (package, rest.split_once('@').map(|(_, version)| version)),
        None => (name, None),
    };
    if package == "rulehost:rule" {
        return true;
    }
    PROVIDED_WASI.contains(&package) && version.is_none_or(|version| version.starts_with("0.2."))
}

#[cfg(test)]
mod tests {
    use super::is_provided;

    #[test]
    fn wasi_preview2_and_config_are_provided() {
        assert!(is_provided("wasi:io/streams@0.2.3"));
        assert!(is_provided("wasi:cli/environment@0.2.0"));
        assert!(is_provided("rulehost:rule/config@0.1.0"));
    }

    #[test]
    fn http_and_other_versions_are_not() {
        assert!(!is_provided("wasi:http/outgoing-handler@0.2.0"));
        assert!(!is_provided("wasi:cli/environment@0.3.0"));
        assert!(!is_provided("my:own/thing"));
    }
}
