//! Alibaba Cloud SMS: Dysmsapi `SendSms` of API version 2017-05-25, signed with the
//! RPC-style signature (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`) as Alibaba
//! Cloud documents it in "签名机制" (<https://help.aliyun.com/document_detail/28839.html>)
//! and in the SMS guide "HTTP 协议及签名"
//! (<https://help.aliyun.com/document_detail/56189.html>, whose worked SendSms example
//! is the unit test below). `PhoneNumbers` outside mainland China is "国际区号+号码",
//! e.g. `85200000000`.
//!
//! The request is a POST whose `application/x-www-form-urlencoded` body holds all the
//! parameters and the signature (the method is part of the string to sign), so that
//! neither the number nor the code lands in a URL or an access log:
//! `StringToSign = "POST" + "&" + percentEncode("/") + "&" + percentEncode(sorted query)`,
//! `Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))`.

use base64::Engine as _;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha1::Sha1;

use super::{SmsError, SmsMessage, SmsProvider};
use crate::config::AliyunSmsSettings;

pub const ACTION: &str = "SendSms";
pub const VERSION: &str = "2017-05-25";
pub const REGION: &str = "cn-hangzhou";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Alibaba's encoding: `A-Z a-z 0-9 - _ . ~` stay, every other byte of the UTF-8 form
/// becomes `%XY` (uppercase hex); a space is `%20`, never `+`; `*` is `%2A`; `~` stays.
const POP_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, POP_ENCODE).to_string()
}

/// The canonicalized query string: parameters sorted by name (`Signature` excluded),
/// names and values encoded, joined with `=` and `&`.
pub fn canonicalized_query(params: &[(&str, &str)]) -> String {
    let mut ps: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "Signature").collect();
    ps.sort_by(|a, b| a.0.cmp(b.0));
    ps.iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn string_to_sign(method: &str, canonicalized_query: &str) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(canonicalized_query)
    )
}

/// Base64 of HMAC-SHA1 keyed with the secret followed by `&`.
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(format!("{access_key_secret}&").as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `PhoneNumbers` as Alibaba wants it: the bare 11 digits for mainland China, else the
/// country calling code and the number with neither `+` nor `00`.
pub fn phone_number(nation_code: &str, national: &str) -> String {
    if nation_code == "86" {
        national.to_owned()
    } else {
        format!("{nation_code}{national}")
    }
}

/// `Timestamp`: ISO 8601 in UTC, `YYYY-MM-DDThh:mm:ssZ`.
pub fn timestamp(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

pub struct AliyunProvider {
    client: reqwest::Client,
    url: url::Url,
    access_key_id: String,
    access_key_secret: SecretString,
    sign_name: String,
    template_code: String,
}

impl AliyunProvider {
    pub fn new(client: reqwest::Client, s: &AliyunSmsSettings) -> Result<Self, String> {
        const P: &str = "aliyun";
        let access_key_id =
            super::required(P, "aliyun.access_key_id", &s.access_key_id)?.to_owned();
        super::required(
            P,
            "aliyun.access_key_secret",
            s.access_key_secret.expose_secret(),
        )?;
        let sign_name = super::required(P, "aliyun.sign_name", &s.sign_name)?.to_owned();
        let template_code =
            super::required(P, "aliyun.template_code", &s.template_code)?.to_owned();
        let endpoint = super::required(P, "aliyun.endpoint", &s.endpoint)?;
        let url = super::endpoint_url("aliyun.endpoint", endpoint)?;
        Ok(AliyunProvider {
            client,
            url,
            access_key_id,
            access_key_secret: s.access_key_secret.expose_secret().trim().to_owned().into(),
            sign_name,
            template_code,
        })
    }

    /// The form body: the canonicalized parameters and their signature.
    fn body(&self, msg: &SmsMessage<'_>, now: i64, nonce: &str) -> Result<String, SmsError> {
        let phone = phone_number(msg.phone.nation_code(), msg.phone.national());
        let template_param = serde_json::to_string(&serde_json::json!({ "code": msg.code }))
            .map_err(|e| SmsError(format!("aliyun: {e}")))?;
        let ts =
            timestamp(now).ok_or_else(|| SmsError("aliyun: the clock is out of range".into()))?;
        let params: [(&str, &str); 13] = [
            ("AccessKeyId", &self.access_key_id),
            ("Action", ACTION),
            ("Format", "JSON"),
            ("RegionId", REGION),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("Timestamp", &ts),
            ("Version", VERSION),
            ("PhoneNumbers", &phone),
            ("SignName", &self.sign_name),
            ("TemplateCode", &self.template_code),
            ("TemplateParam", &template_param),
        ];
        let query = canonicalized_query(&params);
        let sig = signature(
            self.access_key_secret.expose_secret(),
            &string_to_sign("POST", &query),
        );
        Ok(format!("{query}&Signature={}", percent_encode(&sig)))
    }

    async fn send_inner(&self, msg: &SmsMessage<'_>) -> Result<(), SmsError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let body = self.body(msg, super::unix_now(), &nonce)?;
        let res = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| super::transport_error("aliyun", e))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| super::transport_error("aliyun", e))?;
        parse_response(status.as_u16(), &bytes)
    }
}

