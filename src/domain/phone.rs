//! Phone numbers, validated by libphonenumber's rules (the `phonenumber` crate).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};

/// A number that may receive sign-in codes, in canonical form: `nation_code` without
/// `+`, `national` the E.164 digits after it. Users are keyed by this pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    nation_code: String,
    national: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PhoneError {
    /// Not a number, or not a valid one for that country.
    Invalid,
    /// Valid, but of a kind that cannot take SMS sign-in (fixed line, premium rate,
    /// toll free, shared cost, ...).
    NotMobile,
}

fn digits(s: &str) -> Option<String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    (!t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit())).then_some(t)
}

impl PhoneNumber {
    /// Parses a country calling code (`86`, `+86`) and a national number.
    pub fn parse(nation_code: &str, phone: &str) -> Result<Self, PhoneError> {
        let cc = digits(nation_code.trim().trim_start_matches('+')).ok_or(PhoneError::Invalid)?;
        if cc.len() > 3 {
            return Err(PhoneError::Invalid);
        }
        let national = digits(phone).ok_or(PhoneError::Invalid)?;
        let parsed = phonenumber::parse(None, format!("+{cc}{national}"))
            .map_err(|_| PhoneError::Invalid)?;
        // The number must belong to the country the client named.
        if parsed.code().value().to_string() != cc || !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        match parsed.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(PhoneError::NotMobile),
        }
        let e164 = parsed.format().mode(Mode::E164).to_string();
        let national = e164
            .strip_prefix('+')
            .and_then(|s| s.strip_prefix(cc.as_str()))
            .ok_or(PhoneError::Invalid)?
            .to_owned();
        Ok(PhoneNumber {
            nation_code: cc,
            national,
        })
    }

    /// A configured test number, taken as given (digits only).
    pub fn unchecked(nation_code: &str, phone: &str) -> Option<Self> {
        Some(PhoneNumber {
            nation_code: digits(nation_code.trim().trim_start_matches('+'))?,
            national: digits(phone)?,
        })
    }

    /// The user's own country's reading of a contact entry: `+cc...` or `00cc...` is
    /// international, anything else is national in `default_cc`.
    pub fn parse_contact(entry: &str, default_cc: &str) -> Result<Self, PhoneError> {
        let t = entry.trim();
        let intl = t.strip_prefix('+').or_else(|| t.strip_prefix("00"));
        match intl {
            Some(rest) => {
                let d = digits(rest).ok_or(PhoneError::Invalid)?;
                let parsed =
                    phonenumber::parse(None, format!("+{d}")).map_err(|_| PhoneError::Invalid)?;
                let cc = parsed.code().value().to_string();
                let national = d.strip_prefix(cc.as_str()).ok_or(PhoneError::Invalid)?;
                PhoneNumber::parse(&cc, national)
            }
            None => PhoneNumber::parse(default_cc, t),
        }
    }

    pub fn nation_code(&self) -> &str {
        &self.nation_code
    }

    pub fn national(&self) -> &str {
        &self.national
    }

    /// For logs: `+86 165****2222`.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }
}

/// Numbers for app store reviewers: nothing is sent to them and they accept a fixed
/// code. Taken as configured, so a reviewer's number need not be a mobile one.
#[derive(Clone, Debug, Default)]
pub struct TestNumbers(Arc<HashMap<PhoneNumber, String>>);

impl TestNumbers {
    /// From `(nation_code, phone, code)` entries; malformed numbers are left out.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        TestNumbers(Arc::new(
            entries
                .into_iter()
                .filter_map(|(cc, phone, code)| {
                    Some((PhoneNumber::unchecked(cc, phone)?, code.to_owned()))
                })
                .collect(),
        ))
    }

    /// The fixed code of a test number.
    pub fn code(&self, phone: &PhoneNumber) -> Option<&str> {
        self.0.get(phone).map(String::as_str)
    }

    /// A number a client gave: a test number as configured, anything else by
    /// libphonenumber's rules.
    pub fn parse(&self, nation_code: &str, phone: &str) -> Result<PhoneNumber, PhoneError> {
        match PhoneNumber::unchecked(nation_code, phone) {
            Some(p) if self.0.contains_key(&p) => Ok(p),
            _ => PhoneNumber::parse(nation_code, phone),
        }
    }
}

