//! Sign-in codes: six digits from a CSPRNG, stored only as an HMAC under a server key.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::phone::PhoneNumber;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckCode(String);

impl CheckCode {
    pub fn generate() -> Self {
        // ThreadRng is a CSPRNG seeded from the OS.
        let n: u32 = rand::rng().random_range(0..1_000_000);
        CheckCode(format!("{n:06}"))
    }

    /// Six digits; a JSON number loses leading zeros, so 1234 means `001234`.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.is_empty() || t.len() > 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(CheckCode(format!("{t:0>6}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
pub struct CodeHasher {
    key: Vec<u8>,
}

impl CodeHasher {
    pub fn new(key: &[u8]) -> Self {
        CodeHasher { key: key.to_vec() }
    }

    /// Bound to the number, so a hash copied between rows is worthless.
    pub fn hash(&self, phone: &PhoneNumber, code: &CheckCode) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(phone.nation_code().as_bytes());
        mac.update(b"|");
        mac.update(phone.national().as_bytes());
        mac.update(b"|");
        mac.update(code.as_str().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn verify(&self, phone: &PhoneNumber, code: &CheckCode, stored_hash: &str) -> bool {
        let h = self.hash(phone, code);
        h.as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = CheckCode::generate();
            assert_eq!(c.as_str().len(), 6);
            assert!(c.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(CheckCode::parse("1234").unwrap().as_str(), "001234");
        assert!(CheckCode::parse("1234567").is_none());
        assert!(CheckCode::parse("12a456").is_none());
        assert!(CheckCode::parse("").is_none());
    }

    #[test]
    fn hash_binds_code_number_and_key() {
        let p = PhoneNumber::parse("86", "16522222222").unwrap();
        let q = PhoneNumber::parse("86", "16533333333").unwrap();
        let c = CheckCode::parse("123456").unwrap();
        let h = CodeHasher::new(b"k1");
        let stored = h.hash(&p, &c);
        assert!(h.verify(&p, &c, &stored));
        assert!(!h.verify(&q, &c, &stored));
        assert!(!h.verify(&p, &CheckCode::parse("123457").unwrap(), &stored));
        assert!(!CodeHasher::new(b"k2").verify(&p, &c, &stored));
        assert!(!stored.contains("123456"));
    }
}
