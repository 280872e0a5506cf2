// Denies logins that ask for the configured audience, and logins that ask
// for no audience at all, with `end_users_not_allowed`: the JavaScript twin
// of example-rules/deny-audience.
//
// Configuration: `audience`, the API identifier end users may not get a
// token for.

import { get } from "rulehost:rule/config@0.1.0";

const DENIAL = { tag: "deny", val: { code: "access_denied", description: "end_users_not_allowed" } };

// Every non-empty value of `name` in a list of [key, value] request parameters.
function values(params, name) {
  return params.filter(([key, value]) => key === name && value !== "").map(([, value]) => value);
}

// Every audience the login names, from the query and then the body: all are
// checked, so a repeated or second copy cannot slip past the rule.
function requestedAudiences(request) {
  return [...values(request.query, "audience"), ...values(request.body, "audience")];
}

// A thrown string becomes the `err` of the result the host receives.
export function evaluate(_user, context) {
  const forbidden = get("audience");
  if (forbidden === undefined) {
    throw "configuration key `audience` is not set in [rule.config]";
  }
  const audiences = requestedAudiences(context.request);
  if (audiences.length > 0 && !audiences.includes(forbidden)) {
    return { tag: "allow" };
  }
  return DENIAL;
}
