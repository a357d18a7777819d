//! Tokens for the IM server: the login `im_token` and per-action tokens.
//!
//! Keys: by default one HS256 secret and no `kid`, so the header stays exactly
//! `{"typ":"JWT","alg":"HS256"}`, what the IM server was written against. With a key
//! list the current key signs and names itself in `kid`; the others stay only to verify
//! tokens they signed until those expire, and Ed25519 public keys are published as a JWKS.

mod crypto;

/// Makes the server's HS256/EdDSA implementation jsonwebtoken's process-wide provider
/// (idempotent). A process that verifies tokens without building a `JwtIssuer` first
/// (a test, the example IM server) calls it: jsonwebtoken, built here without a
/// backend, otherwise settles on a provider that panics, for the whole process.
pub use crypto::install as install_crypto;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use md5::{Digest, Md5};
use serde::de::DeserializeOwned;
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

/// Why a configured key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("kid {0:?} must be 1 to 128 printable ASCII characters")]
    BadKid(String),
    #[error("kid {0:?} appears more than once")]
    DuplicateKid(String),
    #[error("no key has kid {0:?}")]
    UnknownCurrentKid(String),
    #[error("kid {0:?}: the HS256 secret is empty")]
    EmptySecret(String),
    #[error("kid {kid:?}: set an unencrypted Ed25519 PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----, e.g. from `openssl genpkey -algorithm ed25519`); {reason}")]
    Ed25519Pem { kid: String, reason: String },
}

/// Why a token did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token's kid {0:?} is not a configured key")]
    UnknownKid(String),
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// One signing key with what verifies its tokens.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The Ed25519 public key, for the JWKS; HS256 secrets are never published.
    ed25519_public: Option<[u8; 32]>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    // It travels in headers and JSON and is compared byte for byte by other parties.
    if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::BadKid(kid.to_owned()));
    }
    Ok(())
}

impl JwtKey {
    /// An HS256 secret shared with the IM server.
    pub fn hs256(kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        if secret.is_empty() {
            return Err(KeyError::EmptySecret(kid.to_owned()));
        }
        Ok(Self::hs256_unchecked(Some(kid.to_owned()), secret))
    }

    fn hs256_unchecked(kid: Option<String>, secret: &[u8]) -> Self {
        JwtKey {
            kid,
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ed25519_public: None,
        }
    }

    /// An Ed25519 private key as unencrypted PKCS#8 PEM (v1 as openssl writes it, or v2
    /// with the public key). The public key is derived from it.
    pub fn ed25519_pem(kid: &str, pem: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let refuse = |reason: String| KeyError::Ed25519Pem {
            kid: kid.to_owned(),
            reason,
        };
        // PEM pasted into TOML is often indented; the PEM parser allows no leading blanks.
        let pem: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .flat_map(|l| [l, "\n"])
            .collect();
        let signing =
            ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| refuse(e.to_string()))?;
        // The crate's signer takes PKCS#8 DER; re-encoding also normalises v1 and v2.
        let der = signing.to_pkcs8_der().map_err(|e| refuse(e.to_string()))?;
        let public = signing.verifying_key().to_bytes();
        Ok(JwtKey {
            kid: Some(kid.to_owned()),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
            ed25519_public: Some(public),
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn jwk(&self) -> Option<Jwk> {
        let public = self.ed25519_public?;
        Some(Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: self.kid.clone(),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(public),
            }),
        })
    }
}

