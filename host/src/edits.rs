//! Checks the edits a rule returns, applies them to the login records, and
//! writes the final records back into the request JSON.
//!
//! A decision is checked whole before any of its edits is applied, so a
//! rejected one changes nothing. It is an [`InvalidEdit`] when it has more
//! edits or text than the rule's limits allow, a claim or metadata value that
//! is not valid JSON, metadata that is not an object, a scope with white space
//! in it, or an edit of a claim the identity platform owns (`sub`, the user id;
//! `azp` and `client_id`, the client id; issuer, audience and times).

use serde_json::{Map, Value};

use crate::bindings::{Claim, Edit, Multifactor};
use crate::limits::Limits;
use crate::records::LoginRecords;

/// ID-token claims no rule may set or remove.
const RESERVED_ID_TOKEN_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "acr",
    "amr",
];

/// Access-token claims no rule may set or remove; `scope` changes through
/// replace-scopes only.
const RESERVED_ACCESS_TOKEN_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "client_id",
    "gty",
    "scope",
];

/// An edit a rule returned that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEdit(String);

/// Which parts of the records the edits touched, so that only those are
/// written back and everything else is returned exactly as it was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touched {
    app_metadata: bool,
    user_metadata: bool,
    id_token: bool,
    access_token: bool,
    multifactor: bool,
}

/// Checks a whole list of edits against `limits` and the rules above.
pub fn check(edits: &[Edit], limits: &Limits) -> Result<(), InvalidEdit> {
    if edits.len() > limits.max_edits {
        return Err(InvalidEdit(format!(
            "{} edits is more than the limit of {}",
            edits.len(),
            limits.max_edits
        )));
    }
    let bytes: usize = edits.iter().map(text_bytes).sum();
    if bytes > limits.max_output_bytes {
        return Err(InvalidEdit(format!(
            "the edits carry {bytes} bytes of text, more than the limit of {}",
            limits.max_output_bytes
        )));
    }
    edits.iter().try_for_each(check_one)
}

/// The bytes of text an edit carries.
fn text_bytes(edit: &Edit) -> usize {
    match edit {
        Edit::SetIdTokenClaim(claim) | Edit::SetAccessTokenClaim(claim) => {
            claim.name.len() + claim.value.len()
        }
        Edit::RemoveIdTokenClaim(name) | Edit::RemoveAccessTokenClaim(name) => name.len(),
        Edit::ReplaceScopes(scopes) => scopes.iter().map(String::len).sum(),
        Edit::ReplaceAppMetadata(json) | Edit::ReplaceUserMetadata(json) => json.len(),
        Edit::RequireMultifactor(multifactor) => multifactor.provider.len(),
    }
}

fn check_one(edit: &Edit) -> Result<(), InvalidEdit> {
    match edit {
        Edit::SetIdTokenClaim(claim) => check_claim(claim, "ID", RESERVED_ID_TOKEN_CLAIMS),
        Edit::SetAccessTokenClaim(claim) => {
            check_claim(claim, "access", RESERVED_ACCESS_TOKEN_CLAIMS)
        }
        Edit::RemoveIdTokenClaim(name) => check_claim_name(name, "ID", RESERVED_ID_TOKEN_CLAIMS),
        Edit::RemoveAccessTokenClaim(name) => {
            check_claim_name(name, "access", RESERVED_ACCESS_TOKEN_CLAIMS)
        }
        Edit::ReplaceScopes(scopes) => {
            match scopes
                .iter()
                .find(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                Some(bad) => Err(InvalidEdit(format!(
                    "scope {bad:?} is empty or contains white space"
                ))),
                None => Ok(()),
            }
        }
        Edit::ReplaceAppMetadata(metadata) => check_object(metadata, "app metadata"),
        Edit::ReplaceUserMetadata(metadata) => check_object(metadata, "user metadata"),
        Edit::RequireMultifactor(multifactor) if multifactor.provider.is_empty() => {
            Err(InvalidEdit("the multifactor provider is empty".into()))
        }
        Edit::RequireMultifactor(_) => Ok(()),
    }
}

fn check_claim(claim: &Claim, token: &str, reserved: &[&str]) -> Result<(), InvalidEdit> {
    check_claim_name(&claim.name, token, reserved)?;
    parse_json(
        &claim.value,
        &format!("the value of claim {:?}", claim.name),
    )
    .map(drop)
}

