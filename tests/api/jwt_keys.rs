//! JWT keys over real HTTP: the default HS256 secret without kid, key lists with
//! rotation, EdDSA tokens verified against `/.well-known/jwks.json`, and the
//! configuration that sets them up. Test keys are generated here, never committed.

use crate::common::SendForEnvelope;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use im_access::config::{JwtAlgorithm, JwtKeySettings, Profile};
use im_access::domain::jwt::{members_hash, VerifyError};
use im_access::Settings;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::common::{self, assert_envelope, spawn_app_with, TestApp};

const SECRET: &str = "test-secret-test-secret-test-secret";
/// base64url of `{"typ":"JWT","alg":"HS256"}`, the seed's header.
const SEED_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

/// A fresh Ed25519 private key as PKCS#8 PEM.
fn ed_pem() -> String {
    ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>())
        .to_pkcs8_pem(LineEnding::LF)
        .expect("pem")
        .to_string()
}

fn pem_key(kid: &str, pem: &str) -> JwtKeySettings {
    JwtKeySettings {
        kid: kid.into(),
        secret: None,
        private_key_pem: Some(pem.to_owned().into()),
        private_key_file: None,
    }
}

fn file_key(kid: &str, path: &std::path::Path) -> JwtKeySettings {
    JwtKeySettings {
        kid: kid.into(),
        secret: None,
        private_key_pem: None,
        private_key_file: Some(path.to_owned()),
    }
}

fn secret_key(kid: &str, secret: &str) -> JwtKeySettings {
    JwtKeySettings {
        kid: kid.into(),
        secret: Some(secret.to_owned().into()),
        private_key_pem: None,
        private_key_file: None,
    }
}

fn eddsa(s: &mut Settings, keys: Vec<JwtKeySettings>, current: &str) {
    s.jwt.algorithm = JwtAlgorithm::EdDsa;
    s.jwt.keys = keys;
    s.jwt.current_kid = current.into();
    s.sms.cooldown_secs = 0;
}

/// The JWKS as served: plain JSON (no envelope), parsed as a JWK set.
async fn fetch_jwks(app: &TestApp) -> (Value, JwkSet) {
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let raw: Value = res.json().await.expect("json");
    assert!(raw.get("code").is_none(), "not the envelope: {raw}");
    let set: JwkSet = serde_json::from_value(raw.clone()).expect("a JWK set");
    (raw, set)
}

/// Verifies an EdDSA token the way an IM server would: the JWK named by its kid, the
/// public key rebuilt from that JWK's `x`.
fn verify_with_jwks(token: &str, jwks: &JwkSet) -> Result<Value, String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or(format!("kid {kid} not published"))?;
    let AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm else {
        return Err("not an OKP key".into());
    };
    let key = DecodingKey::from_ed_components(&okp.x).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.validate_aud = false;
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

fn kid(token: &str) -> Option<String> {
    decode_header(token).expect("header").kid
}

async fn im_token(app: &TestApp, session: &str, form: &[(&str, &str)]) -> String {
    let v = app
        .post_form("/accessuser/getimtoken", form, Some(session))
        .await;
    assert_envelope(&v, 0);
    v["data"].as_str().expect("jwt").to_owned()
}

