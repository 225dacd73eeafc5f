//! Operator accounts: an AccountSid with its AuthToken, an API key and a bearer token, all
//! random from the injected RNG.

use rand_core::CryptoRng;

use smdp_core::orders::new_sid;
use smdp_core::store::OperatorStore;

/// Everything a new account can authenticate with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub account_sid: String,
    pub auth_token: String,
    pub api_key_sid: String,
    pub api_key_secret: String,
    pub bearer_token: String,
    /// KORE-style OAuth2 client credentials (token endpoint `/api-services/v1/auth/token`).
    pub client_id: String,
    pub client_secret: String,
}

fn secret(rng: &mut impl CryptoRng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Creates an account with an API key and a bearer token.
pub fn create(
    store: &dyn OperatorStore,
    friendly_name: &str,
    rng: &mut impl CryptoRng,
    now: i64,
) -> smdp_core::store::Result<Credentials> {
    let c = Credentials {
        account_sid: new_sid("AC", rng),
        auth_token: secret(rng),
        api_key_sid: new_sid("SK", rng),
        api_key_secret: secret(rng),
        bearer_token: format!("{}{}", secret(rng), secret(rng)),
        client_id: secret(rng),
        client_secret: format!("{}{}", secret(rng), secret(rng)),
    };
    store.create_account(&c.account_sid, &c.auth_token, friendly_name, now)?;
    store.add_api_key(&c.api_key_sid, &c.api_key_secret, &c.account_sid)?;
    store.add_bearer_token(&c.bearer_token, &c.account_sid)?;
    store.add_oauth_client(&c.client_id, &c.client_secret, &c.account_sid)?;
    Ok(c)
}
