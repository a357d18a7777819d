//! Request parameters from wherever the client put them: the query string, and a body
//! that is form-urlencoded, multipart or JSON (API.md "Transport"). A body value wins
//! over a query value of the same name. PHP-style arrays (`a[]=1`, `a[0]=1`), a repeated
//! key (`a=1&a=2`) and JSON arrays become lists; JSON numbers and strings of digits are
//! the same.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_multipart::Multipart;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, Invalid, TooLarge, Unsupported};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Scalar(String),
    List(Vec<String>),
}

/// An uploaded file part, held in memory (bounded by `ParamsConfig::max_file_bytes`).
#[derive(Clone, Debug)]
pub struct Upload {
    pub bytes: Bytes,
}

#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, Value>,
    files: HashMap<String, Upload>,
}

/// Per-route limits, set as resource `app_data`; routes without it take the defaults.
#[derive(Clone, Debug)]
pub struct ParamsConfig {
    /// Largest form or JSON body, and largest text part of a multipart body.
    pub max_body_bytes: usize,
    /// Multipart parts kept as files; other file parts are read past and ignored.
    pub file_fields: &'static [&'static str],
    pub max_file_bytes: usize,
    pub max_parts: usize,
}

impl Default for ParamsConfig {
    fn default() -> Self {
        ParamsConfig {
            max_body_bytes: 64 * 1024,
            file_fields: &[],
            max_file_bytes: 0,
            max_parts: 32,
        }
    }
}

impl ParamsConfig {
    fn max_multipart_bytes(&self) -> usize {
        self.max_file_bytes.saturating_add(self.max_body_bytes)
    }
}

impl Params {
    /// Adds `key=value` pairs. A plain key given more than once (`a=1&a=2`) is a list,
    /// like `a[]=1&a[]=2`: silently keeping one value would drop list items, and a scalar
    /// parameter sent twice is ambiguous, so scalar accessors refuse it.
    fn merge_pairs(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        let mut indexed: HashMap<String, Vec<(u64, String)>> = HashMap::new();
        let mut appended: HashMap<String, Vec<String>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut scalars: Vec<(String, Vec<String>)> = Vec::new();
        let mut scalar_at: HashMap<String, usize> = HashMap::new();
        for (key, value) in pairs {
            match split_array_key(&key) {
                Some((name, None)) => {
                    if !appended.contains_key(name) && !indexed.contains_key(name) {
                        order.push(name.to_owned());
                    }
                    appended.entry(name.to_owned()).or_default().push(value);
                }
                Some((name, Some(i))) => {
                    if !appended.contains_key(name) && !indexed.contains_key(name) {
                        order.push(name.to_owned());
                    }
                    indexed.entry(name.to_owned()).or_default().push((i, value));
                }
                None => match scalar_at.get(&key) {
                    Some(&i) => scalars[i].1.push(value),
                    None => {
                        scalar_at.insert(key.clone(), scalars.len());
                        scalars.push((key, vec![value]));
                    }
                },
            }
        }
        let mut lists: HashMap<String, Vec<String>> = HashMap::new();
        for name in order {
            let mut list = Vec::new();
            if let Some(mut idx) = indexed.remove(&name) {
                idx.sort_by_key(|(i, _)| *i);
                list.extend(idx.into_iter().map(|(_, v)| v));
            }
            if let Some(app) = appended.remove(&name) {
                list.extend(app);
            }
            lists.insert(name, list);
        }
        // Within one source a list beats a scalar of the same name.
        for (k, mut v) in scalars {
            if lists.contains_key(&k) {
                continue;
            }
            let value = match v.len() {
                1 => Value::Scalar(v.remove(0)),
                _ => Value::List(v),
            };
            self.values.insert(k, value);
        }
        for (k, v) in lists {
            self.values.insert(k, Value::List(v));
        }
    }

    /// Body values replace query values of the same name.
    fn overlay(&mut self, body: Params) {
        self.values.extend(body.values);
        self.files.extend(body.files);
    }