#[actix_web::test]
async fn default_configuration_signs_hs256_without_kid() {
    let Some(app) = spawn_app_with(|_| {}).await else {
        return;
    };
    assert!(app.settings.jwt.keys.is_empty());
    let user = app.new_user().await;
    let peer = app.new_user().await;
    let signin = user.data["im_token"].as_str().unwrap().to_owned();
    let renewed = im_token(&app, &user.token, &[]).await;
    let members = peer.user_id.to_string();
    let action = im_token(
        &app,
        &user.token,
        &[("act", "conv.create"), ("members", &members)],
    )
    .await;
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    let secret = DecodingKey::from_secret(SECRET.as_bytes());
    for t in [&signin, &renewed, &action] {
        assert_eq!(t.split('.').next(), Some(SEED_HEADER), "{t}");
        assert_eq!(kid(t), None);
        decode::<Value>(t, &secret, &v).expect("verifies with jwt.secret");
    }
    let claims = decode::<Value>(&action, &secret, &v).unwrap().claims;
    assert_eq!(claims["aud"], user.user_id);
    assert_eq!(claims["members"], members_hash(&[members]));

    // HS256 secrets are never published.
    let (raw, _) = fetch_jwks(&app).await;
    assert_eq!(raw, serde_json::json!({"keys": []}));
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    assert!(doc["paths"]["/.well-known/jwks.json"]["get"].is_object());
    app.stop().await;
}

