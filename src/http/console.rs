//! The operators' console: one static page, its script, its style and its icon,
//! embedded in the binary. The page talks only to `/admin/*` with the operator's key; these three
//! routes themselves need no key (they hold nothing secret).

use actix_web::http::header::{
    CacheControl, CacheDirective, ContentType, CONTENT_SECURITY_POLICY, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use actix_web::{web, HttpResponse};

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
// Declared by the page, so the browser does not ask for /favicon.ico (a 404 there is a
// console error, and CSP rules out a data: icon).
const ICON: &str = include_str!("console/favicon.svg");

/// Registers `GET /admin/`, `/admin/console.js`, `/admin/console.css` and
/// `/admin/favicon.svg`.
/// `img_origin` is where avatars are served from when that is not this server (the
/// storage's public base URL); only its origin goes into the page's CSP.
pub fn routes(cfg: &mut web::ServiceConfig, img_origin: Option<&str>) {
    let csp = policy(img_origin);
    let serve = |body: &'static str, mime: mime::Mime| {
        let csp = csp.clone();
        move || {
            let reply = asset(body, mime.clone(), &csp);
            async move { reply }
        }
    };
    cfg.route("/admin/", web::get().to(serve(PAGE, mime::TEXT_HTML_UTF_8)))
        .route(
            "/admin/console.js",
            web::get().to(serve(SCRIPT, mime::TEXT_JAVASCRIPT)),
        )
        .route(
            "/admin/console.css",
            web::get().to(serve(STYLE, mime::TEXT_CSS_UTF_8)),
        )
        .route(
            "/admin/favicon.svg",
            web::get().to(serve(ICON, mime::IMAGE_SVG)),
        );
}

fn asset(body: &'static str, mime: mime::Mime, csp: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType(mime))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((REFERRER_POLICY, "no-referrer"))
        .insert_header((CONTENT_SECURITY_POLICY, csp.to_owned()))
        .body(body)
}

/// No inline script or style, no frames, no forms posting anywhere: the page only
/// loads its own two files and calls its own origin.
fn policy(img_origin: Option<&str>) -> String {
    let img = match img_origin.and_then(origin_of) {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of an http(s) URL; anything else adds nothing to the policy
/// (a relative base URL is this server, which `'self'` already covers).
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    // Keep a stray `;` or quote in the setting from adding directives to the policy.
    let plain = |c: char| c.is_ascii_alphanumeric() || ".-:/[]".contains(c);
    origin.chars().all(plain).then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_only_the_avatar_origin() {
        assert_eq!(
            policy(Some("https://demo.cdn.net/im-app/resource/")),
            "default-src 'none'; script-src 'self'; style-src 'self'; \
             img-src 'self' https://demo.cdn.net; connect-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        );
        assert_eq!(
            policy(Some("http://127.0.0.1:9000/x")),
            policy(Some("http://127.0.0.1:9000"))
        );
        assert!(
            policy(Some("http://127.0.0.1:9000")).contains("img-src 'self' http://127.0.0.1:9000;")
        );
        for odd in [
            "/resource",
            "javascript:alert(1)",
            "data:x",
            "https://a.b; script-src *",
            "https://a.b;x",
        ] {
            assert!(
                policy(Some(odd)).contains("img-src 'self';"),
                "{odd}: {}",
                policy(Some(odd))
            );
        }
        assert!(policy(None).contains("img-src 'self';"));
    }

    #[actix_web::test]
    async fn serves_the_files_with_their_headers() {
        let app = actix_web::test::init_service(
            actix_web::App::new().configure(|cfg| routes(cfg, Some("https://cdn.example"))),
        )
        .await;
        for (path, ctype, marker) in [
            ("/admin/", "text/html; charset=utf-8", "<!doctype html>"),
            ("/admin/console.js", "text/javascript", "use strict"),
            ("/admin/console.css", "text/css; charset=utf-8", "body"),
            ("/admin/favicon.svg", "image/svg+xml", "<svg"),
        ] {
            let req = actix_web::test::TestRequest::get().uri(path).to_request();
            let res = actix_web::test::call_service(&app, req).await;
            assert_eq!(res.status(), 200, "{path}");
            let h = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(h("content-type"), ctype, "{path}");
            assert_eq!(h("cache-control"), "no-store", "{path}");
            assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
            assert_eq!(
                h("content-security-policy"),
                policy(Some("https://cdn.example"))
            );
            let body = actix_web::test::read_body(res).await;
            assert!(String::from_utf8_lossy(&body).contains(marker), "{path}");
        }
        let req = actix_web::test::TestRequest::post()
            .uri("/admin/")
            .to_request();
        let res = actix_web::test::call_service(&app, req).await;
        assert_ne!(res.status(), 200);
    }

    /// The CSP blocks inline code, so the page must not rely on any: no inline
    /// script or style, no style or event handler attribute, no innerHTML.
    #[test]
    fn page_has_nothing_inline() {
        let lower = PAGE.to_ascii_lowercase();
        for tag in lower.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            for attr in tag.split_whitespace().skip(1) {
                assert!(
                    !attr.starts_with("style=") && !attr.starts_with("on"),
                    "inline code in <{tag}>"
                );
            }
        }
        assert!(!lower.contains("<style"));
        assert_eq!(lower.matches("<script").count(), 1);
        assert!(lower.contains(r#"<script src="console.js" defer></script>"#));
        assert!(!SCRIPT.contains("innerHTML"));
    }
}
