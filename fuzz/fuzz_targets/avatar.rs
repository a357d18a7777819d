//! Arbitrary bytes as an uploaded avatar, under the server's default limits but a small
//! output size (the fuzzer's time goes to decoding, not to resizing).
#![no_main]

use im_access::media::{process_avatar, AvatarLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = AvatarLimits {
        max_side: 8192,
        max_decode_bytes: 64 << 20,
        size: 64,
    };
    if let Ok(a) = process_avatar(data, limits) {
        assert!(a.width <= limits.size && a.height <= limits.size && a.width > 0);
        assert!(matches!(a.extension, "jpg" | "png"));
    }
});
