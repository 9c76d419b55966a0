//! QR codes: render an invitation's link code as SVG, read it back from camera frames.
//!
//! Rendering uses `qrcode` (error correction level M; the upper-case base32 link code fits
//! the compact alphanumeric mode). Reading uses `rqrr` (patched: `third_party/rqrr`) on a
//! greyscale copy of the frame, as a camera (`getUserMedia` → canvas → `ImageData`) or a
//! test hands it over: a wide frame at half size first, then whole, then a second look at
//! a code seen but not read (enlarged when small, sharpened when blurred). What is seen
//! but not read is a [`Sighting`]: where it lies, and whether to move closer or hold still.
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
const HALF_SIZE_ABOVE: usize = 640;

/// Below this many frame pixels per module, the reader needs the code larger: the person
/// should bring the camera closer rather than hold it still.
const CLOSER_BELOW_MODULE_PX: f32 = 3.0;

/// A second look enlarges a code with smaller modules to about this many pixels a module.
const ENLARGED_MODULE_PX: f32 = 10.0;

/// A second look never makes a picture larger than this many pixels.
const MAX_SECOND_LOOK_PIXELS: f32 = 1_048_576.0;

/// What the reader made of one frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameReading {
    /// The texts of the codes read.
    pub texts: Vec<String>,
    /// Where a code was seen that could not be read (yet), when nothing was read.
    pub unread: Option<Sighting>,
}

/// A code seen in a frame but not read: where it lies and what would help read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// Its corners in frame pixels, clockwise from top-left (or the box around the
    /// finder patterns seen, when no whole code was located).
    pub corners: [(f32, f32); 4],
    /// Whether a whole code was located, not only some of its finder patterns.
    pub located: bool,
    /// Frame pixels per module, from the widest finder pattern (7 modules wide).
    pub module_px: f32,
}

impl Sighting {
    /// What the person holding the camera can do: come closer while the modules are
    /// too few pixels wide, else hold still.
    pub fn hint(&self) -> ScanHint {
        if self.module_px < CLOSER_BELOW_MODULE_PX {
            ScanHint::MoveCloser
        } else {
            ScanHint::HoldStill
        }
    }
}

/// Advice for a code seen but not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanHint {
    /// The code's modules are too few pixels wide.
    MoveCloser,
    /// The code is large enough; blur, glare or motion spoil it.
    HoldStill,
}

impl ScanHint {
    /// A stable code for JS.
    pub fn code(self) -> &'static str {
        match self {
            ScanHint::MoveCloser => "move_closer",
            ScanHint::HoldStill => "hold_still",
        }
    }
}

/// Reads the QR codes in an RGBA frame (4 bytes per pixel, row by row, as in `ImageData`).
pub fn decode_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<String>, QrError> {
    into_texts(read_rgba(width, height, rgba)?)
}

/// Reads an RGBA frame as [`decode_rgba`] does, and says where a code it could not read
/// lies, so that a scan screen can point at it.
pub fn read_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<FrameReading, QrError> {
    check_frame(width, height, rgba.len(), 4)?;
    let (width, height) = (width as usize, height as usize);
    // The half-size copy straight from the colours: most frames are read there, and never
    // need the whole frame in grey.
    let half = (width > HALF_SIZE_ABOVE).then(|| {
        let weight_at = |x: usize, y: usize| rgba_weight(rgba, y * width + x);
        Luma::from_fn(width / 2, height / 2, |x, y| {
            let (x, y) = (2 * x, 2 * y);
            let four = weight_at(x, y)
                + weight_at(x + 1, y)
                + weight_at(x, y + 1)
                + weight_at(x + 1, y + 1);
            (four / 4000) as u8
        })
    });
    Ok(read_frame(half, || {
        Luma::from_fn(width, height, |x, y| {
            (rgba_weight(rgba, y * width + x) / 1000) as u8
        })
    }))
}

/// A thousand times the grey of pixel `index` of an RGBA frame (white past its end).
fn rgba_weight(rgba: &[u8], index: usize) -> u32 {
    match rgba.get(4 * index..4 * index + 3) {
        Some(&[r, g, b]) => 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b),
        _ => 255_000,
    }
}

/// Reads the QR codes in a greyscale frame (1 byte per pixel, row by row).
pub fn decode_luma(width: u32, height: u32, luma: &[u8]) -> Result<Vec<String>, QrError> {
    check_frame(width, height, luma.len(), 1)?;
    let frame = Luma {
        width: width as usize,
        height: height as usize,
        pixels: luma.to_vec(),
    };
    let half = (frame.width > HALF_SIZE_ABOVE).then(|| frame.half());
    into_texts(read_frame(half, || frame))
}

