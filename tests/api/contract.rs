//! The wire contract: the seed's own examples, the envelope, framework rejections,
//! languages, request ids, and clients that send JSON or query parameters.

use crate::common::SendForEnvelope;
use serde_json::{json, Value};

use crate::common::{assert_envelope, new_phone, spawn_app, Multipart, SendMultipart};

#[actix_web::test]
async fn seed_curl_examples_verbatim() {
    let Some(app) = spawn_app().await else { return };
    // curl -X POST -d "nation_code=86&phone=16522222222" "http://127.0.0.1:18306/sms/send"
    let res = app
        .client
        .post(app.url("/sms/send"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nation_code=86&phone=16522222222")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");
    assert_eq!(v["message"], "ok");
    let code = app.codes_sent("16522222222").pop().unwrap();

    // -d "nation_code=86&phone=16522222222&check_code=123456&device=android&device_id=qbfkdvkjdckci"
    let body = format!(
        "nation_code=86&phone=16522222222&check_code={code}&device=android&device_id=qbfkdvkjdckci"
    );
    let res = app
        .client
        .post(app.url("/accessuser/signinbysms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    let d = &v["data"];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar",
            "im_token",
            "is_first_login",
            "last_seen",
            "nickname",
            "role",
            "token",
            "user_id"
        ]
    );
    assert!(d["user_id"].is_i64());
    assert!(d["avatar"].is_null());
    assert_eq!(d["is_first_login"], 1);
    assert_eq!(d["role"], 0);
    assert!(d["last_seen"].is_i64());
    let nick = d["nickname"].as_str().unwrap();
    assert!(
        nick.len() == 6 && nick.bytes().all(|b| b.is_ascii_alphabetic()),
        "{nick}"
    );
    let token = d["token"].as_str().unwrap().to_owned();
    assert!(
        token.len() == 32
            && token
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(d["im_token"].as_str().unwrap().split('.').count(), 3);
    let me = d["user_id"].as_i64().unwrap();

    // A second user to relate to.
    let other = app.new_user().await;

    // -H "token: ..." -d "act=conv.create&members[]=6&members[]=7"
    let body = format!("act=conv.create&members[]={me}&members[]={}", other.user_id);
    let res = app
        .client
        .post(app.url("/accessuser/getimtoken"))
        .header("token", &token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert!(v["data"].is_string());

    // -d "to_user_id=12&type=follow"
    let res = app
        .client
        .post(app.url("/relation/operation"))
        .header("token", &token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("to_user_id={}&type=follow", other.user_id))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");

    // -d "type=follow"
    let res = app
        .client
        .post(app.url("/relation/followlist"))
        .header("token", &token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("type=follow")
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(
        v["data"]["page_info"],
        json!({"page": 1, "size": 20, "totalPage": 1, "totalCount": 1})
    );
    let item = &v["data"]["list"][0];
    assert_eq!(item["user_id"], other.user_id);
    assert!(item["nickname"].is_string());
    assert!(item["avatar"].is_null());

    // -H "token: ..." -F "avatar=@/Users/Desktop/a.jpg;"
    let jpeg = crate::profile::jpeg_with_exif(64, 48);
    let form = Multipart::new().file("avatar", "a.jpg", &jpeg);
    let v: Value = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &token)
        .form_data(form)
        .envelope()
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["user_id"], me.to_string());
    assert!(v["data"]["avatar"].as_str().unwrap().starts_with(&app.base));
}

#[actix_web::test]
async fn json_bodied_client_like_the_android_app() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let v = app
        .post_json(
            "/sms/send",
            json!({"nation_code": "86", "phone": phone}),
            None,
        )
        .await;
    assert_envelope(&v, 0);
    let code: i64 = app.codes_sent(&phone).pop().unwrap().parse().unwrap();
    // check_code as a JSON number.
    let v = app
        .post_json(
            "/accessuser/signinbysms",
            json!({"nation_code": "86", "phone": phone, "check_code": code, "device": "android", "device_id": "abc"}),
            None,
        )
        .await;
    assert_envelope(&v, 0);
    let token = v["data"]["token"].as_str().unwrap().to_owned();
    let other = app.new_user().await;
    // to_user_id as a number, members as a mixed array.
    let v = app
        .post_json(
            "/relation/operation",
            json!({"to_user_id": other.user_id, "type": "follow"}),
            Some(&token),
        )
        .await;
    assert_envelope(&v, 0);
    let v = app
        .post_json(
            "/accessuser/getimtoken",
            json!({"act": "conv.create", "members": [other.user_id.to_string(), other.user_id]}),
            Some(&token),
        )
        .await;
    assert_envelope(&v, 0);
    let v = app
        .post_json(
            "/relation/followlist",
            json!({"type": "follow", "page": "1", "size": 10}),
            Some(&token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["page_info"]["size"], 10);
    assert_eq!(v["data"]["list"][0]["user_id"], other.user_id);

    // PUT updateuserinfo?nickname=… with a multipart body whose only part is an empty `check`.
    let form = Multipart::new().text("check", "");
    let v: Value = app
        .client
        .put(app.url("/accessuser/updateuserinfo?nickname=%E5%B0%8F%E6%98%8E"))
        .header("token", &token)
        .form_data(form)
        .envelope()
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["nickname"], "小明");
    assert!(v["data"]["user_id"].is_string());

    // Authorization: Bearer works like the token header.
    let v: Value = app
        .client
        .post(app.url("/accessuser/getimtoken"))
        .header("authorization", format!("Bearer {token}"))
        .envelope()
        .await;
    assert_envelope(&v, 0);
}

#[actix_web::test]
async fn framework_rejections_keep_their_status_and_carry_the_envelope() {
    let Some(app) = spawn_app().await else { return };
    let res = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 404);

    let res = app.client.get(app.url("/sms/send")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 405);

    let big = "a".repeat(200_000);
    let res = app
        .client
        .post(app.url("/sms/send"))
        .form(&[("nation_code", "86"), ("phone", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 413);

    let res = app
        .client
        .post(app.url("/sms/send"))
        .header("content-type", "text/plain")
        .body("nation_code=86")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 415);

    let res = app
        .client
        .post(app.url("/sms/send"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 1);
}

/// RFC 9110: a 405 names the methods the resource has (Schemathesis's
/// `unsupported_method` check found none).
#[actix_web::test]
async fn method_not_allowed_lists_the_allowed_methods() {
    let Some(app) = spawn_app().await else { return };
    for (method, path, allow) in [
        ("DELETE", "/sms/send", "POST"),
        ("TRACE", "/healthz", "GET"),
        ("PATCH", "/accessuser/updateuserinfo", "POST, PUT"),
        ("PUT", "/accessuser/searchbynickname", "GET, POST"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        let got = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
        let v: Value = res.json().await.unwrap();
        assert_envelope(&v, 405);
    }
}

#[actix_web::test]
async fn messages_are_chinese_by_default_and_english_on_request() {
    let Some(app) = spawn_app().await else { return };
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", "123")],
            None,
        )
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "无效的号码");
    let v: Value = app
        .client
        .post(app.url("/sms/send"))
        .header("accept-language", "en-US,en;q=0.9")
        .form(&[("nation_code", "86"), ("phone", "123")])
        .envelope()
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "invalid phone number");
    let v: Value = app
        .client
        .get(app.url("/nowhere"))
        .header("accept-language", "en")
        .envelope()
        .await;
    assert_eq!(v["message"], "not found");
}