#[actix_web::test]
async fn eddsa_tokens_verify_against_the_jwks_across_a_rotation() {
    let (pem1, pem2) = (ed_pem(), ed_pem());

    // Before: e1 signs.
    let p1 = pem1.clone();
    let Some(before) = spawn_app_with(|s| eddsa(s, vec![pem_key("e1", &p1)], "e1")).await else {
        return;
    };
    let early = before.new_user().await;
    let old_token = early.data["im_token"].as_str().unwrap().to_owned();
    assert_eq!(kid(&old_token).as_deref(), Some("e1"));
    let (_, jwks_before) = fetch_jwks(&before).await;
    assert_eq!(jwks_before.keys.len(), 1);
    verify_with_jwks(&old_token, &jwks_before).expect("e1 token verifies");
    before.stop().await;

    // After: e2 (from a file) signs, e1 stays for verification only.
    let keydir = tempfile::tempdir().unwrap();
    let e2_path = keydir.path().join("e2.pem");
    std::fs::write(&e2_path, &pem2).unwrap();
    let p1 = pem1.clone();
    let Some(after) =
        spawn_app_with(|s| eddsa(s, vec![pem_key("e1", &p1), file_key("e2", &e2_path)], "e2"))
            .await
    else {
        return;
    };
    let (raw, jwks) = fetch_jwks(&after).await;
    let kids: Vec<&str> = raw["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["e1", "e2"]);
    for k in raw["keys"].as_array().unwrap() {
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(|s| s.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"], "{k}");
        assert_eq!(
            (&k["kty"], &k["crv"], &k["alg"], &k["use"]),
            (
                &Value::from("OKP"),
                &Value::from("Ed25519"),
                &Value::from("EdDSA"),
                &Value::from("sig")
            )
        );
    }
    assert!(!raw.to_string().contains("PRIVATE"));
    assert_eq!(
        after
            .client
            .get(after.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .headers()["cache-control"],
        "public, max-age=300"
    );

    // A token from before the rotation still verifies, by its kid.
    let claims = verify_with_jwks(&old_token, &jwks).expect("old token verifies");
    assert_eq!(claims["unique_name"], early.user_id);
    after
        .state
        .jwt
        .verify::<Value>(&old_token)
        .expect("the issuer verifies it too");

    // New tokens: sign-in, renewal and an action token carry e2.
    let user = after.new_user().await;
    let peer = after.new_user().await;
    let signin = user.data["im_token"].as_str().unwrap().to_owned();
    let renewed = im_token(&after, &user.token, &[]).await;
    let members = peer.user_id.to_string();
    let action = im_token(
        &after,
        &user.token,
        &[("act", "conv.create"), ("members", &members)],
    )
    .await;
    for t in [&signin, &renewed] {
        assert_eq!(kid(t).as_deref(), Some("e2"));
        let c = verify_with_jwks(t, &jwks).expect("verifies with the JWKS");
        assert_eq!(c["unique_name"], user.user_id);
    }
    assert_eq!(kid(&action).as_deref(), Some("e2"));
    let c = verify_with_jwks(&action, &jwks).expect("action token verifies");
    assert_eq!(c["aud"], user.user_id);
    assert_eq!(c["act"], "conv.create");
    assert_eq!(c["members"], members_hash(&[members]));
    // e2's token does not verify under e1's published key.
    let mut swapped = jwks.clone();
    swapped
        .keys
        .retain(|k| k.common.key_id.as_deref() == Some("e1"));
    swapped.keys[0].common.key_id = Some("e2".into());
    assert!(verify_with_jwks(&action, &swapped).is_err());
    after.stop().await;

    // Later: e1 retired. Its tokens no longer verify; e2's still do.
    let Some(retired) = spawn_app_with(|s| eddsa(s, vec![file_key("e2", &e2_path)], "e2")).await
    else {
        return;
    };
    let (_, jwks) = fetch_jwks(&retired).await;
    assert_eq!(jwks.keys.len(), 1);
    assert!(verify_with_jwks(&old_token, &jwks).is_err());
    assert!(matches!(
        retired.state.jwt.verify::<Value>(&old_token),
        Err(VerifyError::UnknownKid(k)) if k == "e1"
    ));
    verify_with_jwks(&action, &jwks).expect("e2 tokens outlive e1");
    retired.stop().await;
}

#[actix_web::test]
async fn hs256_key_list_signs_with_the_current_kid_and_publishes_nothing() {
    let Some(app) = spawn_app_with(|s| {
        s.jwt.keys = vec![
            secret_key("old", "old-secret-old-secret-old-secret-old"),
            secret_key("new", "new-secret-new-secret-new-secret-new"),
        ];
        s.jwt.current_kid = "new".into();
    })
    .await
    else {
        return;
    };
    let user = app.new_user().await;
    let t = user.data["im_token"].as_str().unwrap();
    assert_eq!(kid(t).as_deref(), Some("new"));
    let v = Validation::new(Algorithm::HS256);
    decode::<Value>(
        t,
        &DecodingKey::from_secret(b"new-secret-new-secret-new-secret-new"),
        &v,
    )
    .expect("signed with the current secret");
    // jwt.secret no longer signs once a key list is set.
    assert!(decode::<Value>(t, &DecodingKey::from_secret(SECRET.as_bytes()), &v).is_err());
    let (raw, _) = fetch_jwks(&app).await;
    assert_eq!(raw, serde_json::json!({"keys": []}));
    app.stop().await;
}

/// Settings a production deployment would pass with, before the JWT part.
fn production() -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::test_settings(dir.path(), None);
    s.app.profile = Profile::Production;
    s.server.public_base_url = "https://im.example.com".into();
    s.jwt.secret = String::new().into();
    (dir, s)
}

fn refusal(s: &Settings) -> String {
    s.validate().expect_err("refused").to_string()
}

#[test]
fn production_accepts_a_key_list_and_names_what_is_missing() {
    let (_dir, mut s) = production();
    assert!(refusal(&s).contains("jwt.secret"), "{}", refusal(&s));

    eddsa(&mut s, vec![pem_key("e1", &ed_pem())], "e1");
    s.sms.code_key = "code-key-code-key-code-key-code-key".to_owned().into();
    s.validate()
        .expect("an Ed25519 key list stands for the secret");

    // Without jwt.secret, the SMS code key must be set explicitly.
    s.sms.code_key = String::new().into();
    let m = refusal(&s);
    assert!(m.contains("sms.code_key"), "{m}");
    s.sms.code_key = "code-key-code-key-code-key-code-key".to_owned().into();

    // A key that does not parse is refused, naming the key and the setting.
    s.jwt.keys = vec![pem_key(
        "e1",
        "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
    )];
    let m = refusal(&s);
    assert!(m.contains("\"e1\"") && m.contains("private_key_pem"), "{m}");
    let missing = std::path::Path::new("/nonexistent/e1.pem");
    s.jwt.keys = vec![file_key("e1", missing)];
    let m = refusal(&s);
    assert!(m.contains("private_key_file"), "{m}");

    // HS256 secrets in the list must be long enough.
    s.jwt.algorithm = JwtAlgorithm::Hs256;
    s.jwt.keys = vec![secret_key("h1", "short")];
    s.jwt.current_kid = "h1".into();
    let m = refusal(&s);
    assert!(m.contains("\"h1\"") && m.contains("32"), "{m}");
    s.jwt.keys = vec![secret_key("h1", SECRET)];
    s.validate().expect("a long HS256 secret in the list");
}

/// A change to settings, for a table of refusals.
type Change<'a> = Box<dyn Fn(&mut Settings) + 'a>;

#[test]
fn inconsistent_key_settings_are_refused_in_any_profile() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::test_settings(dir.path(), None);
    let pem = ed_pem();
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|s| s.jwt.algorithm = JwtAlgorithm::EdDsa),
            "jwt.keys",
        ),
        (
            Box::new(|s| s.jwt.current_kid = "e1".into()),
            "jwt.current_kid",
        ),
        (
            Box::new(|s| eddsa(s, vec![pem_key("e1", &pem)], "")),
            "jwt.current_kid",
        ),
        (
            Box::new(|s| eddsa(s, vec![pem_key("e1", &pem)], "e9")),
            "\"e9\"",
        ),
        (
            Box::new(|s| eddsa(s, vec![pem_key("e1", &pem), pem_key("e1", &pem)], "e1")),
            "more than once",
        ),
        (
            Box::new(|s| eddsa(s, vec![secret_key("h1", SECRET)], "h1")),
            "jwt.algorithm",
        ),
        (
            Box::new(|s| {
                let mut k = pem_key("e1", &pem);
                k.secret = Some(SECRET.to_owned().into());
                eddsa(s, vec![k], "e1")
            }),
            "exactly one of",
        ),
    ];
    for (change, expect) in cases {
        let mut s = base.clone();
        change(&mut s);
        let m = refusal(&s);
        assert!(m.contains(expect), "expected {expect:?} in: {m}");
    }
}

