//! Device types and ids of sign-in.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Web,
    H5,
    Android,
    Ios,
}

impl Device {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "web" => Some(Device::Web),
            "h5" => Some(Device::H5),
            "android" => Some(Device::Android),
            "ios" => Some(Device::Ios),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Device::Web => "web",
            Device::H5 => "h5",
            Device::Android => "android",
            Device::Ios => "ios",
        }
    }

    /// Apps identify their install; browsers may not.
    pub fn requires_device_id(self) -> bool {
        matches!(self, Device::Android | Device::Ios)
    }
}

/// Up to 128 printable ASCII characters.
pub fn valid_device_id(s: &str) -> bool {
    s.len() <= 128 && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(Device::parse("android"), Some(Device::Android));
        assert_eq!(Device::parse("IOS"), Some(Device::Ios));
        assert_eq!(Device::parse("tv"), None);
        assert!(Device::Android.requires_device_id());
        assert!(!Device::Web.requires_device_id());
        assert!(valid_device_id("qbfkdvkjdckci"));
        assert!(!valid_device_id(&"a".repeat(129)));
        assert!(!valid_device_id("a\nb"));
    }
}