#[actix_web::test]
async fn request_id_is_echoed_and_reused_when_well_formed() {
    let Some(app) = spawn_app().await else { return };
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(v["request-id"], header);

    let mine = "0123456789abcdef0123456789abcdef";
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", mine)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], mine);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["request-id"], mine);

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "not-a-good-id")
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_ne!(v["request-id"], "not-a-good-id");
    assert_envelope(&v, 0);
}

#[actix_web::test]
async fn operations_endpoints() {
    let Some(app) = spawn_app().await else { return };
    let v = app.get("/healthz", None).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");
    let v = app.get("/readyz", None).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["database"], "up");
    assert_eq!(v["data"]["broker"], "disabled");
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("im_http_requests_total"), "{text}");
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[actix_web::test]
async fn cors_allows_only_configured_origins() {
    let Some(app) = crate::common::spawn_app_with(|s| {
        s.server.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await
    else {
        return;
    };
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/relation/followlist"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "token, content-type")
            .send()
    };
    let res = preflight("https://app.example.com").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("token"), "{allowed}");
    let res = preflight("https://evil.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // A simple request from an allowed origin gets the header and the envelope.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("x-request-id"));
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
}

#[actix_web::test]
async fn openapi_lists_every_route_with_its_parameters() {
    let Some(app) = spawn_app().await else { return };
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    let expect: &[(&str, &str, &[&str])] = &[
        ("/sms/send", "post", &["nation_code", "phone"]),
        (
            "/accessuser/signinbysms",
            "post",
            &["nation_code", "phone", "check_code", "device", "device_id"],
        ),
        ("/accessuser/updateuserinfo", "post", &["token", "nickname"]),
        (
            "/accessuser/getimtoken",
            "post",
            &["token", "act", "members"],
        ),
        (
            "/accessuser/searchbyuniquename",
            "get",
            &["token", "unique_names"],
        ),
        (
            "/accessuser/searchbynickname",
            "get",
            &["token", "nickname"],
        ),
        ("/accessuser/logout", "post", &["token"]),
        (
            "/relation/operation",
            "post",
            &["token", "to_user_id", "type"],
        ),
        (
            "/relation/followlist",
            "post",
            &["token", "type", "page", "size"],
        ),
        ("/relation/contactlist", "post", &["token", "phones"]),
        ("/healthz", "get", &[]),
        ("/readyz", "get", &[]),
        ("/metrics", "get", &[]),
        ("/openapi.json", "get", &[]),
    ];
    // A parameter is a query/header parameter, a field of the request body (in every
    // media type the routes accept), or the `token` security requirement.
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
            None => schema.clone(),
        }
    };
    for (path, method, params) in expect {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        let mut names: Vec<String> = op["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(content) = op["requestBody"]["content"].as_object() {
            if ![
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ]
            .iter()
            .all(|m| content.contains_key(*m))
            {
                panic!("{path}: the body in every media type: {content:?}");
            }
            for media in content.values() {
                let schema = resolve(&media["schema"]);
                names.extend(schema["properties"].as_object().unwrap().keys().cloned());
            }
        }
        if op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("token").is_some()))
        {
            names.push("token".into());
        }
        for p in *params {
            assert!(
                names.iter().any(|n| n == p),
                "{path}: parameter {p} missing from {names:?}"
            );
        }
    }
}

