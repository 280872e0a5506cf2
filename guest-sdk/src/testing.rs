//! Ready-made records for unit-testing rules on the host target.
//!
//! ```
//! use rulehost_guest::testing;
//! let mut context = testing::context();
//! context.request.query.push(("audience".into(), "http://todoapi2.api".into()));
//! assert_eq!(context.requested_audience(), Some("http://todoapi2.api"));
//! ```

use crate::{AccessToken, Client, Connection, Context, Request, Stats, User};

/// A verified user with empty metadata and no identities.
pub fn user() -> User {
    User {
        user_id: "auth0|test-user".into(),
        email: Some("jane@example.com".into()),
        email_verified: true,
        name: Some("Jane Doe".into()),
        nickname: Some("jane".into()),
        picture: None,
        identities: Vec::new(),
        app_metadata: "{}".into(),
        user_metadata: "{}".into(),
    }
}

/// A login to the application `test-client` over `oidc-basic-profile` from
/// 203.0.113.7, with no request parameters, roles, claims or scopes.
pub fn context() -> Context {
    Context {
        tenant: "test-tenant".into(),
        client: Client {
            client_id: "test-client".into(),
            name: "Test Application".into(),
            metadata: Vec::new(),
        },
        connection: Connection {
            id: None,
            name: "Username-Password-Authentication".into(),
            strategy: "auth0".into(),
        },
        protocol: "oidc-basic-profile".into(),
        request: Request {
            ip: "203.0.113.7".into(),
            hostname: None,
            user_agent: None,
            query: Vec::new(),
            body: Vec::new(),
            geo: None,
        },
        stats: Stats { logins_count: 1 },
        authentication_methods: Vec::new(),
        roles: Vec::new(),
        groups: Vec::new(),
        id_token_claims: Vec::new(),
        access_token: AccessToken {
            claims: Vec::new(),
            scopes: Vec::new(),
        },
        multifactor: None,
    }
}
