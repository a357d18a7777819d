//! Sign-in codes: sent under the cooldown and the daily and hourly limits.

use std::net::IpAddr;
use std::sync::Arc;

use super::Deps;
use crate::config::SmsSettings;
use crate::domain::check_code::{CheckCode, CodeHasher};
use crate::domain::client::ip_bucket;
use crate::domain::now_ms;
use crate::domain::phone::{PhoneNumber, TestNumbers};
use crate::error::{ApiError, ApiResult, Cause, Dependency, Invalid};
use crate::sms::{SmsMessage, SmsProvider};
use crate::store::rate::{self, Limit};
use crate::store::{sms as codes, Db, TxError};

/// The bucket prefix of the per-country budgets.
const COUNTRY_BUDGET: &str = "sms:country:";

pub struct SmsService {
    db: Db,
    /// Numbers in their cooldown, as this process last saw them: repeated sends are
    /// refused without a database transaction. Only ever refuses what the database
    /// would refuse too (the entry dies with the cooldown, or when a send is voided).
    recent: moka::future::Cache<PhoneNumber, i64>,
    settings: SmsSettings,
    hasher: CodeHasher,
    provider: Arc<dyn SmsProvider>,
    test_numbers: TestNumbers,
    /// `limits.ipv6_prefix_len`: how the per-IP limit keys IPv6 clients.
    ipv6_prefix_len: u8,
}

impl SmsService {
    pub fn new(d: Deps) -> Self {
        let settings = d.settings.sms.clone();
        let ipv6_prefix_len = d.settings.limits.ipv6_prefix_len;
        SmsService {
            recent: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(
                    settings.cooldown_secs.max(1),
                ))
                .build(),
            db: d.db,
            settings,
            hasher: d.codes,
            provider: d.sms_provider,
            test_numbers: d.test_numbers,
            ipv6_prefix_len,
        }
    }

    fn limits(&self, phone: &PhoneNumber, ip: IpAddr) -> Vec<Limit> {
        let mut limits = vec![
            Limit::new(
                format!("sms:number:{}:{}", phone.nation_code(), phone.national()),
                86_400,
                self.settings.per_number_daily,
            ),
            Limit::new(
                format!("sms:ip:{}", ip_bucket(ip, self.ipv6_prefix_len)),
                3_600,
                self.settings.per_ip_hourly,
            ),
            Limit::sharded("sms:global", 86_400, self.settings.global_daily_budget, 16),
        ];
        // Toll fraud pumps codes to foreign numbers: each country outside the home list
        // has a daily budget of its own.
        let cc = phone.nation_code();
        if !self.settings.home_nation_codes.iter().any(|h| h == cc) {
            limits.push(Limit::new(
                format!("{COUNTRY_BUDGET}{cc}"),
                86_400,
                self.settings.foreign_country_daily,
            ));
        }
        limits
    }

    /// sms/send: a fresh code to `phone`, unless a limit says no.
    pub async fn send(&self, phone: PhoneNumber, ip: IpAddr) -> ApiResult<()> {
        let allowed = &self.settings.allowed_nation_codes;
        if !allowed.is_empty() && !allowed.iter().any(|c| c == phone.nation_code()) {
            crate::metrics::sms_refused("country");
            return Err(ApiError::Invalid(Invalid::NationNotAllowed));
        }
        // Satellite and international networks: the classic targets of SMS pumping.
        if self
            .settings
            .denied_nation_codes
            .iter()
            .any(|c| c == phone.nation_code())
        {
            crate::metrics::sms_refused("denied_range");
            return Err(ApiError::Invalid(Invalid::NationNotAllowed));
        }
        if self.test_numbers.code(&phone).is_some() {
            // Review accounts: nothing is sent, the fixed code is accepted at sign-in.
            return Ok(());
        }

        let now = now_ms();
        let cooldown_ms = self.settings.cooldown_secs as i64 * 1000;
        if let Some(sent_at) = self.recent.get(&phone).await {
            let wait = sent_at + cooldown_ms - now;
            if wait > 0 {
                crate::metrics::sms_refused("cooldown");
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: (wait as u64).div_ceil(1000),
                });
            }
        }
        let code = CheckCode::generate();
        let hash = self.hasher.hash(&phone, &code);
        let limits = self.limits(&phone, ip);
        let expires_at = now + self.settings.code_ttl_secs as i64 * 1000;

        // Claim the cooldown and the counters before sending, so concurrent requests
        // (on any process) cannot both send.
        let reserved = self
            .db
            .write(|txn| {
                let (phone, hash, limits) = (phone.clone(), hash.clone(), limits.clone());
                Box::pin(async move {
                    let row = codes::find_for_update(txn, &phone).await?;
                    if let Some(r) = &row {
                        let wait = r.sent_at + cooldown_ms - now;
                        if wait > 0 {
                            crate::metrics::sms_refused("cooldown");
                            return Err(TxError::Api(ApiError::TooManyRequests {
                                retry_after_secs: (wait as u64).div_ceil(1000),
                            }));
                        }
                    }
                    let taken = match rate::take(txn, &limits, now).await? {
                        Ok(taken) => taken,
                        Err(ex) => {
                            if ex.bucket == "sms:global" {
                                tracing::error!(
                                alert = "sms_global_budget_exhausted",
                                "SMS global daily budget exhausted: no more codes are sent today"
                            );
                                crate::metrics::sms_refused("global_budget");
                            } else if let Some(cc) = ex.bucket.strip_prefix(COUNTRY_BUDGET) {
                                tracing::warn!(
                                    alert = "sms_country_budget_exhausted",
                                    nation_code = cc,
                                    "SMS daily budget of a foreign country exhausted: possible SMS pumping"
                                );
                                crate::metrics::sms_country_budget_exhausted(cc);
                            } else {
                                crate::metrics::sms_refused("limit");
                            }
                            return Err(TxError::Api(ApiError::TooManyRequests {
                                retry_after_secs: ex.retry_after_secs,
                            }));
                        }
                    };
                    codes::put(txn, row, &phone, hash, now, expires_at).await?;
                    Ok(taken)
                })
            })
            .await;
        let taken = reserved?;
        if cooldown_ms > 0 {
            self.recent.insert(phone.clone(), now).await;
        }

        let msg = SmsMessage {
            phone: &phone,
            code: code.as_str(),
            ttl_minutes: self.settings.code_ttl_secs.div_ceil(60),
        };
        match self.provider.send(&msg).await {
            Ok(()) => {
                crate::metrics::sms_send(self.provider.name(), "ok");
                tracing::info!(phone = %phone.masked(), provider = self.provider.name(), "sign-in code sent");
                Ok(())
            }
            Err(e) => {
                crate::metrics::sms_send(self.provider.name(), "failed");
                tracing::warn!(phone = %phone.masked(), provider = self.provider.name(), "SMS provider failed; undoing the send's reservation");
                // The code never arrived: no cooldown, and the send is not counted.
                self.recent.invalidate(&phone).await;
                let undo = self
                    .db
                    .write(|txn| {
                        let (phone, taken) = (phone.clone(), taken.clone());
                        Box::pin(async move {
                            codes::void_send(txn, &phone, now_ms()).await?;
                            rate::give_back(txn, &taken).await?;
                            Ok(())
                        })
                    })
                    .await;
                if let Err(e) = undo {
                    tracing::error!(error = %e, "could not undo the reservation of a failed send");
                }
                Err(ApiError::Unavailable(
                    Dependency::Sms,
                    Some(Cause::new(self.provider.name(), e)),
                ))
            }
        }
    }
}