pub struct Masked<'a>(&'a PhoneNumber);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At least four digits stay hidden whatever the length: up to the last four
        // and, for long numbers, the first three (the carrier prefix) are shown.
        let n = &self.0.national;
        let len = n.len();
        let shown_tail = len.saturating_sub(4).min(4);
        let shown_head = len.saturating_sub(4 + shown_tail).min(3);
        let tail = len - shown_tail;
        write!(
            f,
            "+{} {}{}{}",
            self.0.nation_code,
            n.get(..shown_head).unwrap_or_default(),
            "*".repeat(tail - shown_head),
            n.get(tail..).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_accepted_and_canonical() {
        let p = PhoneNumber::parse("86", "16522222222").unwrap();
        assert_eq!((p.nation_code(), p.national()), ("86", "16522222222"));
        let p = PhoneNumber::parse("+86", "165 2222-2222").unwrap();
        assert_eq!(p.national(), "16522222222");
        // US numbers cannot be told apart: fixed line or mobile is accepted.
        assert!(PhoneNumber::parse("1", "4155552671").is_ok());
    }

    #[test]
    fn invalid_and_non_mobile_numbers_are_refused() {
        assert_eq!(PhoneNumber::parse("86", "123"), Err(PhoneError::Invalid));
        assert_eq!(PhoneNumber::parse("86", "abc"), Err(PhoneError::Invalid));
        assert_eq!(
            PhoneNumber::parse("", "16522222222"),
            Err(PhoneError::Invalid)
        );
        assert_eq!(
            PhoneNumber::parse("9999", "16522222222"),
            Err(PhoneError::Invalid)
        );
        // Shared cost (China 400).
        assert_eq!(
            PhoneNumber::parse("86", "4001234567"),
            Err(PhoneError::NotMobile)
        );
        // Fixed line (Beijing).
        assert_eq!(
            PhoneNumber::parse("86", "1012345678"),
            Err(PhoneError::NotMobile)
        );
        // UK premium rate.
        assert_eq!(
            PhoneNumber::parse("44", "9098790000"),
            Err(PhoneError::NotMobile)
        );
        // A Chinese mobile number under another country code.
        assert!(PhoneNumber::parse("44", "16522222222").is_err());
    }

    #[test]
    fn contacts_read_in_the_callers_country() {
        let p = PhoneNumber::parse_contact("16522222222", "86").unwrap();
        assert_eq!(p, PhoneNumber::parse("86", "16522222222").unwrap());
        let p = PhoneNumber::parse_contact("+8616522222222", "1").unwrap();
        assert_eq!(p, PhoneNumber::parse("86", "16522222222").unwrap());
        let p = PhoneNumber::parse_contact("008616522222222", "1").unwrap();
        assert_eq!(p.nation_code(), "86");
    }

    #[test]
    fn test_numbers_are_taken_as_configured() {
        let t = TestNumbers::new([("86", "4001234567", "123456"), ("86", "x", "1")]);
        let review = t.parse("+86", "4001234567").unwrap();
        assert_eq!(t.code(&review), Some("123456"));
        // Not a mobile number by libphonenumber's rules, yet accepted as configured.
        assert_eq!(
            PhoneNumber::parse("86", "4001234567"),
            Err(PhoneError::NotMobile)
        );
        let other = t.parse("86", "16522222222").unwrap();
        assert_eq!(t.code(&other), None);
        assert!(t.parse("86", "123").is_err());
    }

    #[test]
    fn masking_hides_the_middle() {
        let p = PhoneNumber::parse("86", "16522222222").unwrap();
        assert_eq!(p.masked().to_string(), "+86 165****2222");
        // Short numbers (the old rule showed all of a 7-digit one).
        let short = |d: &str| PhoneNumber::unchecked("1", d).unwrap().masked().to_string();
        assert_eq!(short("1234567"), "+1 ****567");
        assert_eq!(short("12345678"), "+1 ****5678");
        assert_eq!(short("1234"), "+1 ****");
    }
}
