//! A gateway of your own: each code is POSTed as JSON
//! `{"nation_code", "phone", "code", "ttl_minutes"}` with
//! `X-Timestamp: <unix seconds>` and
//! `X-Signature: hex(HMAC-SHA256(secret, timestamp + "." + body))`, the body being the
//! exact bytes sent. Any answer but 2xx is a failed send.

use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{SmsError, SmsMessage, SmsProvider};
use crate::config::WebhookSmsSettings;

/// Lowercase hex HMAC-SHA256 of `timestamp + "." + body`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub struct WebhookProvider {
    client: reqwest::Client,
    url: url::Url,
    secret: SecretString,
}

impl WebhookProvider {
    pub fn new(client: reqwest::Client, s: &WebhookSmsSettings) -> Result<Self, String> {
        const P: &str = "webhook";
        let url = super::required(P, "webhook.url", &s.url)?;
        let url = super::endpoint_url("webhook.url", url)?;
        super::required(P, "webhook.secret", s.secret.expose_secret())?;
        Ok(WebhookProvider {
            client,
            url,
            secret: s.secret.clone(),
        })
    }

    async fn send_inner(&self, msg: &SmsMessage<'_>) -> Result<(), SmsError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "nation_code": msg.phone.nation_code(),
            "phone": msg.phone.national(),
            "code": msg.code,
            "ttl_minutes": msg.ttl_minutes,
        }))
        .map_err(|e| SmsError(format!("webhook: {e}")))?;
        let timestamp = super::unix_now();
        let sig = signature(self.secret.expose_secret(), timestamp, &body);
        let res = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Timestamp", timestamp.to_string())
            .header("X-Signature", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| super::transport_error("webhook", e))?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else {
            // The answer's body is not logged: a gateway may echo the request, code and all.
            Err(SmsError(format!("webhook: HTTP {}", status.as_u16())))
        }
    }
}

impl SmsProvider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, msg: &'a SmsMessage<'a>) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(self.send_inner(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // The format is ours, so no vendor vector exists: the expected value was computed
        // independently with Python's hmac module:
        // hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
        let body = br#"{"nation_code":"86","phone":"13912345678","code":"123456","ttl_minutes":5}"#;
        assert_eq!(
            signature("s3cret", 1_700_000_000, body),
            "19982948fe18745d86e6dcce3964851e1b99463eff651e4ab140a2f6b0b6948b"
        );
    }
}
