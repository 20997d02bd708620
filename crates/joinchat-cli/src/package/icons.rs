//! The app's two icons, drawn here rather than kept as binary files: a speech
//! bubble with a plus ("join a chat"). `color.png` is 192×192, the white
//! bubble on the accent colour; `outline.png` is 32×32, the bubble's outline
//! in white on a transparent background, as Teams requires.

/// Teams' accent colour for the app (also the colour icon's background).
pub const ACCENT_HEX: &str = "#0F6CBD";
const ACCENT: [u8; 3] = [0x0F, 0x6C, 0xBD];
const WHITE: [u8; 3] = [0xFF, 0xFF, 0xFF];

/// Subsamples per pixel side, for smooth edges.
const SUPERSAMPLE: u32 = 4;

/// A shape in unit coordinates: (0, 0) top left, (1, 1) bottom right.
type Shape = fn(f32, f32) -> bool;

fn rounded_rect(x: f32, y: f32, (x0, y0, x1, y1): (f32, f32, f32, f32), r: f32) -> bool {
    if x < x0 || x > x1 || y < y0 || y > y1 {
        return false;
    }
    let cx = x.clamp(x0 + r, x1 - r);
    let cy = y.clamp(y0 + r, y1 - r);
    (x - cx).powi(2) + (y - cy).powi(2) <= r * r
}

/// Inside the triangle (a, b, c), by the signs of the three edge functions.
fn triangle(x: f32, y: f32, [a, b, c]: [(f32, f32); 3]) -> bool {
    let edge =
        |(x0, y0): (f32, f32), (x1, y1): (f32, f32)| (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0);
    let (d0, d1, d2) = (edge(a, b), edge(b, c), edge(c, a));
    (d0 >= 0.0 && d1 >= 0.0 && d2 >= 0.0) || (d0 <= 0.0 && d1 <= 0.0 && d2 <= 0.0)
}

const BODY: (f32, f32, f32, f32) = (0.12, 0.16, 0.88, 0.70);
const BODY_RADIUS: f32 = 0.14;
const TAIL: [(f32, f32); 3] = [(0.22, 0.64), (0.42, 0.64), (0.18, 0.88)];
const STROKE: f32 = 0.085;

fn bubble(x: f32, y: f32) -> bool {
    rounded_rect(x, y, BODY, BODY_RADIUS) || triangle(x, y, TAIL)
}

fn bubble_inside(x: f32, y: f32) -> bool {
    let (x0, y0, x1, y1) = BODY;
    let inner = (x0 + STROKE, y0 + STROKE, x1 - STROKE, y1 - STROKE);
    rounded_rect(x, y, inner, BODY_RADIUS - STROKE)
}

fn plus(x: f32, y: f32) -> bool {
    let (cx, cy, arm, half) = (0.5, 0.43, 0.15, 0.045);
    let across = (x - cx).abs() <= arm && (y - cy).abs() <= half;
    let down = (x - cx).abs() <= half && (y - cy).abs() <= arm;
    across || down
}

fn outline(x: f32, y: f32) -> bool {
    (bubble(x, y) && !bubble_inside(x, y)) || plus(x, y)
}

/// How much of pixel (px, py) of a `size`-pixel square the shape covers, 0 to 1.
fn coverage(shape: Shape, size: u32, px: u32, py: u32) -> f32 {
    let n = SUPERSAMPLE;
    let mut hits = 0;
    for sy in 0..n {
        for sx in 0..n {
            let x = (px as f32 + (sx as f32 + 0.5) / n as f32) / size as f32;
            let y = (py as f32 + (sy as f32 + 0.5) / n as f32) / size as f32;
            hits += u32::from(shape(x, y));
        }
    }
    hits as f32 / (n * n) as f32
}

fn mix(from: [u8; 3], to: [u8; 3], amount: f32) -> [u8; 3] {
    let channel =
        |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * amount).round() as u8;
    [
        channel(from[0], to[0]),
        channel(from[1], to[1]),
        channel(from[2], to[2]),
    ]
}

/// The 192×192 colour icon (RGB): a white bubble and an accent plus on the accent colour.
pub fn color_png() -> Vec<u8> {
    const SIZE: u32 = 192;
    let mut pixels = Vec::with_capacity((SIZE * SIZE * 3) as usize);
    for py in 0..SIZE {
        for px in 0..SIZE {
            let on_bubble = mix(ACCENT, WHITE, coverage(bubble, SIZE, px, py));
            pixels.extend(mix(on_bubble, ACCENT, coverage(plus, SIZE, px, py)));
        }
    }
    encode(SIZE, png::ColorType::Rgb, &pixels)
}

/// The 32×32 outline icon (RGBA): white only, transparent everywhere else.
pub fn outline_png() -> Vec<u8> {
    const SIZE: u32 = 32;
    let mut pixels = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    for py in 0..SIZE {
        for px in 0..SIZE {
            let alpha = (coverage(outline, SIZE, px, py) * 255.0).round() as u8;
            pixels.extend([0xFF, 0xFF, 0xFF, alpha]);
        }
    }
    encode(SIZE, png::ColorType::Rgba, &pixels)
}

fn encode(size: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("a PNG header fits in memory");
    writer
        .write_image_data(pixels)
        .expect("the pixels match the header");
    writer.finish().expect("a PNG fits in memory");
    out
}
