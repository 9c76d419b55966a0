//! QR codes: render an invitation's link code as SVG, read it back from camera frames.
//!
//! Rendering uses `qrcode` (error correction level M; the upper-case base32 link code fits
//! the compact alphanumeric mode). Reading uses `rqrr` on a greyscale copy of the frame, as
//! a camera (`getUserMedia` → canvas → `ImageData`) or a test hands it over.
//!
//! ```
//! use phantom_sync::drivers::qr;
//!
//! let svg = qr::render_svg("PHSYNC:HELLO")?;
//! assert!(svg.starts_with("<?xml"));
//! # Ok::<(), phantom_sync::drivers::qr::QrError>(())
//! ```

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use thiserror::Error;

/// Frames larger than this on either side are refused rather than allocated.
pub const MAX_FRAME_SIDE: u32 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    #[error("the text is too long for a QR code")]
    TooLong,
    #[error("a {width}×{height} frame needs {expected} bytes, got {found}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: usize,
        found: usize,
    },
    #[error(
        "a frame must be between 1 and {MAX_FRAME_SIDE} pixels on each side, got {width}×{height}"
    )]
    FrameDimensions { width: u32, height: u32 },
    #[error("no QR code was found in the frame")]
    NoCodeFound,
    #[error("a QR code was found but could not be read")]
    Unreadable,
}

impl QrError {
    pub fn code(&self) -> &'static str {
        match self {
            QrError::TooLong => "qr_too_long",
            QrError::FrameSize { .. } => "frame_size",
            QrError::FrameDimensions { .. } => "frame_dimensions",
            QrError::NoCodeFound => "no_qr_code",
            QrError::Unreadable => "qr_unreadable",
        }
    }
}

/// An SVG document showing `text` as a QR code with a quiet zone, at least 256 px wide.
pub fn render_svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| QrError::TooLong)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

/// Frames wider than this are read at half size first: most codes fill enough of a frame
/// to be read there, in about a quarter of the time, and only a frame with nothing read at
/// half size is read whole (a small code far from the camera).
const HALF_SIZE_ABOVE: u32 = 640;

/// Reads the QR codes in an RGBA frame (4 bytes per pixel, row by row, as in `ImageData`).
pub fn decode_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<String>, QrError> {
    check_frame(width, height, rgba.len(), 4)?;
    let luma: Vec<u8> = rgba
        .chunks_exact(4)
        .map(|px| {
            let weighted = 299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2]);
            (weighted / 1000) as u8
        })
        .collect();
    if width > HALF_SIZE_ABOVE {
        let (half_width, half_height, half) = half_size(width, height, &luma);
        if let Ok(texts) = decode_luma(half_width, half_height, &half) {
            return Ok(texts);
        }
    }
    decode_luma(width, height, &luma)
}

/// `luma` at half its width and height, each pixel the average of four.
fn half_size(width: u32, height: u32, luma: &[u8]) -> (u32, u32, Vec<u8>) {
    let (w, half_width, half_height) = (width as usize, width / 2, height / 2);
    let mut half = Vec::with_capacity(half_width as usize * half_height as usize);
    for y in 0..half_height as usize {
        for x in 0..half_width as usize {
            let at = |dx: usize, dy: usize| {
                u16::from(
                    luma.get((2 * y + dy) * w + 2 * x + dx)
                        .copied()
                        .unwrap_or(255),
                )
            };
            half.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4) as u8);
        }
    }
    (half_width, half_height, half)
}

/// Reads the QR codes in a greyscale frame (1 byte per pixel, row by row).
pub fn decode_luma(width: u32, height: u32, luma: &[u8]) -> Result<Vec<String>, QrError> {
    check_frame(width, height, luma.len(), 1)?;
    let w = width as usize;
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, height as usize, |x, y| {
        luma.get(y * w + x).copied().unwrap_or(255)
    });
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NoCodeFound);
    }
    let texts: Vec<String> = grids
        .iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect();
    if texts.is_empty() {
        Err(QrError::Unreadable)
    } else {
        Ok(texts)
    }
}

fn check_frame(width: u32, height: u32, len: usize, bytes_per_pixel: usize) -> Result<(), QrError> {
    if width == 0 || height == 0 || width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE {
        return Err(QrError::FrameDimensions { width, height });
    }
    let expected = width as usize * height as usize * bytes_per_pixel;
    if len != expected {
        return Err(QrError::FrameSize {
            width,
            height,
            expected,
            found: len,
        });
    }
    Ok(())
}