fn into_texts(reading: FrameReading) -> Result<Vec<String>, QrError> {
    match reading.unread {
        _ if !reading.texts.is_empty() => Ok(reading.texts),
        Some(Sighting { located: true, .. }) => Err(QrError::Unreadable),
        _ => Err(QrError::NoCodeFound),
    }
}

/// A wide frame at half size first (`half`), then whole; then a second look at a code
/// seen but not read.
fn read_frame(half: Option<Luma>, whole: impl FnOnce() -> Luma) -> FrameReading {
    let mut at_half = None;
    if let Some(half) = half {
        let reading = read_picture(&half, 2.0);
        if !reading.texts.is_empty() {
            return reading;
        }
        at_half = Some(reading);
    }
    let frame = whole();
    let mut reading = read_picture(&frame, 1.0);
    if reading.texts.is_empty() && reading.unread.is_none() {
        reading = at_half.unwrap_or(reading);
    }
    if let Some(seen) = &reading.unread {
        let texts = read_picture(&second_look(&frame, seen), 1.0).texts;
        if !texts.is_empty() {
            return FrameReading {
                texts,
                unread: None,
            };
        }
    }
    reading
}

/// The area around a code seen but not read, as a reader sees it better: enlarged when its
/// modules are a few pixels wide; else sharpened (an unsharp mask half a module wide),
/// since blur is what most often spoils a code large enough.
fn second_look(frame: &Luma, seen: &Sighting) -> Luma {
    let (left, top, right, bottom) = bounding_box(seen.corners);
    // The quiet zone, and a corner a poorly fitted grid may have cut off.
    let margin = (right - left).max(bottom - top) / 4.0 + 4.0;
    let left = (left - margin).max(0.0) as usize;
    let top = (top - margin).max(0.0) as usize;
    let right = ((right + margin).max(0.0) as usize).min(frame.width);
    let bottom = ((bottom + margin).max(0.0) as usize).min(frame.height);
    let (width, height) = (right.saturating_sub(left), bottom.saturating_sub(top));
    if seen.hint() == ScanHint::MoveCloser {
        let most = (MAX_SECOND_LOOK_PIXELS / (width * height).max(1) as f32).sqrt();
        let factor = (ENLARGED_MODULE_PX / seen.module_px.max(0.5))
            .clamp(2.0, 4.0)
            .min(most)
            .max(1.0);
        frame.crop(left, top, width, height, factor)
    } else {
        let radius = (seen.module_px / 2.0).round().max(1.0) as usize;
        frame.crop(left, top, width, height, 1.0).sharpened(radius)
    }
}

/// A greyscale picture: a frame, half of one, or an area of one.
struct Luma {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Luma {
    /// A `width` × `height` picture whose pixel at `(x, y)` is `pixel(x, y)`.
    fn from_fn(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> Self {
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                pixels.push(pixel(x, y));
            }
        }
        Luma {
            width,
            height,
            pixels,
        }
    }

    /// The pixel at `(x, y)`; white outside the picture.
    fn at(&self, x: usize, y: usize) -> u8 {
        if x < self.width {
            self.pixels.get(y * self.width + x).copied().unwrap_or(255)
        } else {
            255
        }
    }