impl SmsProvider for AliyunProvider {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    fn send<'a>(&'a self, msg: &'a SmsMessage<'a>) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(self.send_inner(msg))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    request_id: Option<String>,
}

/// Success only with a 2xx answer whose `Code` is `OK`.
pub fn parse_response(status: u16, body: &[u8]) -> Result<(), SmsError> {
    let Ok(a) = serde_json::from_slice::<Answer>(body) else {
        return Err(SmsError(format!(
            "aliyun: HTTP {status}, unreadable answer"
        )));
    };
    if (200..300).contains(&status) && a.code == "OK" {
        return Ok(());
    }
    let request = a
        .request_id
        .as_deref()
        .map(|id| format!(" (RequestId {})", super::clip(id)))
        .unwrap_or_default();
    Err(SmsError(format!(
        "aliyun: HTTP {status}, code {}: {}{request}",
        super::clip(&a.code),
        super::clip(&a.message)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked SendSms example of "短信服务 HTTP 协议及签名"
    // (https://help.aliyun.com/document_detail/56189.html): a GET request, so the
    // string to sign starts with "GET".
    const DOC_PARAMS: [(&str, &str); 14] = [
        ("AccessKeyId", "testId"),
        ("Action", "SendSms"),
        ("Format", "XML"),
        ("OutId", "123"),
        ("PhoneNumbers", "15300000001"),
        ("RegionId", "cn-hangzhou"),
        ("SignName", "阿里云短信测试专用"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
        ("SignatureVersion", "1.0"),
        ("TemplateCode", "SMS_71390007"),
        ("TemplateParam", r#"{"customer":"test"}"#),
        ("Timestamp", "2017-07-12T02:42:19Z"),
        ("Version", "2017-05-25"),
    ];

    #[test]
    fn doc_vector_send_sms() {
        let mut shuffled = DOC_PARAMS;
        shuffled.reverse();
        let query = canonicalized_query(&shuffled);
        assert_eq!(
            query,
            "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
        );
        let sts = string_to_sign("GET", &query);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
        );
        assert_eq!(
            signature("testSecret", &sts),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
        assert_eq!(
            percent_encode("zJDF+Lrzhj/ThnlvIToysFRq6t4="),
            "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"
        );
    }

    #[test]
    fn doc_vector_rpc_describe_regions() {
        // The example of "签名机制" (https://help.aliyun.com/document_detail/28839.html).
        let params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
            ("Signature", "ignored"),
        ];
        let sts = string_to_sign("GET", &canonicalized_query(&params));
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("testsecret", &sts),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn special_percent_encoding() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("~-_.AZaz09"), "~-_.AZaz09");
        assert_eq!(percent_encode("+/=&:"), "%2B%2F%3D%26%3A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn phone_numbers_by_country() {
        assert_eq!(phone_number("86", "13912345678"), "13912345678");
        assert_eq!(phone_number("852", "61234567"), "85261234567");
        assert_eq!(phone_number("1", "2015550123"), "12015550123");
    }

    #[test]
    fn iso_timestamp() {
        assert_eq!(
            timestamp(1499827339).as_deref(),
            Some("2017-07-12T02:42:19Z")
        );
    }

    #[test]
    fn success_needs_code_ok() {
        let ok = br#"{"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","BizId":"900619746936498440^0","Code":"OK"}"#;
        assert!(parse_response(200, ok).is_ok());
        assert!(parse_response(500, ok).is_err());
        let limited = r#"{"Message":"触发分钟级流控Permits:1","RequestId":"r1","Code":"isv.BUSINESS_LIMIT_CONTROL"}"#;
        let e = parse_response(200, limited.as_bytes()).expect_err("refused");
        assert!(e.0.contains("isv.BUSINESS_LIMIT_CONTROL"), "{e}");
        let bad_sig = br#"{"RequestId":"r2","Message":"Specified signature is not matched with our calculation.","Recommend":"https://error-center.aliyun.com/","HostId":"dysmsapi.aliyuncs.com","Code":"SignatureDoesNotMatch"}"#;
        let e = parse_response(400, bad_sig).expect_err("refused");
        assert!(e.0.contains("SignatureDoesNotMatch"), "{e}");
        assert!(parse_response(502, b"Bad Gateway").is_err());
    }
}
