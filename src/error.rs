//! The one error type of the server, mapped to the API's codes and messages.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sea_orm::{DbErr, RuntimeErr};

/// Language of envelope messages (`Accept-Language`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The best of zh/en by the header's q-values; Chinese when neither is asked for.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::Zh;
        };
        let mut best: Option<(f32, Lang)> = None;
        for range in header.split(',') {
            let mut parts = range.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|v| v.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Zh)
    }
}

/// Why an input was refused with code 1. Each names what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    Phone,
    NationNotAllowed,
    /// Wrong, expired or used check code (the seed's message: "invalid user information").
    CheckCode,
    /// updateuserinfo's generic failure.
    UpdateFailed,
    Nickname,
    NothingToUpdate,
    Missing(Cow<'static, str>),
    Param(Cow<'static, str>),
    Body,
    UnknownUser,
    SelfRelation,
    NicknameNotFound,
    TooManyItems(Cow<'static, str>),
    /// changephone: another account uses the number.
    PhoneTaken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooLarge {
    Body,
    File,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    ContentType,
    File,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dependency {
    Database,
    Sms,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input: {0:?}")]
    Invalid(Invalid),
    #[error("not signed in")]
    Unauthorized,
    #[error("blocked by a member")]
    Blocked,
    #[error("the account is banned")]
    Banned,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large: {0:?}")]
    PayloadTooLarge(TooLarge),
    #[error("unsupported media type: {0:?}")]
    UnsupportedMediaType(Unsupported),
    #[error("request body too slow")]
    RequestTimeout,
    #[error("too many requests, retry after {retry_after_secs}s")]
    TooManyRequests { retry_after_secs: u64 },
    /// Too much work of one kind at once (avatar decodes): try again shortly.
    #[error("busy, retry after {retry_after_secs}s")]
    Busy { retry_after_secs: u64 },
    /// With the cause, when there is one to log.
    #[error("{0:?} unavailable")]
    Unavailable(Dependency, Option<Cause>),
    /// The client learns nothing more; the cause is logged once, when the answer is
    /// rendered (`http::envelope`), with the request's id.
    #[error("internal error: {0}")]
    Internal(Cause),
}

/// Why a request failed in a way the client is not told about: a context chain, shared
/// (errors are cloned, e.g. to every waiter of a cache load).
#[derive(Clone)]
pub struct Cause(Arc<anyhow::Error>);

impl Cause {
    pub fn new(context: &'static str, err: impl fmt::Display) -> Self {
        Cause(Arc::new(anyhow::anyhow!("{err}").context(context)))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every link of the chain: "context: cause: its cause".
        write!(f, "{:#}", self.0)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::Invalid(_) => 1,
            ApiError::Unauthorized => 401,
            ApiError::Blocked | ApiError::Banned => 403,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::RequestTimeout => 408,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(..) | ApiError::Busy { .. } => 503,
        }
    }

    /// The framework's own rejections keep their HTTP status; everything a route
    /// produces is 200 and clients branch on `code`.
    pub fn http_status(&self) -> u16 {
        match self {
            ApiError::NotFound
            | ApiError::MethodNotAllowed
            | ApiError::RequestTimeout
            | ApiError::PayloadTooLarge(_) => self.code(),
            _ => 200,
        }
    }

    pub fn message(&self, lang: Lang) -> Cow<'static, str> {
        let (zh, en): (Cow<'static, str>, Cow<'static, str>) = match self {
            ApiError::Invalid(i) => match i {
                Invalid::Phone => ("无效的号码".into(), "invalid phone number".into()),
                Invalid::NationNotAllowed => (
                    "暂不支持该国家或地区的号码".into(),
                    "numbers of this country or region are not supported".into(),
                ),
                Invalid::CheckCode => ("无效的用户信息".into(), "invalid user information".into()),
                Invalid::UpdateFailed => ("修改失败".into(), "update failed".into()),
                Invalid::Nickname => (
                    "修改失败：昵称须为1到20个字符且不含控制字符".into(),
                    "update failed: a nickname has 1 to 20 characters and no control characters"
                        .into(),
                ),
                Invalid::NothingToUpdate => (
                    "修改失败：请提供昵称或头像".into(),
                    "update failed: give a nickname or an avatar".into(),
                ),
                Invalid::Missing(p) => (
                    format!("缺少参数 {p}").into(),
                    format!("missing parameter {p}").into(),
                ),
                Invalid::Param(p) => (
                    format!("参数 {p} 无效").into(),
                    format!("invalid parameter {p}").into(),
                ),
                Invalid::Body => ("请求体格式错误".into(), "malformed request body".into()),
                Invalid::UnknownUser => ("用户不存在".into(), "no such user".into()),
                Invalid::SelfRelation => (
                    "不能对自己进行此操作".into(),
                    "you cannot do this to yourself".into(),
                ),
                Invalid::NicknameNotFound => (
                    "没有使用该昵称的用户".into(),
                    "no user has this nickname".into(),
                ),
                Invalid::TooManyItems(p) => (
                    format!("参数 {p} 数量过多").into(),
                    format!("too many items in {p}").into(),
                ),
                Invalid::PhoneTaken => ("号码已被使用".into(), "this number is in use".into()),
            },
            ApiError::Unauthorized => ("请重新登录".into(), "please sign in again".into()),
            ApiError::Blocked => ("对方已将你拉黑".into(), "this user has blocked you".into()),
            ApiError::Banned => ("账号已被封禁".into(), "this account is banned".into()),
            ApiError::NotFound => ("接口不存在".into(), "not found".into()),
            ApiError::MethodNotAllowed => ("请求方法不允许".into(), "method not allowed".into()),
            ApiError::PayloadTooLarge(TooLarge::File) => {
                ("文件过大".into(), "file too large".into())
            }
            ApiError::PayloadTooLarge(TooLarge::Body) => {
                ("请求体过大".into(), "request body too large".into())
            }
            ApiError::UnsupportedMediaType(Unsupported::File) => {
                ("不支持的文件类型".into(), "unsupported file type".into())
            }
            ApiError::UnsupportedMediaType(Unsupported::ContentType) => {
                ("不支持的请求类型".into(), "unsupported content type".into())
            }
            ApiError::RequestTimeout => (
                "请求超时：请求体未在限定时间内发送完".into(),
                "request timeout: the body did not arrive in time".into(),
            ),
            ApiError::TooManyRequests { .. } => ("操作过于频繁".into(), "too many requests".into()),
            ApiError::Busy { .. } => (
                "服务繁忙，请稍后再试".into(),
                "the server is busy, try again shortly".into(),
            ),
            ApiError::Internal(_) => ("服务器错误".into(), "server error".into()),
            ApiError::Unavailable(Dependency::Database, _) => (
                "服务暂不可用".into(),
                "service temporarily unavailable".into(),
            ),
            ApiError::Unavailable(Dependency::Sms, _) => (
                "短信服务暂不可用".into(),
                "the SMS service is temporarily unavailable".into(),
            ),
        };
        match lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn missing(p: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Invalid(Invalid::Missing(p.into()))
    }

    pub fn param(p: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Invalid(Invalid::Param(p.into()))
    }

    pub fn too_many(p: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Invalid(Invalid::TooManyItems(p.into()))
    }

    /// An unexpected failure, hidden from the client; `context` says what was being done.
    pub fn internal(context: &'static str, err: impl fmt::Display) -> Self {
        ApiError::Internal(Cause::new(context, err))
    }

    /// Logs the cause of a failure the client is not told about. Called once, where
    /// the answer is rendered, inside the request's span.
    pub fn log_cause(&self, request_id: &str) {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(request_id, error = %cause, "request failed");
            }
            ApiError::Unavailable(dependency, Some(cause)) => {
                tracing::warn!(request_id, ?dependency, error = %cause, "dependency unavailable");
            }
            _ => {}
        }
    }
}

/// True when the database could not be reached (as opposed to refusing a statement):
/// those failures answer 503 and the pool reconnects by itself.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            SqlxError::Io(_)
            | SqlxError::Tls(_)
            | SqlxError::PoolTimedOut
            | SqlxError::PoolClosed
            | SqlxError::WorkerCrashed
            | SqlxError::Protocol(_) => true,
            SqlxError::Database(db) => {
                // PostgreSQL shutting down / cannot connect now; MySQL server gone away.
                let code = db.code().unwrap_or_default();
                matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006" | "08001" | "08004"
                ) || matches!(code.as_ref(), "HY000" | "08S01")
                    && db.message().to_ascii_lowercase().contains("gone away")
            }
            _ => false,
        },
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// A conflict that a retry of the whole transaction resolves: unique key raced by a
/// concurrent insert, deadlock, serialization failure, SQLite busy.
pub fn is_retryable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    if matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        return true;
    }
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                SqlxError::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PG serialization/deadlock, MySQL deadlock/lock wait, SQLite busy/locked.
                    matches!(
                        code.as_ref(),
                        "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "517" | "261" | "262"
                    ) || db.message().contains("Deadlock found")
                        || db.message().contains("database is locked")
                }
                _ => false,
            }
        }
        _ => false,
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            ApiError::Unavailable(Dependency::Database, Some(Cause::new("database", err)))
        } else {
            ApiError::internal("database", err)
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_best_of_zh_and_en() {
        assert_eq!(Lang::from_accept_language(None), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("zh-CN,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("fr,en;q=0.5")), Lang::En);
        assert_eq!(
            Lang::from_accept_language(Some("zh;q=0.4,en;q=0.6")),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en;q=0")), Lang::Zh);
    }

    #[test]
    fn codes_and_statuses_follow_the_table() {
        let cases: Vec<(ApiError, u16, u16)> = vec![
            (ApiError::Invalid(Invalid::Phone), 1, 200),
            (ApiError::Unauthorized, 401, 200),
            (ApiError::Blocked, 403, 200),
            (ApiError::Banned, 403, 200),
            (ApiError::NotFound, 404, 404),
            (ApiError::MethodNotAllowed, 405, 405),
            (ApiError::PayloadTooLarge(TooLarge::File), 413, 413),
            (ApiError::UnsupportedMediaType(Unsupported::File), 415, 200),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 3,
                },
                429,
                200,
            ),
            (ApiError::internal("test", "cause"), 500, 200),
            (ApiError::Unavailable(Dependency::Database, None), 503, 200),
            (ApiError::RequestTimeout, 408, 408),
            (
                ApiError::Busy {
                    retry_after_secs: 1,
                },
                503,
                200,
            ),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(e.http_status(), status, "{e:?}");
        }
        assert_eq!(
            ApiError::Invalid(Invalid::Phone).message(Lang::Zh),
            "无效的号码"
        );
        assert_eq!(
            ApiError::Invalid(Invalid::CheckCode).message(Lang::Zh),
            "无效的用户信息"
        );
        assert_eq!(
            ApiError::Invalid(Invalid::UpdateFailed).message(Lang::Zh),
            "修改失败"
        );
        assert_eq!(
            ApiError::Unauthorized.message(Lang::En),
            "please sign in again"
        );
    }
}

#[cfg(test)]
mod cause_tests {
    use super::*;

    #[test]
    fn a_cause_keeps_its_context_chain_and_the_message_stays_generic() {
        let e = ApiError::internal("signing im_token", "key rejected");
        assert_eq!(
            e.to_string(),
            "internal error: signing im_token: key rejected"
        );
        assert_eq!(e.message(Lang::En), "server error");
    }
}