/// Signs (and verifies) the IM tokens.
#[derive(Clone)]
pub struct JwtIssuer {
    keys: Arc<[JwtKey]>,
    current: usize,
    header: Header,
    jwks: Arc<JwkSet>,
    im_ttl: i64,
    action_ttl: i64,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("keys", &self.keys)
            .field("current_kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// The default: one HS256 secret and no `kid`, byte-compatible with the seed.
    pub fn hs256(secret: &[u8], im_ttl_secs: u64, action_ttl_secs: u64) -> Self {
        Self::assemble(
            vec![JwtKey::hs256_unchecked(None, secret)],
            0,
            im_ttl_secs,
            action_ttl_secs,
        )
    }

    /// A key list: `current_kid` signs, every key verifies what it signed.
    pub fn with_keys(
        keys: Vec<JwtKey>,
        current_kid: &str,
        im_ttl_secs: u64,
        action_ttl_secs: u64,
    ) -> Result<Self, KeyError> {
        for (i, k) in keys.iter().enumerate() {
            // Keys built by the constructors always carry a kid; a kid-less one would be
            // unreachable by lookup, so treat it like a malformed kid.
            let kid = k.kid().ok_or_else(|| KeyError::BadKid(String::new()))?;
            if keys[..i].iter().any(|o| o.kid() == Some(kid)) {
                return Err(KeyError::DuplicateKid(kid.to_owned()));
            }
        }
        let current = keys
            .iter()
            .position(|k| k.kid() == Some(current_kid))
            .ok_or_else(|| KeyError::UnknownCurrentKid(current_kid.to_owned()))?;
        Ok(Self::assemble(keys, current, im_ttl_secs, action_ttl_secs))
    }

    fn assemble(keys: Vec<JwtKey>, current: usize, im_ttl: u64, action_ttl: u64) -> Self {
        crypto::install();
        let mut header = Header::new(keys[current].alg);
        header.typ = Some("JWT".into());
        header.kid = keys[current].kid.clone();
        let jwks = JwkSet {
            keys: keys.iter().filter_map(JwtKey::jwk).collect(),
        };
        JwtIssuer {
            keys: keys.into(),
            current,
            header,
            jwks: Arc::new(jwks),
            im_ttl: im_ttl as i64,
            action_ttl: action_ttl as i64,
        }
    }

    /// The algorithm new tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.keys[self.current].alg
    }

    /// The `kid` new tokens carry; None for the single default secret.
    pub fn current_kid(&self) -> Option<&str> {
        self.keys[self.current].kid()
    }