#[test]
fn keys_load_from_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let (pem1, pem2) = (ed_pem(), ed_pem());
    let e2_path = dir.path().join("e2.pem");
    std::fs::write(&e2_path, &pem2).unwrap();
    let keys_file = dir.path().join("jwt-keys.toml");
    std::fs::write(
        &keys_file,
        format!(
            "[[keys]]\nkid = \"e2\"\nprivate_key_file = {:?}\n",
            e2_path.display().to_string()
        ),
    )
    .unwrap();
    // The documented layout: the list in config/<profile>.toml, plus a keys file.
    let indented: String = pem1.lines().map(|l| format!("  {l}\n")).collect();
    std::fs::write(
        dir.path().join("development.toml"),
        format!(
            "[jwt]\nalgorithm = \"EdDSA\"\ncurrent_kid = \"e2\"\nkeys_file = {:?}\n\n[[jwt.keys]]\nkid = \"e1\"\nprivate_key_pem = \"\"\"\n{indented}\"\"\"\n",
            keys_file.display().to_string()
        ),
    )
    .unwrap();
    let s = Settings::load_from(Some(dir.path()), false).expect("loads");
    assert_eq!(s.jwt.algorithm, JwtAlgorithm::EdDsa);
    let issuer = s.jwt.keyed_issuer().unwrap().expect("a key list");
    assert_eq!(issuer.current_kid(), Some("e2"));
    let kids: Vec<_> = issuer
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect();
    assert_eq!(kids, ["e1", "e2"]);

    // A misspelt field is an error, not a silently ignored key.
    std::fs::write(&keys_file, "[[keys]]\nkid = \"e2\"\nprivate_key = \"x\"\n").unwrap();
    let m = Settings::load_from(Some(dir.path()), false)
        .expect_err("refused")
        .to_string();
    assert!(m.contains("jwt.keys_file"), "{m}");
}