fn check_claim_name(name: &str, token: &str, reserved: &[&str]) -> Result<(), InvalidEdit> {
    if name.is_empty() {
        return Err(InvalidEdit("a claim name is empty".into()));
    }
    if reserved.contains(&name) {
        return Err(InvalidEdit(format!(
            "the {token}-token claim `{name}` belongs to the identity platform; no rule may change it"
        )));
    }
    Ok(())
}

fn parse_json(text: &str, what: &str) -> Result<Value, InvalidEdit> {
    serde_json::from_str(text)
        .map_err(|error| InvalidEdit(format!("{what} is not valid JSON: {error}")))
}

fn check_object(text: &str, what: &str) -> Result<(), InvalidEdit> {
    match parse_json(text, what)? {
        Value::Object(_) => Ok(()),
        _ => Err(InvalidEdit(format!("{what} must be a JSON object"))),
    }
}

/// Applies edits that [`check`] accepted to `records`, noting in `touched`
/// what they changed.
pub fn apply(edits: Vec<Edit>, records: &mut LoginRecords, touched: &mut Touched) {
    let context = &mut records.context;
    for edit in edits {
        match edit {
            Edit::SetIdTokenClaim(claim) => {
                set_claim(&mut context.id_token_claims, claim);
                touched.id_token = true;
            }
            Edit::RemoveIdTokenClaim(name) => {
                context.id_token_claims.retain(|claim| claim.name != name);
                touched.id_token = true;
            }
            Edit::SetAccessTokenClaim(claim) => {
                set_claim(&mut context.access_token.claims, claim);
                touched.access_token = true;
            }
            Edit::RemoveAccessTokenClaim(name) => {
                context
                    .access_token
                    .claims
                    .retain(|claim| claim.name != name);
                touched.access_token = true;
            }
            Edit::ReplaceScopes(scopes) => {
                context.access_token.scopes = scopes;
                touched.access_token = true;
            }
            Edit::ReplaceAppMetadata(metadata) => {
                records.user.app_metadata = metadata;
                touched.app_metadata = true;
            }
            Edit::ReplaceUserMetadata(metadata) => {
                records.user.user_metadata = metadata;
                touched.user_metadata = true;
            }
            Edit::RequireMultifactor(multifactor) => {
                context.multifactor = Some(multifactor);
                touched.multifactor = true;
            }
        }
    }
}

fn set_claim(claims: &mut Vec<Claim>, claim: Claim) {
    match claims
        .iter_mut()
        .find(|existing| existing.name == claim.name)
    {
        Some(existing) => existing.value = claim.value,
        None => claims.push(claim),
    }
}

/// Writes the touched parts of `records` into `request`, which must be the
/// request the records were read from.
pub fn write_back(request: &mut Value, records: &LoginRecords, touched: Touched) {
    let user = &mut request["user"];
    if touched.app_metadata {
        user["app_metadata"] = json_of(&records.user.app_metadata);
    }
    if touched.user_metadata {
        user["user_metadata"] = json_of(&records.user.user_metadata);
    }
    let context = &mut request["context"];
    if touched.id_token {
        context["idToken"] = Value::Object(claims_object(&records.context.id_token_claims));
    }
    if touched.access_token {
        let token = &records.context.access_token;
        let mut object = claims_object(&token.claims);
        let scope = if records.scope_as_string {
            Value::String(token.scopes.join(" "))
        } else {
            Value::from(token.scopes.clone())
        };
        object.insert("scope".into(), scope);
        context["accessToken"] = Value::Object(object);
    }
    if let (
        true,
        Some(Multifactor {
            provider,
            allow_remember_browser,
        }),
    ) = (touched.multifactor, &records.context.multifactor)
    {
        context["multifactor"] = serde_json::json!({
            "provider": provider,
            "allowRememberBrowser": allow_remember_browser,
        });
    }
}

fn claims_object(claims: &[Claim]) -> Map<String, Value> {
    claims
        .iter()
        .map(|claim| (claim.name.clone(), json_of(&claim.value)))
        .collect()
}