    /// The public keys of every configured Ed25519 key (empty under HS256 only).
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        encode(&self.header, claims, &self.keys[self.current].encoding)
    }

    pub fn im_token(&self, user_id: i64) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = Self::now();
        let claims = ImClaims {
            unique_name: user_id,
            iat,
            exp: iat + self.im_ttl,
            jti: hex::encode(rand::random::<[u8; 8]>()),
        };
        self.sign(&claims)
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
        self.sign(&claims)
    }

    /// Verifies a token signed by any configured key, with that key's own algorithm (the
    /// header's `alg` never picks the key), and checks `exp` with no leeway. `aud` is not
    /// checked: it is a user id the caller compares itself.
    ///
    /// A token with a `kid` needs that key. One without is tried against every key, so
    /// tokens signed before a single secret moved into the key list still verify.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, VerifyError> {
        let header = decode_header(token)?;
        let verify_with = |key: &JwtKey| {
            let mut v = Validation::new(key.alg);
            v.leeway = 0;
            v.validate_aud = false;
            decode::<C>(token, &key.decoding, &v).map(|d| d.claims)
        };
        if let Some(kid) = &header.kid {
            let key = self
                .keys
                .iter()
                .find(|k| k.kid() == Some(kid))
                .ok_or_else(|| VerifyError::UnknownKid(kid.clone()))?;
            return Ok(verify_with(key)?);
        }
        let mut last = None;
        for key in self.keys.iter() {
            match verify_with(key) {
                Ok(claims) => return Ok(claims),
                // Not this key: try the next one.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm
                    ) =>
                {
                    last = Some(e)
                }
                // The signature held but the claims did not (expired, malformed).
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| ErrorKind::InvalidSignature.into())
            .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::{KeypairBytes, PublicKeyBytes};

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

    /// A fresh Ed25519 key as PKCS#8 v2 PEM, as ed25519-dalek writes it.
    fn ed_pem() -> String {
        let sk = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        sk.to_pkcs8_pem(LineEnding::LF)
            .expect("encode pem")
            .to_string()
    }

    fn kid_of(token: &str) -> Option<String> {
        decode_header(token).expect("header").kid
    }

    #[test]
    fn default_header_is_the_seeds_exactly() {
        let j = JwtIssuer::hs256(b"secret", 86400, 300);
        let t = j.im_token(8).unwrap();
        // base64url of {"typ":"JWT","alg":"HS256"}: what an IM server checking the
        // header byte for byte expects.
        assert_eq!(
            t.split('.').next(),
            Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9")
        );
        let a = j.action_token(8, "conv.create", &[]).unwrap();
        assert_eq!(kid_of(&a), None);
        assert_eq!(j.current_kid(), None);
        assert_eq!(j.algorithm(), Algorithm::HS256);
        assert!(j.jwks().keys.is_empty());
        assert_eq!(j.verify::<ImClaims>(&t).unwrap().unique_name, 8);
        assert_eq!(j.verify::<ActionClaims>(&a).unwrap().aud, 8);
        let other = JwtIssuer::hs256(b"other", 86400, 300);
        assert!(other.verify::<ImClaims>(&t).is_err());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_kid() {
        let k1 = || JwtKey::hs256("k1", b"first-secret").unwrap();
        let k2 = || JwtKey::hs256("k2", b"second-secret").unwrap();
        let before = JwtIssuer::with_keys(vec![k1()], "k1", 86400, 300).unwrap();
        let old = before.im_token(5).unwrap();
        assert_eq!(kid_of(&old).as_deref(), Some("k1"));

        let after = JwtIssuer::with_keys(vec![k1(), k2()], "k2", 86400, 300).unwrap();
        let new = after.im_token(6).unwrap();
        let act = after.action_token(6, "conv.create", &["1".into()]).unwrap();
        assert_eq!(kid_of(&new).as_deref(), Some("k2"));
        assert_eq!(kid_of(&act).as_deref(), Some("k2"));
        assert_eq!(after.verify::<ImClaims>(&old).unwrap().unique_name, 5);
        assert_eq!(after.verify::<ImClaims>(&new).unwrap().unique_name, 6);
        assert_eq!(
            after.verify::<ActionClaims>(&act).unwrap().act,
            "conv.create"
        );
        // Signed with the second secret, not the first.
        let hs = Validation::new(Algorithm::HS256);
        assert!(decode::<ImClaims>(&new, &DecodingKey::from_secret(b"second-secret"), &hs).is_ok());
        assert!(decode::<ImClaims>(&new, &DecodingKey::from_secret(b"first-secret"), &hs).is_err());
        // HS256 secrets are never published.
        assert!(after.jwks().keys.is_empty());
    }

    #[test]
    fn a_retired_or_unknown_kid_fails() {
        let old = JwtIssuer::with_keys(
            vec![JwtKey::hs256("k1", b"first-secret").unwrap()],
            "k1",
            86400,
            300,
        )
        .unwrap()
        .im_token(5)
        .unwrap();
        let retired = JwtIssuer::with_keys(
            vec![JwtKey::hs256("k2", b"second-secret").unwrap()],
            "k2",
            86400,
            300,
        )
        .unwrap();
        assert!(matches!(
            retired.verify::<ImClaims>(&old),
            Err(VerifyError::UnknownKid(k)) if k == "k1"
        ));
        // Same kid, other secret: the signature decides.
        let impostor = JwtIssuer::with_keys(
            vec![JwtKey::hs256("k2", b"not-the-secret").unwrap()],
            "k2",
            86400,
            300,
        )
        .unwrap()
        .im_token(5)
        .unwrap();
        let err = retired.verify::<ImClaims>(&impostor).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Jwt(e) if *e.kind() == ErrorKind::InvalidSignature),
            "{err}"
        );
    }

    #[test]
    fn kidless_tokens_verify_once_their_secret_is_in_the_list() {
        let legacy = JwtIssuer::hs256(b"legacy-secret", 86400, 300)
            .im_token(3)
            .unwrap();
        let moved = JwtIssuer::with_keys(
            vec![
                JwtKey::hs256("legacy", b"legacy-secret").unwrap(),
                JwtKey::hs256("new", b"new-secret").unwrap(),
            ],
            "new",
            86400,
            300,
        )
        .unwrap();
        assert_eq!(moved.verify::<ImClaims>(&legacy).unwrap().unique_name, 3);
        let dropped = JwtIssuer::with_keys(
            vec![JwtKey::hs256("new", b"new-secret").unwrap()],
            "new",
            86400,
            300,
        )
        .unwrap();
        assert!(dropped.verify::<ImClaims>(&legacy).is_err());
    }

    #[test]
    fn expired_tokens_fail() {
        let j = JwtIssuer::with_keys(
            vec![JwtKey::ed25519_pem("e1", &ed_pem()).unwrap()],
            "e1",
            60,
            60,
        )
        .unwrap();
        let now = JwtIssuer::now();
        let t = j
            .sign(&ImClaims {
                unique_name: 1,
                iat: now - 120,
                exp: now - 1,
                jti: "x".into(),
            })
            .unwrap();
        let err = j.verify::<ImClaims>(&t).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Jwt(e) if *e.kind() == ErrorKind::ExpiredSignature),
            "{err}"
        );
    }

    #[test]
    fn eddsa_tokens_verify_with_the_jwks_public_key() {
        let j = JwtIssuer::with_keys(
            vec![JwtKey::ed25519_pem("ed-2025", &ed_pem()).unwrap()],
            "ed-2025",
            86400,
            300,
        )
        .unwrap();
        assert_eq!(j.algorithm(), Algorithm::EdDSA);
        let jwks = serde_json::to_value(j.jwks()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let jwk = keys[0].as_object().unwrap();
        let mut fields: Vec<&str> = jwk.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "ed-2025");

        let public = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
        let v = Validation::new(Algorithm::EdDSA);
        let t = j.im_token(42).unwrap();
        let header = decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("ed-2025"));
        assert_eq!(
            decode::<ImClaims>(&t, &public, &v)
                .unwrap()
                .claims
                .unique_name,
            42
        );
        let mut va = v.clone();
        va.validate_aud = false;
        let a = j
            .action_token(42, "conv.create", &["6".into(), "7".into()])
            .unwrap();
        let claims = decode::<ActionClaims>(&a, &public, &va).unwrap().claims;
        assert_eq!(claims.members, "4da3203c3552dab1c183da893a483ede");
        // Another key's public half does not verify it.
        let stranger = JwtIssuer::with_keys(
            vec![JwtKey::ed25519_pem("s", &ed_pem()).unwrap()],
            "s",
            60,
            60,
        )
        .unwrap();
        let sx = serde_json::to_value(stranger.jwks()).unwrap()["keys"][0]["x"].clone();
        let spub = DecodingKey::from_ed_components(sx.as_str().unwrap()).unwrap();
        assert!(decode::<ImClaims>(&t, &spub, &v).is_err());
    }

    #[test]
    fn jwks_lists_every_ed25519_key_and_no_secret() {
        let e1 = ed_pem();
        let first =
            JwtIssuer::with_keys(vec![JwtKey::ed25519_pem("e1", &e1).unwrap()], "e1", 60, 60)
                .unwrap();
        let old = first.im_token(1).unwrap();
        let j = JwtIssuer::with_keys(
            vec![
                JwtKey::hs256("h1", b"hs-secret").unwrap(),
                JwtKey::ed25519_pem("e1", &e1).unwrap(),
                JwtKey::ed25519_pem("e2", &ed_pem()).unwrap(),
            ],
            "e2",
            60,
            60,
        )
        .unwrap();
        let kids: Vec<_> = j
            .jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, ["e1", "e2"]);
        let text = serde_json::to_string(j.jwks()).unwrap();
        assert!(
            !text.contains("hs-secret") && !text.contains(&URL_SAFE_NO_PAD.encode("hs-secret"))
        );
        assert_eq!(j.verify::<ImClaims>(&old).unwrap().unique_name, 1);
        // The old key's published half still verifies its token.
        let e1_jwk = j.jwks().find("e1").unwrap();
        let v = Validation::new(Algorithm::EdDSA);
        assert!(decode::<ImClaims>(&old, &DecodingKey::from_jwk(e1_jwk).unwrap(), &v).is_ok());
    }

    #[test]
    fn the_header_alg_never_picks_the_key() {
        // An attacker signs HS256 with the published Ed25519 public key as the secret.
        let j = JwtIssuer::with_keys(
            vec![JwtKey::ed25519_pem("e1", &ed_pem()).unwrap()],
            "e1",
            60,
            60,
        )
        .unwrap();
        let x = j.jwks().keys[0].clone();
        let AlgorithmParameters::OctetKeyPair(p) = &x.algorithm else {
            panic!("not an OKP key")
        };
        let public = URL_SAFE_NO_PAD.decode(&p.x).unwrap();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("e1".into());
        let now = JwtIssuer::now();
        let forged = encode(
            &h,
            &ImClaims {
                unique_name: 1,
                iat: now,
                exp: now + 60,
                jti: "x".into(),
            },
            &EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert!(j.verify::<ImClaims>(&forged).is_err());
        h.kid = None;
        let forged = encode(
            &h,
            &ImClaims {
                unique_name: 1,
                iat: now,
                exp: now + 60,
                jti: "x".into(),
            },
            &EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert!(j.verify::<ImClaims>(&forged).is_err());
    }

    #[test]
    fn pem_forms_accepted_and_refused() {
        let seed = rand::random::<[u8; 32]>();
        // PKCS#8 v1 (no public key), as `openssl genpkey -algorithm ed25519` writes it.
        let v1 = KeypairBytes {
            secret_key: seed,
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string();
        let k = JwtKey::ed25519_pem("v1", &v1).unwrap();
        let expected = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        assert_eq!(k.ed25519_public, Some(expected));
        // Indented, as pasted into a TOML multi-line string.
        let indented: String = v1.lines().map(|l| format!("    {l}\n")).collect();
        assert!(JwtKey::ed25519_pem("v1", &indented).is_ok());
        assert!(JwtKey::ed25519_pem("v2", &ed_pem()).is_ok());

        for bad in [
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(matches!(
                JwtKey::ed25519_pem("bad", bad),
                Err(KeyError::Ed25519Pem { kid, .. }) if kid == "bad"
            ));
        }
        // v2 whose public key is not the private key's.
        let mismatched = KeypairBytes {
            secret_key: seed,
            public_key: Some(PublicKeyBytes(
                ed25519_dalek::SigningKey::from_bytes(&rand::random())
                    .verifying_key()
                    .to_bytes(),
            )),
        }
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
        assert!(JwtKey::ed25519_pem("mismatch", &mismatched).is_err());
    }

    #[test]
    fn key_lists_are_checked() {
        let k = |kid: &str| JwtKey::hs256(kid, b"s").unwrap();
        assert_eq!(
            JwtIssuer::with_keys(vec![k("a"), k("a")], "a", 1, 1).unwrap_err(),
            KeyError::DuplicateKid("a".into())
        );
        assert_eq!(
            JwtIssuer::with_keys(vec![k("a")], "b", 1, 1).unwrap_err(),
            KeyError::UnknownCurrentKid("b".into())
        );
        assert_eq!(
            JwtIssuer::with_keys(vec![], "", 1, 1).unwrap_err(),
            KeyError::UnknownCurrentKid(String::new())
        );
        assert!(matches!(JwtKey::hs256("", b"s"), Err(KeyError::BadKid(_))));
        assert!(matches!(
            JwtKey::hs256("a b", b"s"),
            Err(KeyError::BadKid(_))
        ));
        assert!(matches!(
            JwtKey::hs256("a", b""),
            Err(KeyError::EmptySecret(_))
        ));
    }
}
