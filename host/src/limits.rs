//! What one evaluation of one rule may use: time, memory and the size of its
//! answer. Defaults come from the named constants below, are overridden by
//! `[defaults]` in `rules.toml`, and per rule by `[rule.limits]`.

use std::time::Duration;

use serde::Deserialize;

/// Wall-clock budget of one rule's evaluation, instantiation included: a
/// login waits for every rule, so a runaway rule is stopped long before a
/// client would time out.
pub const DEFAULT_TIMEOUT_MS: u64 = 100;

/// Largest linear memory, summed over a rule's memories. Generous for Rust
/// rules (a few MiB) and room for interpreters embedded in JavaScript or
/// Python rules; bounds what a memory bomb costs the host.
pub const DEFAULT_MEMORY_MIB: u64 = 128;

/// The largest `memory_mib` a rule may be given, in bytes: the whole
/// address space of a 32-bit memory.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;

/// Most edits one decision may carry.
pub const DEFAULT_MAX_EDITS: u64 = 64;

/// Most bytes of text (claim names and values, scopes, metadata, denial
/// text) one decision may carry: bounds the response a rule can inflate.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 * 1024;

/// Largest module file read: rules compiled from JavaScript or Python run to
/// 20 MiB; the bound keeps a wrong path (`/dev/zero`, a disk image) from
/// exhausting memory.
pub const MAX_MODULE_BYTES: usize = 128 * 1024 * 1024;

/// Most bytes of a rule's stdout and of its stderr that reach the log per
/// evaluation; the rest is dropped.
pub const GUEST_OUTPUT_LOG_BYTES: usize = 4 * 1024;

/// The accepted range of each limit, so that a typo cannot switch one off.
const TIMEOUT_MS_RANGE: (u64, u64) = (1, 60_000);
const MEMORY_MIB_RANGE: (u64, u64) = (1, (MAX_MEMORY_BYTES >> 20) as u64);
const MAX_EDITS_RANGE: (u64, u64) = (0, 10_000);
const MAX_OUTPUT_BYTES_RANGE: (u64, u64) = (1, 16 * 1024 * 1024);

/// Limits as written in `[defaults]` or `[rule.limits]`; absent keys fall
/// back to the level above.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsTable {
    /// See [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: Option<u64>,
    /// See [`DEFAULT_MEMORY_MIB`].
    pub memory_mib: Option<u64>,
    /// See [`DEFAULT_MAX_EDITS`].
    pub max_edits: Option<u64>,
    /// See [`DEFAULT_MAX_OUTPUT_BYTES`].
    pub max_output_bytes: Option<u64>,
}

/// The limits one rule runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one evaluation.
    pub timeout: Duration,
    /// Largest total linear memory in bytes.
    pub memory_bytes: usize,
    /// Most edits in one decision.
    pub max_edits: usize,
    /// Most bytes of text in one decision.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            memory_bytes: mib(DEFAULT_MEMORY_MIB),
            max_edits: DEFAULT_MAX_EDITS as usize,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES as usize,
        }
    }
}

impl Limits {
    /// These limits with the keys set in `table` replaced; an error names
    /// the key whose value is out of range.
    pub fn overridden_by(self, table: &LimitsTable) -> Result<Self, String> {
        let mut limits = self;
        if let Some(ms) = table.timeout_ms {
            limits.timeout = Duration::from_millis(in_range("timeout_ms", ms, TIMEOUT_MS_RANGE)?);
        }
        if let Some(size) = table.memory_mib {
            limits.memory_bytes = mib(in_range("memory_mib", size, MEMORY_MIB_RANGE)?);
        }
        if let Some(count) = table.max_edits {
            limits.max_edits = in_range("max_edits", count, MAX_EDITS_RANGE)? as usize;
        }
        if let Some(bytes) = table.max_output_bytes {
            limits.max_output_bytes =
                in_range("max_output_bytes", bytes, MAX_OUTPUT_BYTES_RANGE)? as usize;
        }
        Ok(limits)
    }
}

fn in_range(key: &str, value: u64, (low, high): (u64, u64)) -> Result<u64, String> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{key} = {value} is outside {low}..={high}"))
    }
}

fn mib(size: u64) -> usize {
    (size * 1024 * 1024) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_left_out_keep_the_level_above() {
        let table = LimitsTable {
            timeout_ms: Some(5),
            ..LimitsTable::default()
        };
        let limits = Limits::default().overridden_by(&table).unwrap();
        assert_eq!(limits.timeout, Duration::from_millis(5));
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes);
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let table = LimitsTable {
            memory_mib: Some(0),
            ..LimitsTable::default()
        };
        let error = Limits::default().overridden_by(&table).unwrap_err();
        assert_eq!(error, "memory_mib = 0 is outside 1..=4096");
    }
}