/// Parses JSON text that [`apply`] has already checked.
fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({
            "user": {"user_id": "auth0|1", "app_metadata": {"a": 1}, "extra": [1, 2]},
            "context": {
                "clientID": "app", "request": {"ip": "203.0.113.7"},
                "idToken": {"keep": true}, "accessToken": {"scope": "openid read", "x": 1},
                "unmodelled": {"kept": "as sent"}
            }
        })
    }

    fn claim(name: &str, value: &str) -> Claim {
        Claim {
            name: name.into(),
            value: value.into(),
        }
    }

    fn applied(edits: Vec<Edit>) -> Result<Value, InvalidEdit> {
        let mut request = request();
        let mut records = LoginRecords::from_request(&request).unwrap();
        let mut touched = Touched::default();
        check(&edits, &Limits::default())?;
        apply(edits, &mut records, &mut touched);
        write_back(&mut request, &records, touched);
        Ok(request)
    }

    #[test]
    fn no_edit_returns_the_request_unchanged() {
        assert_eq!(applied(vec![]).unwrap(), request());
    }

    #[test]
    fn sets_replaces_and_removes_claims() {
        let result = applied(vec![
            Edit::SetIdTokenClaim(claim("https://x/roles", r#"["admin"]"#)),
            Edit::SetIdTokenClaim(claim("keep", "false")),
            Edit::SetAccessTokenClaim(claim("https://x/plan", r#""gold""#)),
            Edit::RemoveAccessTokenClaim("x".into()),
        ])
        .unwrap();
        assert_eq!(
            result["context"]["idToken"],
            json!({"keep": false, "https://x/roles": ["admin"]})
        );
        assert_eq!(
            result["context"]["accessToken"],
            json!({"https://x/plan": "gold", "scope": "openid read"})
        );
        assert_eq!(result["context"]["unmodelled"], json!({"kept": "as sent"}));
        assert_eq!(result["user"]["extra"], json!([1, 2]));
    }

    #[test]
    fn scopes_keep_the_form_they_were_sent_in() {
        let result = applied(vec![Edit::ReplaceScopes(vec!["read".into()])]).unwrap();
        assert_eq!(result["context"]["accessToken"]["scope"], json!("read"));
    }

    #[test]
    fn replaces_metadata_and_sets_multifactor() {
        let result = applied(vec![
            Edit::ReplaceAppMetadata(r#"{"b":2}"#.into()),
            Edit::RequireMultifactor(Multifactor {
                provider: "any".into(),
                allow_remember_browser: true,
            }),
        ])
        .unwrap();
        assert_eq!(result["user"]["app_metadata"], json!({"b": 2}));
        assert_eq!(
            result["context"]["multifactor"],
            json!({"provider": "any", "allowRememberBrowser": true})
        );
    }

    #[test]
    fn refuses_more_edits_or_text_than_the_limits() {
        let limits = Limits {
            max_edits: 2,
            max_output_bytes: 10,
            ..Limits::default()
        };
        let three = vec![Edit::RemoveIdTokenClaim("a".into()); 3];
        assert!(
            check(&three, &limits)
                .unwrap_err()
                .to_string()
                .contains("3 edits")
        );
        let long = vec![Edit::SetIdTokenClaim(claim("a", r#""0123456789""#))];
        assert!(
            check(&long, &limits)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
    }

    #[test]
    fn a_rejected_decision_changes_nothing() {
        let edits = vec![
            Edit::SetIdTokenClaim(claim("fine", "1")),
            Edit::SetIdTokenClaim(claim("broken", "{")),
        ];
        assert!(check(&edits, &Limits::default()).is_err());
    }

    #[test]
    fn refuses_invalid_edits() {
        let invalid = [
            Edit::SetIdTokenClaim(claim("a", "{not json")),
            Edit::SetIdTokenClaim(claim("", "1")),
            Edit::SetAccessTokenClaim(claim("scope", r#""admin""#)),
            Edit::ReplaceScopes(vec!["read write".into()]),
            Edit::ReplaceAppMetadata("[1]".into()),
            Edit::ReplaceUserMetadata("nope".into()),
            Edit::SetIdTokenClaim(claim("sub", r#""auth0|someone-else""#)),
            Edit::RemoveAccessTokenClaim("client_id".into()),
        ];
        for edit in invalid {
            assert!(
                applied(vec![edit.clone()]).is_err(),
                "{edit:?} was accepted"
            );
        }
    }
}
