// Denies logins from the configured application with `end_users_not_allowed`:
// the C twin of example-rules/deny-client.
//
// Configuration: `client_id`, the client id of the application whose end
// users may not log in.
//
// The bindings in rule.h come from `wit-bindgen c` (see build.sh). They hand
// the rule ownership of `user` and `context`, and free the strings of the
// decision or error after the host has read them, so those must be allocated
// (rule_string_dup), never pointed at constants.

#include <stdbool.h>
#include <string.h>

#include "rule.h"

// Whether two WIT strings (UTF-8, not NUL-terminated) are byte for byte equal.
static bool same_string(const rule_string_t *a, const rule_string_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static void deny(rule_decision_t *decision, const char *description) {
  decision->tag = RULEHOST_RULE_TYPES_DECISION_DENY;
  rule_string_dup(&decision->val.deny.code, "access_denied");
  rule_string_dup(&decision->val.deny.description, description);
}

bool exports_rule_evaluate(rule_user_t *user, rule_context_t *context, rule_decision_t *ret,
                           rule_string_t *err) {
  rule_string_t key;
  rule_string_set(&key, "client_id");
  rule_string_t forbidden;
  bool decided = rulehost_rule_config_get(&key, &forbidden);
  if (!decided) {
    rule_string_dup(err, "configuration key `client_id` is not set in [rule.config]");
  } else {
    if (same_string(&context->client.client_id, &forbidden)) {
      deny(ret, "end_users_not_allowed");
    } else {
      ret->tag = RULEHOST_RULE_TYPES_DECISION_ALLOW;
    }
    rule_string_free(&forbidden);
  }
  rule_user_free(user);
  rule_context_free(context);
  return decided;
}
