//! Avatars: type decided by the bytes, decoded under limits, turned upright, scaled to
//! fit a square and re-encoded, which leaves EXIF and every other metadata behind.

pub mod storage;

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::config::{LimitSettings, StorageSettings};
use crate::error::{ApiError, ApiResult, TooLarge, Unsupported};
use crate::store::rate::Limit;

#[derive(Clone, Copy, Debug)]
pub struct AvatarLimits {
    /// Largest width or height the header may claim.
    pub max_side: u32,
    /// Largest decoded image in bytes (and the decoder's allocation budget).
    pub max_decode_bytes: u64,
    /// Output fits this square.
    pub size: u32,
}

/// Avatar uploads as the server takes them: a budget per user, and a bound on the
/// decodes running at once (each may take a core and `max_decode_bytes` of memory, so
/// a flood of uploads must queue rather than take the machine).
pub struct Avatars {
    limits: AvatarLimits,
    decodes: Arc<tokio::sync::Semaphore>,
    decode_wait: Duration,
    uploads: u32,
    upload_window_secs: i64,
}

impl Avatars {
    pub fn new(storage: &StorageSettings, limits: &LimitSettings) -> Self {
        Avatars {
            limits: AvatarLimits {
                max_side: storage.max_avatar_side,
                max_decode_bytes: storage.max_decode_bytes,
                size: storage.avatar_size,
            },
            decodes: Arc::new(tokio::sync::Semaphore::new(storage.decode_concurrency)),
            decode_wait: Duration::from_millis(storage.decode_wait_ms),
            uploads: limits.avatar_uploads,
            upload_window_secs: i64::try_from(limits.avatar_window_secs).unwrap_or(i64::MAX),
        }
    }

    /// The limit one upload of `user_id` takes from (`store::rate`).
    pub fn upload_budget(&self, user_id: i64) -> Limit {
        Limit::new(
            format!("avatar:user:{user_id}"),
            self.upload_window_secs,
            self.uploads,
        )
    }

    /// `process_avatar` on a blocking thread once a decode slot is free; 503 with
    /// Retry-After when none frees up within the wait.
    pub async fn process(&self, bytes: Bytes) -> ApiResult<ProcessedAvatar> {
        let turn = tokio::time::timeout(self.decode_wait, self.decodes.clone().acquire_owned());
        let Ok(Ok(permit)) = turn.await else {
            return Err(ApiError::Busy {
                retry_after_secs: 1,
            });
        };
        let limits = self.limits;
        actix_web::web::block(move || {
            // Held until the decode ends, even if the client has gone meanwhile.
            let _permit = permit;
            process_avatar(&bytes, limits)
        })
        .await
        .map_err(|e| ApiError::internal("avatar worker failed", e))?
    }
}

#[derive(Clone, Debug)]
pub struct ProcessedAvatar {
    pub bytes: Vec<u8>,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
}

fn unsupported() -> ApiError {
    ApiError::UnsupportedMediaType(Unsupported::File)
}

/// CPU-bound: call from a blocking thread.
pub fn process_avatar(bytes: &[u8], limits: AvatarLimits) -> Result<ProcessedAvatar, ApiError> {
    let format = image::guess_format(bytes).map_err(|_| unsupported())?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(unsupported());
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_decode_bytes);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    // The header's claim is checked before a single pixel is allocated.
    if w == 0
        || h == 0
        || w > limits.max_side
        || h > limits.max_side
        || decoder.total_bytes() > limits.max_decode_bytes
    {
        return Err(ApiError::PayloadTooLarge(TooLarge::File));
    }
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);

    if img.width() > limits.size || img.height() > limits.size {
        img = img.resize(
            limits.size,
            limits.size,
            image::imageops::FilterType::CatmullRom,
        );
    }
    let has_alpha = img.color().has_alpha() && img.to_rgba8().pixels().any(|p| p.0[3] != 255);
    let mut out = Vec::new();
    let extension = if has_alpha {
        img.to_rgba8()
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(|e| ApiError::internal("avatar encoding failed", e))?;
        "png"
    } else {
        let rgb = img.to_rgb8();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        rgb.write_with_encoder(encoder)
            .map_err(|e| ApiError::internal("avatar encoding failed", e))?;
        "jpg"
    };
    Ok(ProcessedAvatar {
        bytes: out,
        extension,
        width: img.width(),
        height: img.height(),
    })
}

fn map_image_error(e: image::ImageError) -> ApiError {
    match e {
        image::ImageError::Limits(_) => ApiError::PayloadTooLarge(TooLarge::File),
        // Truncated, corrupt or a disguised other format: not an image we take.
        _ => unsupported(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AvatarLimits {
        AvatarLimits {
            max_side: 8192,
            max_decode_bytes: 64 << 20,
            size: 512,
        }
    }

    fn png(w: u32, h: u32, alpha: u8) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, alpha]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn large_images_are_scaled_to_fit() {
        let a = process_avatar(&png(1024, 512, 255), limits()).unwrap();
        assert_eq!((a.width, a.height), (512, 256));
        assert_eq!(a.extension, "jpg");
        let a = process_avatar(&png(100, 50, 128), limits()).unwrap();
        assert_eq!((a.width, a.height), (100, 50));
        assert_eq!(a.extension, "png");
    }

    #[test]
    fn non_images_are_unsupported() {
        assert!(matches!(
            process_avatar(b"hello world, this is text", limits()),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        // BMP is an image, but not one we take.
        assert!(matches!(
            process_avatar(
                b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00",
                limits()
            ),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        let mut truncated = png(64, 64, 255);
        truncated.truncate(60);
        assert!(matches!(
            process_avatar(&truncated, limits()),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }
}
