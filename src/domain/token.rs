//! Session tokens: 128 random bits as 32 lowercase hex; the server keeps only SHA-256.

use sha2::{Digest, Sha256};

pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        SessionToken(hex::encode(bytes))
    }

    /// Anything not shaped like a token is refused before any lookup.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SessionToken(t.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// SHA-256 of a token: what the server keeps (as hex in the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(TokenHash(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_hex_and_hash_is_stable() {
        let t = SessionToken::generate();
        assert_eq!(t.as_str().len(), 32);
        assert!(t
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let again = SessionToken::parse(&t.as_str().to_uppercase()).unwrap();
        assert_eq!(t.hash(), again.hash());
        assert_eq!(t.hash().to_hex().len(), 64);
        assert_eq!(TokenHash::from_hex(&t.hash().to_hex()), Some(t.hash()));
        assert!(SessionToken::parse("xyz").is_none());
        assert!(SessionToken::parse(&"g".repeat(32)).is_none());
    }
}