    /// The names of all values (not files), in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// A single value; a list is refused. Empty strings count as absent.
    pub fn opt_str(&self, name: &'static str) -> Result<Option<&str>, ApiError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Scalar(s)) if s.is_empty() => Ok(None),
            Some(Value::Scalar(s)) => Ok(Some(s.as_str())),
            Some(Value::List(_)) => Err(ApiError::param(name)),
        }
    }

    pub fn str(&self, name: &'static str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or(ApiError::missing(name))
    }

    /// An integer given as a JSON number or a string of digits.
    pub fn opt_i64(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => parse_int(s).map(Some).ok_or(ApiError::param(name)),
        }
    }

    pub fn i64(&self, name: &'static str) -> Result<i64, ApiError> {
        self.opt_i64(name)?.ok_or(ApiError::missing(name))
    }

    /// A list: an array in any of its spellings, or a comma-separated string.
    pub fn opt_list(&self, name: &'static str) -> Result<Option<Vec<String>>, ApiError> {
        Ok(match self.values.get(name) {
            None => None,
            Some(Value::List(v)) => Some(v.iter().map(|s| s.trim().to_owned()).collect()),
            Some(Value::Scalar(s)) => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        })
    }

    pub fn file(&self, name: &str) -> Option<&Upload> {
        self.files.get(name).filter(|f| !f.bytes.is_empty())
    }
}

/// `12`, ` 12 `, `+12`, `-12` and `"12"` are 12: an optional sign and decimal digits in
/// i64 range, surrounding whitespace ignored. Floats, exponents and hex are refused, so
/// `1e3` can't pass for a user id; JSON numbers like `12.0` are made integral in
/// `parse_json`, where the client could not choose the spelling.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i64>().ok()
}

/// `a[]` → `("a", None)`, `a[3]` → `("a", Some(3))`, anything else → None.
fn split_array_key(key: &str) -> Option<(&str, Option<u64>)> {
    let open = key.find('[')?;
    if !key.ends_with(']') || open == 0 {
        return None;
    }
    let name = &key[..open];
    let inner = &key[open + 1..key.len() - 1];
    if inner.is_empty() {
        Some((name, None))
    } else {
        inner.parse::<u64>().ok().map(|i| (name, Some(i)))
    }
}

pub fn parse_urlencoded(raw: &[u8]) -> Params {
    let mut p = Params::default();
    p.merge_pairs(url::form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())));
    p
}

pub fn parse_json(raw: &[u8]) -> Result<Params, ApiError> {
    use serde_json::Value as J;
    let bad = || ApiError::Invalid(Invalid::Body);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::default());
    }
    let root: J = serde_json::from_slice(raw).map_err(|_| bad())?;
    let J::Object(map) = root else {
        return Err(bad());
    };
    fn scalar(v: &J) -> Option<String> {
        match v {
            J::String(s) => Some(s.clone()),
            J::Number(n) => Some(json_number(n)),
            J::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
            _ => None,
        }
    }
    let mut p = Params::default();
    for (k, v) in map {
        match &v {
            J::Null => {}
            J::Array(items) => {
                let list = items
                    .iter()
                    .map(scalar)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?;
                p.values.insert(k, Value::List(list));
            }
            J::Object(_) => return Err(bad()),
            other => {
                if let Some(s) = scalar(other) {
                    p.values.insert(k, Value::Scalar(s));
                }
            }
        }
    }
    Ok(p)
}

/// A JSON number as text: integral floats (`20.0`, `1e3`, what a client's double field
/// sends) as plain integers, so `parse_int` need not accept float spellings.
fn json_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        // serde_json's float parsing may be an ulp off; below 10^15 an ulp is under 1/8,
        // so an error can only make a value non-integral (refused), never another integer.
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1.0e15 => {
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(TooLarge::Body)
}

async fn read_body(payload: &mut Payload, limit: usize) -> Result<BytesMut, ApiError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::Invalid(Invalid::Body))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Counts every byte of a multipart stream (preamble, part headers and boundaries too)
/// and ends it with an overflow past `limit`: the per-part limits alone would let a
/// client stream an endless preamble or many parts' worth of headers.
struct Bounded<S> {
    inner: S,
    seen: usize,
    limit: usize,
    exceeded: Rc<Cell<bool>>,
}

impl<S> Stream for Bounded<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.exceeded.get() {
            return Poll::Ready(Some(Err(PayloadError::Overflow)));
        }
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &item {
            self.seen = self.seen.saturating_add(chunk.len());
            if self.seen > self.limit {
                self.exceeded.set(true);
                return Poll::Ready(Some(Err(PayloadError::Overflow)));
            }
        }
        item
    }
}