/// Links (what Schemathesis's stateful phase follows, and what a client may chain) are
/// spelled as OpenAPI has them, name operations of the document, and pass values as
/// parameters: openapi-generator refuses a link whose requestBody is not a string.
#[actix_web::test]
async fn openapi_links_name_operations_of_the_document() {
    let Some(app) = spawn_app().await else { return };
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    let ops: Vec<(&String, &Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().values().map(move |op| (path, op)))
        .collect();
    let ids: Vec<&str> = ops
        .iter()
        .filter_map(|(_, op)| op["operationId"].as_str())
        .collect();
    let mut links = 0;
    for (path, op) in &ops {
        for response in op["responses"].as_object().unwrap().values() {
            let Some(named) = response["links"].as_object() else {
                continue;
            };
            for (name, link) in named {
                let target = link["operationId"].as_str();
                assert!(
                    target.is_some_and(|t| ids.contains(&t)),
                    "{path}: link {name} names no operation of the document: {link}"
                );
                assert!(
                    link.get("requestBody").is_none_or(Value::is_string),
                    "{path}: link {name} has a requestBody that is not a string: {link}"
                );
                links += 1;
            }
        }
    }
    assert!(links >= 7, "{links} links");
    let from_list = &doc["paths"]["/relation/followlist"]["post"]["responses"]["200"]["links"]
        ["search_by_unique_name"];
    assert_eq!(from_list["operationId"], "search_by_unique_name");
    assert_eq!(
        from_list["parameters"],
        json!({"unique_names": "$response.body#/data/list/0/user_id"})
    );
}

/// Parameters with a fixed set of values list them (a fuzzer or a generated client
/// needs them), and the server takes every value listed.
#[actix_web::test]
async fn openapi_enums_list_values_the_server_takes() {
    let Some(app) = spawn_app().await else { return };
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    let values = |input: &str, field: &str| -> Vec<String> {
        let schemas = &doc["components"]["schemas"];
        let mut schema = &schemas[input]["properties"][field];
        if let Some(r) = schema["$ref"].as_str() {
            schema = &schemas[r.rsplit('/').next().unwrap()];
        }
        let values: Vec<String> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{input}.{field} lists no values: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(!values.is_empty(), "{input}.{field}");
        values
    };
    let me = app.new_user().await;
    let other = app.new_user().await;
    for op in values("OperationInput", "type") {
        assert_envelope(&app.relate(&me, other.user_id, &op).await, 0);
    }
    for kind in values("ListInput", "type") {
        assert_envelope(&app.list(&me, &kind, 1, 20).await, 0);
    }
    for device in values("DeviceInput", "device") {
        // Revoking its own device type ends the caller's session: a user per value.
        let who = app.new_user().await;
        let v = app
            .post_form(
                "/accessuser/revokesession",
                &[("device", device.as_str())],
                Some(&who.token),
            )
            .await;
        assert_envelope(&v, 0);
    }
    assert_eq!(
        values("SignInInput", "device"),
        values("DeviceInput", "device")
    );
}

#[actix_web::test]
async fn metrics_cover_requests_actors_caches_pool_sms_and_outbox() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    app.list(&me, "follow", 1, 20).await;
    let text = app.metrics().await;
    for family in [
        "im_http_requests_total{route=\"/relation/followlist\",code=\"0\"}",
        "im_http_request_duration_seconds_bucket{route=\"/relation/followlist\",code=\"0\",le=",
        "im_actor_mailbox_depth{actor=\"relation\"}",
        "im_actor_mailbox_depth{actor=\"session\"}",
        "im_cache_requests_total{cache=\"sessions\",result=\"hit\"}",
        "im_cache_requests_total{cache=\"profiles\",result=\"miss\"}",
        "im_cache_entries{cache=\"relation_lists\"}",
        "im_db_pool_connections{state=\"open\"}",
        "im_sms_sends_total{provider=\"file\",outcome=\"ok\"}",
        "im_outbox_backlog_events",
        "im_outbox_oldest_age_seconds",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
}

#[actix_web::test]
async fn the_docs_page_lists_every_route_of_the_document_and_loads_nothing_else() {
    let Some(app) = crate::common::spawn_app().await else {
        return;
    };
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    let mut routes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let line = format!("{} {}", method.to_ascii_uppercase(), path);
            assert!(page.contains(&line), "/docs lacks {line}");
            routes += 1;
        }
    }
    assert!(routes >= 20, "{routes} routes");
    for external in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !page.contains(external),
            "/docs loads something: {external}"
        );
    }
}
