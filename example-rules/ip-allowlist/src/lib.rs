//! Allows logins only from IP addresses inside the configured ranges.
//!
//! Configuration: `cidrs`, CIDR ranges separated by spaces or commas, for
//! example `10.0.0.0/8, 192.168.1.0/24 2001:db8::/32`. A request whose IP is
//! outside every range is denied with `ip_not_allowed`. A malformed range or
//! request IP is an error, so the login fails closed.

use ipnet::IpNet;
use rulehost_guest::{Config, Context, Decision, Rule, RuleError, User, export_rule};

struct IpAllowlist;

/// Parses the configured ranges, naming the one that is malformed.
fn ranges(config: &Config) -> Result<Vec<IpNet>, RuleError> {
    let text = config.require("cidrs")?;
    let ranges = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>().map_err(|error| {
                RuleError::new(format!("cidrs: `{part}` is not a CIDR range: {error}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ranges.is_empty() {
        return Err(RuleError::new("cidrs: no range is configured"));
    }
    Ok(ranges)
}

impl Rule for IpAllowlist {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let ranges = ranges(config)?;
        let ip: std::net::IpAddr = context.request.ip.parse().map_err(|error| {
            RuleError::new(format!(
                "request ip `{}` is not an IP address: {error}",
                context.request.ip
            ))
        })?;
        if ranges.iter().any(|range| range.contains(&ip)) {
            Ok(Decision::Allow)
        } else {
            Ok(Decision::deny_with_code(
                "ip_not_allowed",
                "Access denied from this IP address.",
            ))
        }
    }
}

export_rule!(IpAllowlist);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::testing;

    fn decide(ip: &str, cidrs: &str) -> Result<Decision, RuleError> {
        let mut context = testing::context();
        context.request.ip = ip.into();
        let config = Config::from_pairs([("cidrs", cidrs)]);
        IpAllowlist::evaluate(&testing::user(), &context, &config)
    }

    const RANGES: &str = "10.0.0.0/8, 192.168.1.0/24 2001:db8::/32";

    #[test]
    fn allows_addresses_inside_a_range() {
        assert_eq!(decide("10.20.30.40", RANGES).unwrap(), Decision::Allow);
        assert_eq!(decide("192.168.1.255", RANGES).unwrap(), Decision::Allow);
        assert_eq!(decide("2001:db8::1", RANGES).unwrap(), Decision::Allow);
    }

    #[test]
    fn denies_addresses_outside_every_range() {
        for ip in ["192.168.2.1", "203.0.113.7", "2001:db9::1"] {
            assert!(
                matches!(decide(ip, RANGES).unwrap(), Decision::Deny(d) if d.code == "ip_not_allowed")
            );
        }
    }

    #[test]
    fn a_malformed_range_is_an_error_naming_it() {
        let error = decide("10.0.0.1", "10.0.0.0/8 300.1.2.0/24").unwrap_err();
        assert!(error.to_string().contains("300.1.2.0/24"), "{error}");
    }

    #[test]
    fn an_empty_range_list_is_an_error() {
        assert!(decide("10.0.0.1", " , ").is_err());
    }

    #[test]
    fn a_malformed_request_ip_is_an_error() {
        assert!(decide("not-an-ip", RANGES).is_err());
    }
}