fn multipart_too_large(cfg: &ParamsConfig) -> ApiError {
    if cfg.file_fields.is_empty() {
        too_large()
    } else {
        ApiError::PayloadTooLarge(TooLarge::File)
    }
}

async fn read_multipart(
    headers: &HeaderMap,
    payload: Payload,
    cfg: &ParamsConfig,
) -> Result<Params, ApiError> {
    let exceeded = Rc::new(Cell::new(false));
    let stream = Bounded {
        inner: payload,
        seen: 0,
        limit: cfg.max_multipart_bytes(),
        exceeded: exceeded.clone(),
    };
    let mut multipart = Multipart::new(headers, stream);
    // A stream cut off at the limit is 413, whatever error the parser makes of it.
    let broken = |exceeded: &Rc<Cell<bool>>| {
        if exceeded.get() {
            multipart_too_large(cfg)
        } else {
            ApiError::Invalid(Invalid::Body)
        }
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut files = HashMap::new();
    let mut parts = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|_| broken(&exceeded))?;
        parts += 1;
        if parts > cfg.max_parts {
            return Err(ApiError::Invalid(Invalid::Body));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let has_filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .is_some();
        let is_file = cfg.file_fields.contains(&name.as_str());
        // A file part nobody asked for is read past (the Android client sends `check`).
        let keep = is_file || !has_filename;
        let limit = if is_file {
            cfg.max_file_bytes
        } else {
            cfg.max_body_bytes
        };
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| broken(&exceeded))?;
            if keep {
                if buf.len() + chunk.len() > limit {
                    return Err(if is_file {
                        ApiError::PayloadTooLarge(TooLarge::File)
                    } else {
                        too_large()
                    });
                }
                buf.extend_from_slice(&chunk);
            }
        }
        if !keep || name.is_empty() {
            continue;
        }
        if is_file {
            files.insert(
                name,
                Upload {
                    bytes: buf.freeze(),
                },
            );
        } else {
            let text =
                String::from_utf8(buf.to_vec()).map_err(|_| ApiError::Invalid(Invalid::Body))?;
            pairs.push((name, text));
        }
    }
    let mut p = Params::default();
    p.merge_pairs(pairs);
    p.files = files;
    Ok(p)
}

/// The body's parameters by its declared type; `headers` must carry the content type
/// (multipart reads its boundary there).
async fn read_body_params(
    headers: &HeaderMap,
    declared_len: Option<usize>,
    mut payload: Payload,
    cfg: &ParamsConfig,
) -> Result<Params, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime: Option<mime::Mime> = content_type.parse().ok();
    let is_json = mime.as_ref().is_some_and(|m| {
        (m.type_() == mime::APPLICATION && m.subtype() == mime::JSON)
            || m.suffix() == Some(mime::JSON)
    });
    let is = |t: mime::Name<'_>, sub: mime::Name<'_>| {
        mime.as_ref()
            .is_some_and(|m| m.type_() == t && m.subtype() == sub)
    };
    if is(mime::MULTIPART, mime::FORM_DATA) {
        if declared_len.is_some_and(|n| n > cfg.max_multipart_bytes()) {
            return Err(multipart_too_large(cfg));
        }
        return read_multipart(headers, payload, cfg).await;
    }
    check_declared(declared_len, cfg.max_body_bytes)?;
    let raw = read_body(&mut payload, cfg.max_body_bytes).await?;
    if is(mime::APPLICATION, mime::WWW_FORM_URLENCODED) {
        Ok(parse_urlencoded(&raw))
    } else if is_json {
        // `application/json; charset=utf-8` and `application/<x>+json` alike.
        parse_json(&raw)
    } else if raw.is_empty() {
        // No or unknown content type: fine when there is no body (GET, or a POST
        // carrying everything in the query); otherwise the body is unreadable.
        Ok(Params::default())
    } else if content_type.is_empty() {
        // curl -d without -H sends form-urlencoded; some clients omit the header.
        Ok(parse_urlencoded(&raw))
    } else {
        Err(ApiError::UnsupportedMediaType(Unsupported::ContentType))
    }
}