    /// The picture at half its width and height, each pixel the average of four.
    fn half(&self) -> Luma {
        Luma::from_fn(self.width / 2, self.height / 2, |x, y| {
            let at = |dx: usize, dy: usize| u16::from(self.at(2 * x + dx, 2 * y + dy));
            ((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4) as u8
        })
    }

    /// The `width` × `height` area at `(left, top)`, `factor` times larger, each pixel
    /// interpolated between the four nearest.
    fn crop(&self, left: usize, top: usize, width: usize, height: usize, factor: f32) -> Luma {
        let (out_width, out_height) = (
            (width as f32 * factor) as usize,
            (height as f32 * factor) as usize,
        );
        Luma::from_fn(out_width, out_height, |x, y| {
            let (source_x, source_y) = (
                left as f32 + x as f32 / factor,
                top as f32 + y as f32 / factor,
            );
            let (x0, fx, y0, fy) = (
                source_x as usize,
                source_x.fract(),
                source_y as usize,
                source_y.fract(),
            );
            let at = |dx: usize, dy: usize| f32::from(self.at(x0 + dx, y0 + dy));
            ((at(0, 0) * (1.0 - fx) + at(1, 0) * fx) * (1.0 - fy)
                + (at(0, 1) * (1.0 - fx) + at(1, 1) * fx) * fy) as u8
        })
    }

    /// Each pixel pushed away from the mean of the square `radius` pixels around it, by
    /// twice its difference from that mean: edges a blur softened stand out again.
    fn sharpened(&self, radius: usize) -> Luma {
        let stride = self.width + 1;
        // Sums of the rectangle above and left of each pixel, for the squares' means.
        let mut sums = vec![0_u64; stride * (self.height + 1)];
        for y in 0..self.height {
            let mut row = 0_u64;
            for x in 0..self.width {
                row += u64::from(self.at(x, y));
                let above = sums.get(y * stride + x + 1).copied().unwrap_or(0);
                if let Some(cell) = sums.get_mut((y + 1) * stride + x + 1) {
                    *cell = above + row;
                }
            }
        }
        let sum_at = |x: usize, y: usize| sums.get(y * stride + x).copied().unwrap_or(0);
        Luma::from_fn(self.width, self.height, |x, y| {
            let (top, bottom) = (y.saturating_sub(radius), (y + radius + 1).min(self.height));
            let (left, right) = (x.saturating_sub(radius), (x + radius + 1).min(self.width));
            let total = sum_at(right, bottom) + sum_at(left, top)
                - sum_at(left, bottom)
                - sum_at(right, top);
            let mean = total as f32 / ((bottom - top) * (right - left)) as f32;
            let value = f32::from(self.at(x, y));
            (value + 2.0 * (value - mean)).clamp(0.0, 255.0) as u8
        })
    }
}

/// Reads a picture drawn at `1 / scale` of the frame's size; corners are given in the
/// frame's pixels.
fn read_picture(picture: &Luma, scale: f32) -> FrameReading {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(picture.width, picture.height, |x, y| {
            picture.at(x, y)
        });
    let reading = prepared.read_codes();
    let mut texts = Vec::new();
    let mut unread_bounds = None;
    for code in reading.codes {
        match code.content {
            Ok((_, text)) => texts.push(text),
            Err(_) => unread_bounds = unread_bounds.or(Some(code.bounds)),
        }
    }
    let unread = if !texts.is_empty() {
        None
    } else {
        sighting(&reading.capstones, unread_bounds, scale)
    };
    FrameReading { texts, unread }
}

/// Where an unread code lies, from its located corners or else the finder patterns
/// seen, and whether it is too small: a finder pattern is 7 modules wide.
fn sighting(
    capstones: &[[rqrr::Point; 4]],
    located: Option<[rqrr::Point; 4]>,
    scale: f32,
) -> Option<Sighting> {
    let point = |p: &rqrr::Point| (p.x as f32 * scale, p.y as f32 * scale);
    let side = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
    let widest = capstones
        .iter()
        .map(|corners| {
            let [a, b, c, d] = corners.map(|p| point(&p));
            (side(a, b) + side(b, c) + side(c, d) + side(d, a)) / 4.0
        })
        .fold(0.0_f32, f32::max);
    let corners = match located {
        Some(bounds) => {
            // The three corners with a capstone are where the capstones are; the fourth
            // comes from a perspective fitted to a grid that did not read, and strays: it
            // is taken as the parallelogram's instead.
            let [top_left, top_right, _, bottom_left] = bounds.map(|p| point(&p));
            let bottom_right = (
                top_right.0 + bottom_left.0 - top_left.0,
                top_right.1 + bottom_left.1 - top_left.1,
            );
            [top_left, top_right, bottom_right, bottom_left]
        }
        // One finder pattern alone is as often a pattern in the room as a code.
        None if capstones.len() < 2 => return None,
        None => {
            let (left, top, right, bottom) = bounding_box(capstones.iter().flatten().map(point));
            [(left, top), (right, top), (right, bottom), (left, bottom)]
        }
    };
    Some(Sighting {
        corners,
        located: located.is_some(),
        module_px: widest / 7.0,
    })
}

/// The smallest upright box holding `points`: left, top, right, bottom.
fn bounding_box(points: impl IntoIterator<Item = (f32, f32)>) -> (f32, f32, f32, f32) {
    points.into_iter().fold(
        (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
        |(left, top, right, bottom), (x, y)| (left.min(x), top.min(y), right.max(x), bottom.max(y)),
    )
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
