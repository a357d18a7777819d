//! Tokens for the IM server: the login `im_token` and per-action tokens.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Claims of the login token: `unique_name` is the user id as a number.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImClaims {
    pub unique_name: i64,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Claims of an action token (conversation creation and the like).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActionClaims {
    pub aud: i64,
    pub act: String,
    pub members: String,
    pub iat: i64,
    pub exp: i64,
}

/// `md5` of the members as a compact JSON array of strings, in the order given:
/// what the IM server recomputes (PHP `md5(json_encode(["6","7"]))`).
pub fn members_hash(members: &[String]) -> String {
    // serde_json escapes like PHP for the digits-only ids used here, and `/` is never
    // part of an id, so the bytes match json_encode.
    let json = serde_json::to_string(members).unwrap_or_else(|_| "[]".to_owned());
    hex::encode(Md5::digest(json.as_bytes()))
}

/// Whether an `act` is shaped like an IM action: `[a-z][a-z0-9_.]{0,63}`.
pub fn valid_act(act: &str) -> bool {
    let b = act.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'.')
}

#[derive(Clone)]
pub struct JwtIssuer {
    key: EncodingKey,
    header: Header,
    im_ttl: i64,
    action_ttl: i64,
}

impl JwtIssuer {
    pub fn hs256(secret: &[u8], im_ttl_secs: u64, action_ttl_secs: u64) -> Self {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        JwtIssuer {
            key: EncodingKey::from_secret(secret),
            header,
            im_ttl: im_ttl_secs as i64,
            action_ttl: action_ttl_secs as i64,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    pub fn im_token(&self, user_id: i64) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = Self::now();
        let claims = ImClaims {
            unique_name: user_id,
            iat,
            exp: iat + self.im_ttl,
            jti: hex::encode(rand::random::<[u8; 8]>()),
        };
        encode(&self.header, &claims, &self.key)
    }

    pub fn action_token(
        &self,
        user_id: i64,
        act: &str,
        members: &[String],
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = Self::now();
        let claims = ActionClaims {
            aud: user_id,
            act: act.to_owned(),
            members: members_hash(members),
            iat,
            exp: iat + self.action_ttl,
        };
        encode(&self.header, &claims, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    #[test]
    fn members_hash_matches_php() {
        let m = vec!["6".to_owned(), "7".to_owned()];
        assert_eq!(members_hash(&m), "4da3203c3552dab1c183da893a483ede");
        assert_eq!(members_hash(&[]), hex::encode(Md5::digest(b"[]")));
    }

    #[test]
    fn acts() {
        assert!(valid_act("conv.create"));
        assert!(valid_act("a"));
        assert!(!valid_act("Conv"));
        assert!(!valid_act("1conv"));
        assert!(!valid_act(&"a".repeat(65)));
        assert!(!valid_act("conv-create"));
    }

    #[test]
    fn tokens_verify_with_the_shared_secret() {
        let j = JwtIssuer::hs256(b"secret", 86400, 300);
        let t = j.im_token(8).unwrap();
        let d = decode::<ImClaims>(
            &t,
            &DecodingKey::from_secret(b"secret"),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(d.claims.unique_name, 8);
        assert_eq!(d.claims.exp - d.claims.iat, 86400);
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&["8"]);
        v.validate_aud = false;
        let a = j
            .action_token(8, "conv.create", &["6".into(), "7".into()])
            .unwrap();
        let d = decode::<ActionClaims>(&a, &DecodingKey::from_secret(b"secret"), &v).unwrap();
        assert_eq!(d.claims.members, "4da3203c3552dab1c183da893a483ede");
        assert_eq!(d.claims.act, "conv.create");
        assert!(decode::<ImClaims>(
            &t,
            &DecodingKey::from_secret(b"other"),
            &Validation::new(Algorithm::HS256)
        )
        .is_err());
    }
}