impl Params {
    pub async fn extract(req: &HttpRequest, payload: Payload) -> Result<Params, ApiError> {
        let cfg = req.app_data::<ParamsConfig>().cloned().unwrap_or_default();
        let mut params = parse_urlencoded(req.query_string().as_bytes());
        let declared_len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // The codec bounds only the head's time: a body trickled a byte at a time would
        // hold the connection and this request for as long as the client likes.
        let body_timeout = req
            .app_data::<actix_web::web::Data<super::AppState>>()
            .map_or(10_000, |s| s.settings.server.body_timeout_ms);
        let body = read_body_params(req.headers(), declared_len, payload, &cfg);
        let body = tokio::time::timeout(std::time::Duration::from_millis(body_timeout), body)
            .await
            .map_err(|_| ApiError::RequestTimeout)??;
        params.overlay(body);
        Ok(params)
    }
}

/// Decodes a complete body as a route with `cfg` would, synchronously: the code path of
/// `Params::extract` without a request, for the fuzzer and property tests.
pub fn decode_body(
    content_type: &str,
    body: &[u8],
    cfg: &ParamsConfig,
) -> Result<Params, ApiError> {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    let payload = Payload::from(Bytes::copy_from_slice(body));
    // No declared length, as with a chunked request: the streaming limits decide.
    let fut = read_body_params(&headers, None, payload, cfg);
    let mut fut = std::pin::pin!(fut);
    // The whole body is already in memory, so the future never waits.
    match fut
        .as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(r) => r,
        Poll::Pending => Err(ApiError::Invalid(Invalid::Body)),
    }
}

fn check_declared(declared: Option<usize>, limit: usize) -> Result<(), ApiError> {
    if declared.is_some_and(|n| n > limit) {
        Err(too_large())
    } else {
        Ok(())
    }
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Params, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move { Params::extract(&req, payload).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &Params, k: &'static str) -> Vec<String> {
        p.opt_list(k).unwrap().unwrap()
    }

    #[test]
    fn php_arrays_in_every_spelling() {
        let p = parse_urlencoded(b"members[]=6&members[]=7");
        assert_eq!(list(&p, "members"), ["6", "7"]);
        let p = parse_urlencoded(b"members[1]=7&members[0]=6");
        assert_eq!(list(&p, "members"), ["6", "7"]);
        let p = parse_urlencoded(b"members%5B%5D=6&members%5B%5D=7");
        assert_eq!(list(&p, "members"), ["6", "7"]);
        let p = parse_urlencoded(b"members=6,7");
        assert_eq!(list(&p, "members"), ["6", "7"]);
        let p = parse_json(br#"{"members": ["6", 7]}"#).unwrap();
        assert_eq!(list(&p, "members"), ["6", "7"]);
    }

    #[test]
    fn numbers_as_json_numbers_or_digit_strings() {
        let p = parse_json(br#"{"to_user_id": 12, "page": "3", "size": 20.0}"#).unwrap();
        assert_eq!(p.i64("to_user_id").unwrap(), 12);
        assert_eq!(p.i64("page").unwrap(), 3);
        assert_eq!(p.i64("size").unwrap(), 20);
        let p = parse_urlencoded(b"to_user_id=12&bad=1x");
        assert_eq!(p.i64("to_user_id").unwrap(), 12);
        assert!(p.i64("bad").is_err());
        assert!(matches!(
            p.i64("missing"),
            Err(ApiError::Invalid(Invalid::Missing(m))) if m == "missing"
        ));
    }

    #[test]
    fn body_wins_over_query() {
        let mut q = parse_urlencoded(b"nickname=query&page=2");
        q.overlay(parse_urlencoded(b"nickname=body"));
        assert_eq!(q.str("nickname").unwrap(), "body");
        assert_eq!(q.i64("page").unwrap(), 2);
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        for raw in [
            &b"{"[..],
            b"[1,2]",
            b"\"x\"",
            br#"{"a": {"b": 1}}"#,
            br#"{"a": [[1]]}"#,
        ] {
            assert!(matches!(
                parse_json(raw),
                Err(ApiError::Invalid(Invalid::Body))
            ));
        }
        assert!(parse_json(b"  ").unwrap().values.is_empty());
        assert!(parse_json(br#"{"a": null}"#).unwrap().get("a").is_none());
    }

    #[test]
    fn a_list_where_a_scalar_is_expected_is_refused() {
        let p = parse_urlencoded(b"phone[]=1&phone[]=2");
        assert!(
            matches!(p.str("phone"), Err(ApiError::Invalid(Invalid::Param(n))) if n == "phone")
        );
    }
}
