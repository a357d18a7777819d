//! Properties of every request decoder and domain parser: no panic on any input, round
//! trips where an encoding exists, and exactly the documented alphabets accepted.

use std::collections::BTreeMap;

use im_access::domain::check_code::CheckCode;
use im_access::domain::device::{valid_device_id, Device};
use im_access::domain::jwt::{members_hash, valid_act, ImClaims, JwtIssuer};
use im_access::domain::nickname::Nickname;
use im_access::domain::phone::PhoneNumber;
use im_access::domain::relation::{ListKind, RelationOp};
use im_access::domain::token::{SessionToken, TokenHash};
use im_access::error::{ApiError, Invalid, TooLarge, Unsupported};
use im_access::http::params::{
    decode_body, parse_int, parse_json, parse_urlencoded, Params, ParamsConfig, Value,
};
use md5::{Digest, Md5};
use proptest::prelude::*;
use serde_json::json;

fn small() -> ParamsConfig {
    ParamsConfig::default()
}

fn upload() -> ParamsConfig {
    ParamsConfig {
        max_body_bytes: 64 * 1024,
        file_fields: &["avatar"],
        max_file_bytes: 5 << 20,
        max_parts: 16,
    }
}

/// The integer grammar `parse_int` promises, written independently: optional
/// whitespace, an optional sign, ASCII digits, a value in i64 range.
fn reference_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let neg = t.starts_with('-');
    // Leading zeros don't change the value; more than 19 significant digits overflow.
    let sig = digits.trim_start_matches('0');
    if sig.len() > 19 {
        return None;
    }
    let mag: i128 = if sig.is_empty() { 0 } else { sig.parse().ok()? };
    i64::try_from(if neg { -mag } else { mag }).ok()
}

/// Parameter names that are plain (no `[`), as clients use them.
fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,9}"
}

