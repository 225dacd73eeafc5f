//! The activation code as a QR code (what an operator prints or shows to a phone): SVG from
//! the `qrcode` crate's renderer, PNG from its module matrix through the `png` encoder.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone around the symbol (ISO/IEC 18004 asks for 4).
const QUIET: usize = 4;
/// Pixels per module in the PNG.
const SCALE: usize = 8;

fn code(text: &str) -> Result<QrCode, qrcode::types::QrError> {
    // Level M, as the GSMA's activation-code QR examples use.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
}

/// An SVG image of `text`.
pub fn svg(text: &str) -> Result<String, qrcode::types::QrError> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .build())
}

/// A greyscale PNG of `text`.
pub fn png(text: &str) -> Result<Vec<u8>, String> {
    let code = code(text).map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![0xFFu8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}
