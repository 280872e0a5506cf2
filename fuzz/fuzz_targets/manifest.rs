//! Any text through the `rules.toml` parser and validator: errors are fine,
//! panics and hangs are not.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rulehost::manifest::Manifest;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = Manifest::parse(Path::new("/fuzz/rules.toml"), text);
    }
});
