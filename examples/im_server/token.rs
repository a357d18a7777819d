//! Verifying the tokens a client brings to the IM server (docs/IM-SERVER.md):
//! - the login `im_token`: `{"unique_name": <user id>, "exp", …}`;
//! - an action token: `{"aud": <user id>, "act", "members": md5(JSON array of the
//!   member ids as strings, in the order given), "exp", …}`.
//!
//! Keys: an HS256 secret shared with im-access (a token without `kid` is signed by the
//! default secret; with `jwt.keys`, the `kid` names the secret), or Ed25519 public keys
//! from `GET /.well-known/jwks.json`, chosen by the token's `kid`. On an unknown `kid`
//! fetch the JWKS again (a new key is published a deploy before it signs).

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use md5::{Digest, Md5};
use serde::Deserialize;

#[derive(Default, Clone)]
pub struct Keys {
    /// HS256 secrets by kid; `None` is the secret of tokens without a kid.
    pub secrets: HashMap<Option<String>, Vec<u8>>,
    /// The served JWKS (Ed25519 keys).
    pub jwks: Option<JwkSet>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The kid is not among the keys: refresh the JWKS and try once more.
    UnknownKid(Option<String>),
    Invalid(String),
    /// The action token does not cover this action or these members.
    Mismatch,
}

#[derive(Deserialize)]
struct ImClaims {
    unique_name: i64,
}

#[derive(Deserialize)]
struct ActionClaims {
    aud: i64,
    act: String,
    members: String,
}

impl Keys {
    fn key_for(&self, token: &str) -> Result<(DecodingKey, Algorithm), TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        match header.alg {
            Algorithm::HS256 => self
                .secrets
                .get(&header.kid)
                .map(|s| (DecodingKey::from_secret(s), Algorithm::HS256))
                .ok_or(TokenError::UnknownKid(header.kid)),
            Algorithm::EdDSA => {
                let kid = header.kid.clone();
                let jwk = kid
                    .as_deref()
                    .and_then(|k| self.jwks.as_ref()?.find(k))
                    .ok_or(TokenError::UnknownKid(kid))?;
                let AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm else {
                    return Err(TokenError::Invalid("not an Ed25519 key".into()));
                };
                let key = DecodingKey::from_ed_components(&okp.x)
                    .map_err(|e| TokenError::Invalid(e.to_string()))?;
                Ok((key, Algorithm::EdDSA))
            }
            // Only the two kinds im-access signs with: never take the token's word for
            // another algorithm.
            other => Err(TokenError::Invalid(format!("algorithm {other:?}"))),
        }
    }

    fn claims<C: serde::de::DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        // im-access builds jsonwebtoken without a crypto backend and brings its own
        // HS256/EdDSA; a standalone IM server would enable jsonwebtoken's `rust_crypto`
        // feature instead.
        im_access::domain::jwt::install_crypto();
        let (key, alg) = self.key_for(token)?;
        let mut v = Validation::new(alg);
        // `aud` is a number here, not the string the library checks; it is compared
        // below instead. `exp` is checked.
        v.validate_aud = false;
        decode::<C>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The user an `im_token` signs in.
    pub fn verify_im_token(&self, token: &str) -> Result<i64, TokenError> {
        Ok(self.claims::<ImClaims>(token)?.unique_name)
    }

    /// Checks that an action token lets its holder do `act` with exactly `members` (in
    /// the order the client gave them); returns the holder's user id.
    pub fn verify_action(
        &self,
        token: &str,
        act: &str,
        members: &[i64],
    ) -> Result<i64, TokenError> {
        let c = self.claims::<ActionClaims>(token)?;
        if c.act != act || c.members != members_hash(members) {
            return Err(TokenError::Mismatch);
        }
        Ok(c.aud)
    }
}

/// md5 of the members as a compact JSON array of strings: `[6, 7]` → `md5('["6","7"]')`.
pub fn members_hash(members: &[i64]) -> String {
    let as_strings: Vec<String> = members.iter().map(i64::to_string).collect();
    let json = serde_json::to_string(&as_strings).unwrap_or_default();
    hex::encode(Md5::digest(json.as_bytes()))
}
