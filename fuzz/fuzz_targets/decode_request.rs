//! Arbitrary bodies through the request decoders, under one of the content types clients
//! send (first byte picks it) and either route's limits (second byte).
#![no_main]

use im_access::http::params::{decode_body, parse_int, ParamsConfig};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[&str] = &[
    "",
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "multipart/form-data; boundary=X",
    "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "text/plain",
];

/// The parameter names the handlers read (`grep -o 'params.str("…"' src/http`).
const NAMES: &[&str] = &[
    "act",
    "avatar",
    "check_code",
    "device",
    "device_id",
    "members",
    "nation_code",
    "nickname",
    "page",
    "phone",
    "phones",
    "size",
    "to_user_id",
    "type",
];

fuzz_target!(|data: &[u8]| {
    let [ct, route, body @ ..] = data else {
        return;
    };
    let ct = CONTENT_TYPES[*ct as usize % CONTENT_TYPES.len()];
    let cfg = if route & 1 == 0 {
        ParamsConfig::default()
    } else {
        ParamsConfig {
            max_body_bytes: 64 * 1024,
            file_fields: &["avatar"],
            max_file_bytes: 5 << 20,
            max_parts: 16,
        }
    };
    if let Ok(params) = decode_body(ct, body, &cfg) {
        // Every accessor on the names handlers read, as they would call them.
        for name in NAMES {
            let _ = params.opt_str(name);
            let _ = params.opt_i64(name);
            let _ = params.opt_list(name);
            let _ = params.file(name);
        }
    }
    if let Ok(s) = std::str::from_utf8(body) {
        let _ = parse_int(s);
    }
});
