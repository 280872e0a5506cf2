// Denies logins that ask for the configured audience, and logins that ask
// for no audience at all, with `end_users_not_allowed`: the JavaScript twin
// of example-rules/deny-audience.
//
// Configuration: `audience`, the API identifier end users may not get a
// token for.

import { get } from "rulehost:rule/config@0.1.0";

const DENIAL = { tag: "deny", val: { code: "access_denied", description: "end_users_not_allowed" } };

// The first value of `name` in a list of [key, value] request parameters.
function param(params, name) {
  const found = params.find(([key]) => key === name);
  return found === undefined ? undefined : found[1];
}

// The query wins over the body, even when its value is empty; an empty
// audience counts as none.
function requestedAudience(request) {
  const audience = param(request.query, "audience") ?? param(request.body, "audience");
  return audience === "" ? undefined : audience;
}

// A thrown string becomes the `err` of the result the host receives.
export function evaluate(_user, context) {
  const forbidden = get("audience");
  if (forbidden === undefined) {
    throw "configuration key `audience` is not set in [rule.config]";
  }
  const audience = requestedAudience(context.request);
  if (audience !== undefined && audience !== forbidden) {
    return { tag: "allow" };
  }
  return DENIAL;
}