fn names(p: &Params) -> Vec<String> {
    let mut v: Vec<String> = p.names().map(str::to_owned).collect();
    v.sort();
    v
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // ---- parse_int ----

    #[test]
    fn parse_int_matches_the_integer_grammar(s in "\\PC{0,24}") {
        prop_assert_eq!(parse_int(&s), reference_int(&s));
    }

    #[test]
    fn parse_int_on_number_like_text(
        s in "[ \t]{0,2}[+-]{0,2}[0-9]{0,22}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?(0x[0-9a-f]{1,4})?[ \t]{0,2}"
    ) {
        prop_assert_eq!(parse_int(&s), reference_int(&s));
    }

    #[test]
    fn every_i64_round_trips(v in any::<i64>(), pad in "[ \t\n]{0,3}") {
        prop_assert_eq!(parse_int(&v.to_string()), Some(v));
        prop_assert_eq!(parse_int(&format!("{pad}{v}{pad}")), Some(v));
        if v >= 0 {
            prop_assert_eq!(parse_int(&format!("+{v}")), Some(v));
            prop_assert_eq!(parse_int(&format!("000{v}")), Some(v));
        }
        // Float, exponent and hex spellings of the same value are refused.
        prop_assert_eq!(parse_int(&format!("{v}.0")), None);
        prop_assert_eq!(parse_int(&format!("{v}e0")), None);
        prop_assert_eq!(parse_int(&format!("0x{v:x}")), None);
    }

    #[test]
    fn values_just_outside_i64_are_refused(extra in 1i128..1_000_000) {
        prop_assert_eq!(parse_int(&(i64::MAX as i128 + extra).to_string()), None);
        prop_assert_eq!(parse_int(&(i64::MIN as i128 - extra).to_string()), None);
    }

    // ---- form-urlencoded ----

    #[test]
    fn urlencoded_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let p = parse_urlencoded(&raw);
        for n in names(&p) {
            prop_assert!(p.get(&n).is_some());
        }
    }

    #[test]
    fn urlencoded_scalars_round_trip(
        map in proptest::collection::btree_map(name(), any::<String>(), 0..8)
    ) {
        let pairs: Vec<(String, String)> = map.clone().into_iter().collect();
        let p = parse_urlencoded(encode(&pairs).as_bytes());
        prop_assert_eq!(names(&p), map.keys().cloned().collect::<Vec<_>>());
        for (k, v) in &map {
            prop_assert_eq!(p.get(k), Some(&Value::Scalar(v.clone())));
        }
    }

    #[test]
    fn urlencoded_lists_in_every_spelling(
        key in name(),
        items in proptest::collection::vec("[^,]{0,12}", 2..6),
        shuffle in any::<u64>(),
    ) {
        let want = Value::List(items.clone());
        // a[]=x&a[]=y
        let pairs: Vec<_> = items.iter().map(|v| (format!("{key}[]"), v.clone())).collect();
        let p = parse_urlencoded(encode(&pairs).as_bytes());
        prop_assert_eq!(p.get(&key), Some(&want));
        // a=x&a=y
        let pairs: Vec<_> = items.iter().map(|v| (key.clone(), v.clone())).collect();
        let p = parse_urlencoded(encode(&pairs).as_bytes());
        prop_assert_eq!(p.get(&key), Some(&want));
        // a[2]=z&a[0]=x&a[1]=y, in any order
        let mut pairs: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{key}[{i}]"), v.clone()))
            .collect();
        let by = (shuffle % pairs.len() as u64) as usize;
        pairs.rotate_left(by);
        let p = parse_urlencoded(encode(&pairs).as_bytes());
        prop_assert_eq!(p.get(&key), Some(&want));
        // And a list is never taken where one value is expected.
        let pairs: Vec<_> = items.iter().map(|v| ("phone".to_owned(), v.clone())).collect();
        let p = parse_urlencoded(encode(&pairs).as_bytes());
        prop_assert!(matches!(p.opt_str("phone"), Err(ApiError::Invalid(Invalid::Param(_)))));
    }

    #[test]
    fn comma_separated_scalars_are_lists(items in proptest::collection::vec("[a-z0-9]{1,6}", 1..8)) {
        let p = parse_urlencoded(encode(&[("members".into(), items.join(","))]).as_bytes());
        prop_assert_eq!(p.opt_list("members").ok().flatten(), Some(items));
    }

    // ---- JSON ----

    #[test]
    fn json_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_json(&raw);
    }

    #[test]
    fn json_text_never_panics(raw in "\\PC{0,200}") {
        let _ = parse_json(raw.as_bytes());
    }

    #[test]
    fn json_objects_become_the_same_params(
        strings in proptest::collection::btree_map("s_[a-z]{1,6}", any::<String>(), 0..5),
        ints in proptest::collection::btree_map("n_[a-z]{1,6}", any::<i64>(), 0..5),
        lists in proptest::collection::btree_map(
            "l_[a-z]{1,6}",
            proptest::collection::vec(prop_oneof![
                any::<String>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
            ], 0..5),
            0..3,
        ),
    ) {
        let mut obj = serde_json::Map::new();
        for (k, v) in &strings { obj.insert(k.clone(), json!(v)); }
        for (k, v) in &ints { obj.insert(k.clone(), json!(v)); }
        for (k, v) in &lists { obj.insert(k.clone(), json!(v)); }
        let raw = serde_json::to_vec(&obj).unwrap();
        let p = parse_json(&raw).unwrap();
        let mut want: Vec<String> = obj.keys().cloned().collect();
        want.sort();
        prop_assert_eq!(names(&p), want);
        for (k, v) in &strings {
            prop_assert_eq!(p.get(k), Some(&Value::Scalar(v.clone())));
        }
        for (k, v) in &ints {
            prop_assert_eq!(p.get(k), Some(&Value::Scalar(v.to_string())));
            prop_assert_eq!(parse_int(&v.to_string()), Some(*v));
        }
        for (k, items) in &lists {
            let text: Vec<String> = items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            prop_assert_eq!(p.get(k), Some(&Value::List(text)));
        }
    }

    #[test]
    fn json_numbers_in_float_spelling_are_integers(v in -999_999_999_999_999i64..1_000_000_000_000_000) {
        // A client's double field sends 12.0; a JSON 1e3 is the integer 1000.
        let p = parse_json(format!("{{\"a\": {v}.0, \"b\": {v}e0}}").as_bytes()).unwrap();
        prop_assert_eq!(p.opt_i64("a").ok().flatten(), Some(v));
        prop_assert_eq!(p.opt_i64("b").ok().flatten(), Some(v));
        // Fractions are not integers.
        let p = parse_json(format!("{{\"a\": {v}.5}}").as_bytes()).unwrap();
        prop_assert!(p.opt_i64("a").is_err());
    }

    // ---- whole bodies through the request decoder ----

    #[test]
    fn decode_body_never_panics(
        ct in prop_oneof![
            Just(""),
            Just("application/x-www-form-urlencoded"),
            Just("application/json"),
            Just("application/json; charset=utf-8"),
            Just("application/vnd.api+json"),
            Just("multipart/form-data; boundary=XyZ"),
            Just("multipart/form-data"),
            Just("text/plain"),
            Just("\u{7f}garbage"),
        ],
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        up in any::<bool>(),
    ) {
        let cfg = if up { upload() } else { small() };
        let _ = decode_body(ct, &body, &cfg);
    }

    #[test]
    fn json_content_types_all_decode_as_json(
        map in proptest::collection::btree_map(name(), "[a-z0-9]{1,8}", 1..5),
        ct in prop_oneof![
            Just("application/json"),
            Just("application/json; charset=utf-8"),
            Just("Application/JSON;charset=UTF-8"),
            Just("application/vnd.api+json"),
            Just("application/merge-patch+json; charset=utf-8"),
        ],
    ) {
        let raw = serde_json::to_vec(&map).unwrap();
        let p = decode_body(ct, &raw, &small()).unwrap();
        for (k, v) in &map {
            prop_assert_eq!(p.get(k), Some(&Value::Scalar(v.clone())));
        }
    }

    #[test]
    fn multipart_text_fields_round_trip(
        // A value starting with `--` could spell the boundary.
        map in proptest::collection::btree_map(name(), "([^\r\n-][^\r\n]{0,39})?", 0..10)
    ) {
        let mut body = String::new();
        for (k, v) in &map {
            body.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str("--XyZ--\r\n");
        let p = decode_body("multipart/form-data; boundary=XyZ", body.as_bytes(), &small());
        let p = p.unwrap();
        prop_assert_eq!(names(&p), map.keys().cloned().collect::<Vec<_>>());
        for (k, v) in &map {
            prop_assert_eq!(p.get(k), Some(&Value::Scalar(v.clone())));
        }
    }

    /// The whole multipart stream is bounded, not only each part: many parts each under
    /// the text limit, or a long preamble, still get 413.
    #[test]
    fn multipart_streams_are_bounded_as_a_whole(parts in 3usize..10, preamble in any::<bool>()) {
        let cfg = ParamsConfig { max_parts: 64, ..small() };
        let mut body = String::new();
        let part = "x".repeat(cfg.max_body_bytes / 2);
        if preamble {
            body.push_str(&"ignored preamble line\r\n".repeat(cfg.max_body_bytes / 10));
        }
        for i in 0..parts {
            body.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{part}\r\n"
            ));
        }
        body.push_str("--XyZ--\r\n");
        let r = decode_body("multipart/form-data; boundary=XyZ", body.as_bytes(), &cfg);
        prop_assert!(matches!(r, Err(ApiError::PayloadTooLarge(TooLarge::Body))), "{:?}", r.map(|p| names(&p)));
    }

    // ---- domain parsers ----

    #[test]
    fn phone_parsers_never_panic(cc in "\\PC{0,6}", phone in "\\PC{0,24}", entry in "\\PC{0,24}") {
        if let Ok(p) = PhoneNumber::parse(&cc, &phone) {
            // Canonical: digits only, and parsing the canonical form gives it back.
            prop_assert!(p.nation_code().bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(p.national().bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(PhoneNumber::parse(p.nation_code(), p.national()), Ok(p.clone()));
        }
        let _ = PhoneNumber::parse_contact(&entry, &cc);
        let _ = PhoneNumber::unchecked(&cc, &phone);
    }

    #[test]
    fn chinese_mobile_numbers_parse_in_every_spelling(
        rest in "[0-9]{8}",
        prefix in prop_oneof![Just("138"), Just("150"), Just("165"), Just("186")],
        sep in prop_oneof![Just(""), Just(" "), Just("-")],
    ) {
        let national = format!("{prefix}{rest}");
        let p = PhoneNumber::parse("86", &national);
        prop_assert!(p.is_ok(), "{} refused: {:?}", national, p);
        let Ok(p) = p else { unreachable!() };
        prop_assert_eq!(p.national(), national.as_str());
        let spaced = format!("{}{sep}{}{sep}{}", &national[..3], &national[3..7], &national[7..]);
        prop_assert_eq!(PhoneNumber::parse("+86", &spaced), Ok(p.clone()));
        prop_assert_eq!(PhoneNumber::parse_contact(&format!("+86{national}"), "1"), Ok(p.clone()));
        prop_assert_eq!(PhoneNumber::parse_contact(&format!("0086{national}"), "44"), Ok(p.clone()));
        prop_assert_eq!(PhoneNumber::parse_contact(&national, "86"), Ok(p));
    }

    #[test]
    fn masking_hides_at_least_four_digits(cc in "[1-9][0-9]{0,2}", national in "[0-9]{1,20}") {
        let p = PhoneNumber::unchecked(&cc, &national).unwrap();
        let m = p.masked().to_string();
        let prefix = format!("+{cc} ");
        prop_assert!(m.starts_with(&prefix), "{}", m);
        let shown = &m[prefix.len()..];
        let stars = shown.bytes().filter(|&b| b == b'*').count();
        prop_assert_eq!(shown.len(), national.len());
        prop_assert!(stars >= 4.min(national.len()), "{} shows too much of {}", m, national);
        // What is shown is the number's own head and tail, nothing else.
        let head = shown.split('*').next().unwrap_or("");
        let tail = shown.rsplit('*').next().unwrap_or("");
        prop_assert!(head.len() <= 3 && tail.len() <= 4, "{}", m);
        prop_assert!(national.starts_with(head) && national.ends_with(tail));
        prop_assert_eq!(head.len() + stars + tail.len(), national.len());
    }

    #[test]
    fn check_codes_are_one_to_six_digits(s in "\\PC{0,10}") {
        let t = s.trim();
        let want = !t.is_empty() && t.len() <= 6 && t.bytes().all(|b| b.is_ascii_digit());
        match CheckCode::parse(&s) {
            Some(c) => {
                prop_assert!(want, "{:?} accepted", s);
                prop_assert_eq!(c.as_str().len(), 6);
                prop_assert_eq!(c.as_str().trim_start_matches('0'), t.trim_start_matches('0'));
            }
            None => prop_assert!(!want, "{:?} refused", s),
        }
    }

    #[test]
    fn check_codes_round_trip(n in 0u32..1_000_000) {
        let c = CheckCode::parse(&format!("{n:06}")).unwrap();
        prop_assert_eq!(CheckCode::parse(&n.to_string()), Some(c.clone()));
        prop_assert_eq!(c.as_str(), format!("{n:06}"));
    }

    #[test]
    fn session_tokens_are_exactly_32_hex(s in "\\PC{0,40}", hex in "[0-9a-fA-F]{32}") {
        let t = s.trim();
        let want = t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(SessionToken::parse(&s).is_some(), want);
        let tok = SessionToken::parse(&hex).unwrap();
        prop_assert_eq!(tok.as_str(), hex.to_ascii_lowercase());
        prop_assert_eq!(TokenHash::from_hex(&tok.hash().to_hex()), Some(tok.hash()));
        let _ = TokenHash::from_hex(&s);
    }

    #[test]
    fn devices_are_the_four_names(s in "\\PC{0,10}") {
        let want = ["web", "h5", "android", "ios"].contains(&s.trim().to_ascii_lowercase().as_str());
        match Device::parse(&s) {
            Some(d) => {
                prop_assert!(want);
                prop_assert_eq!(Device::parse(d.as_str()), Some(d));
            }
            None => prop_assert!(!want),
        }
    }

    #[test]
    fn device_ids_are_printable_ascii(s in "\\PC{0,140}", ascii in "[ -~]{0,128}") {
        let want = s.len() <= 128 && s.bytes().all(|b| (b' '..=b'~').contains(&b));
        prop_assert_eq!(valid_device_id(&s), want);
        prop_assert!(valid_device_id(&ascii));
    }

    #[test]
    fn nicknames_are_1_to_20_nfc_chars_without_controls_or_format_characters(
        s in "\\PC{0,30}|[\\x00-\\x1f a]{0,5}|[ ae\\x{301}\\x{200b}\\x{200d}\\x{202e}\\x{2028}\\x{3000}\\x{feff}]{0,8}"
    ) {
        use unicode_normalization::UnicodeNormalization;
        use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
        let nfc: String = s.nfc().collect();
        let t = nfc.trim();
        let n = t.chars().count();
        let invisible = |c: char| {
            matches!(c.general_category(), G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator)
        };
        let want = (1..=20).contains(&n) && !t.chars().any(invisible);
        match Nickname::parse(&s) {
            Some(nick) => {
                prop_assert!(want);
                prop_assert_eq!(nick.as_str(), t);
            }
            None => prop_assert!(!want),
        }
    }

    #[test]
    fn relation_words_never_panic(s in "\\PC{0,12}") {
        let op = RelationOp::parse(&s);
        prop_assert_eq!(op.is_some(), ["follow", "unfollow", "block", "unblock"].contains(&s.trim()));
        let kind = ListKind::parse_list_type(&s);
        prop_assert_eq!(kind.is_some(), ["follow", "black", "block", "fans", "friend"].contains(&s.trim()));
    }

    #[test]
    fn acts_match_their_pattern(s in "\\PC{0,70}|[a-z][a-z0-9_.]{0,70}") {
        let b = s.as_bytes();
        let want = (1..=64).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter().all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.'));
        prop_assert_eq!(valid_act(&s), want);
    }

    #[test]
    fn members_hash_is_md5_of_the_json_array(members in proptest::collection::vec("[0-9]{1,12}", 0..6)) {
        let json = format!(
            "[{}]",
            members.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(",")
        );
        prop_assert_eq!(members_hash(&members), hex::encode(Md5::digest(json.as_bytes())));
    }

    #[test]
    fn jwt_verify_never_panics(s in "\\PC{0,200}", parts in proptest::collection::vec("[A-Za-z0-9_-]{0,40}", 3)) {
        let j = JwtIssuer::hs256(b"secret", 60, 60);
        prop_assert!(j.verify::<ImClaims>(&s).is_err());
        prop_assert!(j.verify::<ImClaims>(&parts.join(".")).is_err());
    }
}

#[test]
fn decode_body_answers_each_content_type() {
    let form = decode_body("application/x-www-form-urlencoded", b"a=1", &small()).unwrap();
    assert_eq!(form.get("a"), Some(&Value::Scalar("1".into())));
    let bare = decode_body("", b"a=1", &small()).unwrap();
    assert_eq!(bare.get("a"), Some(&Value::Scalar("1".into())));
    assert!(matches!(
        decode_body("text/plain", b"a=1", &small()),
        Err(ApiError::UnsupportedMediaType(Unsupported::ContentType))
    ));
    assert!(matches!(
        decode_body("application/json", b"[1]", &small()),
        Err(ApiError::Invalid(Invalid::Body))
    ));
    let big = vec![b'a'; 64 * 1024 + 1];
    assert!(matches!(
        decode_body("application/json", &big, &small()),
        Err(ApiError::PayloadTooLarge(TooLarge::Body))
    ));
    let ok: BTreeMap<&str, &str> = [("x", "1")].into();
    let raw = serde_json::to_vec(&ok).unwrap();
    assert!(decode_body("application/problem+json", &raw, &small()).is_ok());
}
