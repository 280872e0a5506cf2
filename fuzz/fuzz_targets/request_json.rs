//! Any bytes through the sidecar's body parser and the JSON-to-contract
//! conversion: errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rulehost::records::LoginRecords;
use rulehost::request_json::{DEFAULT_MAX_DEPTH, parse};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(value) = parse(bytes, DEFAULT_MAX_DEPTH) {
        let _ = LoginRecords::from_request(&value);
    }
});
