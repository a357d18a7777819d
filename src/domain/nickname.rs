//! Nicknames.

use rand::Rng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    /// 1–20 characters after trimming, no control characters.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        let n = t.chars().count();
        ((1..=20).contains(&n) && !t.chars().any(char::is_control)).then(|| Nickname(t.to_owned()))
    }

    /// A random six-letter nickname for a new user, like `GLdKtM`.
    pub fn random() -> Self {
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut rng = rand::rng();
        Nickname(
            (0..6)
                .map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char)
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nickname_rules() {
        assert_eq!(Nickname::parse("  ivan ").unwrap().as_str(), "ivan");
        assert!(Nickname::parse("   ").is_none());
        assert!(Nickname::parse(&"长".repeat(20)).is_some());
        assert!(Nickname::parse(&"长".repeat(21)).is_none());
        assert!(Nickname::parse("a\u{7}b").is_none());
        let r = Nickname::random();
        assert_eq!(r.as_str().len(), 6);
        assert!(r.as_str().bytes().all(|b| b.is_ascii_alphabetic()));
    }
}
