//! Nicknames.

use rand::Rng;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

/// Characters no nickname may hold: controls, format characters (bidi overrides that
/// reorder what is shown, zero-width spaces and joiners, the BOM: invisible, they let
/// one nickname pass for another or show nothing at all) and line or paragraph breaks.
fn refused(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

impl Nickname {
    /// 1–20 characters in NFC after trimming Unicode whitespace (U+3000 too), none of
    /// them control or format characters. NFC makes the spellings of one name (`é` and
    /// `e` + U+0301) one stored string, so an exact search finds it either way.
    pub fn parse(s: &str) -> Option<Self> {
        let nfc: String = s.nfc().collect();
        let t = nfc.trim();
        let n = t.chars().count();
        ((1..=20).contains(&n) && !t.chars().any(refused)).then(|| Nickname(t.to_owned()))
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
        // Format characters anywhere, whitespace-only in any script, line breaks.
        for bad in [
            "abc\u{202e}fed",
            "a\u{200b}b",
            "a\u{200c}b",
            "a\u{200d}b",
            "a\u{2060}b",
            "\u{feff}ivan",
            "ivan\u{2066}",
            "\u{3000}\u{3000}",
            " \u{a0}\u{2003} ",
            "a\u{2028}b",
            "a\u{2029}b",
        ] {
            assert!(Nickname::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            Nickname::parse("\u{3000}伊万\u{3000}").unwrap().as_str(),
            "伊万"
        );
        // One name however it is spelled: NFC, counted after composing.
        assert_eq!(Nickname::parse("Zoe\u{301}").unwrap().as_str(), "Zo\u{e9}");
        assert_eq!(Nickname::parse("Zo\u{e9}").unwrap().as_str(), "Zo\u{e9}");
        assert!(Nickname::parse(&"e\u{301}".repeat(20)).is_some());
        let r = Nickname::random();
        assert_eq!(r.as_str().len(), 6);
        assert!(r.as_str().bytes().all(|b| b.is_ascii_alphabetic()));
    }
}
