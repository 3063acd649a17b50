//! Property tests over every parser of untrusted input: pixel readers, MJPEG and still image
//! headers, recordings, model metadata and sidecars, threshold values. Each tries many
//! inputs of its class (huge or hostile sizes, cut files, flipped bytes, unknown keys,
//! out-of-range numbers) and checks the answer is a clean result or a clean error, within
//! the limits of `ssd_edge::limits`.

mod support;

use proptest::prelude::*;
use ssd_edge::frame::{Frame, PixelFormat};
use ssd_edge::image::formats::{dispatch, FormatScratch, PixelReader, ReaderVisitor};
use ssd_edge::image::{mjpeg, still, yuv};
use ssd_edge::limits::{self, MAX_FRAME_PIXELS};
use ssd_edge::model::meta::{check_threshold, parse_threshold, MAX_VARIANCE};
use ssd_edge::model::{MetaError, ModelMeta};
use ssd_edge::source::replay::{Recorder, Replay};
use ssd_edge::source::FrameSource;
use std::io::Cursor;
use std::time::Duration;

const FORMATS: [PixelFormat; 6] = [
    PixelFormat::Rgb24,
    PixelFormat::Bgr24,
    PixelFormat::Grey,
    PixelFormat::Yuyv,
    PixelFormat::Nv12,
    PixelFormat::Mjpg,
];

/// Reads every pixel, so a reader that accepted a frame too short for its size would panic.
struct ReadAll;
impl ReaderVisitor for ReadAll {
    type Output = u64;
    fn visit<R: PixelReader>(self, r: &R) -> u64 {
        let mut sum = 0u64;
        for y in 0..r.height() as usize {
            for x in 0..r.width() as usize {
                sum += r.rgb(x, y).iter().map(|&v| u64::from(v)).sum::<u64>();
            }
        }
        sum
    }
}

/// Sizes with the values that break naive arithmetic: 0, 1, odd, 2^16, u32::MAX.
fn side() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..40,
        Just(65535),
        Just(65536),
        Just(1 << 20),
        Just(u32::MAX),
        Just(u32::MAX / 3),
        any::<u32>(),
    ]
}

fn small_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn small_png(w: u32, h: u32) -> (image::RgbImage, Vec<u8>) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 3) as u8, 7]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    (img, out.into_inner())
}

/// Rewrites a baseline JPEG's SOF0 frame size.
fn patch_jpeg_size(jpeg: &mut [u8], w: u16, h: u16) {
    let sof = jpeg
        .windows(2)
        .position(|p| p == [0xFF, 0xC0])
        .expect("baseline JPEG");
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Rewrites a PNG's IHDR size (and its CRC, so the decoder believes it).
fn patch_png_size(png: &mut [u8], w: u32, h: u32) {
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, 5 more bytes, CRC.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any declared size with any number of bytes: a reader either reads every pixel of a
    /// frame within the limit, or refuses it.
    #[test]
    fn pixel_readers_take_any_size(
        format in prop::sample::select(FORMATS.to_vec()),
        width in side(),
        height in side(),
        data in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let frame = Frame { data: &data, format, width, height, timestamp_us: 0 };
        let mut scratch = FormatScratch::default();
        if dispatch(&frame, &mut scratch, ReadAll).is_ok() {
            prop_assert!(u64::from(width) * u64::from(height) <= MAX_FRAME_PIXELS);
        }
        match yuv::frame_len(format, width, height) {
            Ok(Some(len)) => {
                prop_assert!(u64::from(width) * u64::from(height) <= MAX_FRAME_PIXELS);
                prop_assert!(len as u64 <= MAX_FRAME_PIXELS * 3);
            }
            Ok(None) => prop_assert_eq!(format, PixelFormat::Mjpg),
            Err(_) => prop_assert!(u64::from(width) * u64::from(height) > MAX_FRAME_PIXELS),
        }
    }

    /// A real JPEG whose header declares any size up to 65535x65535: decoded when within
    /// the limit, refused before any allocation when over it.
    #[test]
    fn mjpeg_headers_cannot_make_us_allocate(
        (w, h) in prop_oneof![
            (1u16..64, 1u16..64),
            (4096u16..=65535, 8193u16..=65535),
            (8193u16..=65535, 4096u16..=65535),
        ],
    ) {
        let mut jpeg = small_jpeg(16, 16);
        patch_jpeg_size(&mut jpeg, w, h);
        let mut out = Vec::new();
        let r = mjpeg::decode_rgb(&jpeg, (0, 0), (65535, 65535), &mut out);
        let over = u64::from(w) * u64::from(h) > MAX_FRAME_PIXELS;
        if over {
            prop_assert!(matches!(r, Err(mjpeg::MjpegError::OverLimit(_))), "{:?}", r);
        }
        prop_assert!(out.len() as u64 <= MAX_FRAME_PIXELS * 3);
    }

    /// A PNG declaring any size: over the limit it is refused from its header alone.
    #[test]
    fn png_headers_cannot_make_us_allocate(w in 1u32..=200_000, h in 1u32..=200_000) {
        let (_, mut png) = small_png(4, 4);
        patch_png_size(&mut png, w, h);
        let r = still::decode_rgb(&png);
        if u64::from(w) * u64::from(h) > MAX_FRAME_PIXELS {
            prop_assert!(matches!(r, Err(still::Problem::TooLarge(_))), "{:?}", r.err());
        }
    }

    /// Arbitrary bytes as a still image or an MJPEG frame, bare or behind a real format's
    /// magic (so each decoder's parser runs, not only the format guess): an error, never a
    /// panic nor a picture. (Random bytes that happen to form a valid image are far less
    /// likely than 2^-32 for these headers and lengths.)
    #[test]
    fn garbage_images_are_errors(
        magic in prop::sample::select(vec![
            &b""[..], b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"P6\n",
        ]),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let data = [magic, &tail[..]].concat();
        let still = still::decode_rgb(&data);
        prop_assert!(still.is_err(), "{} bytes decoded as a still image", data.len());
        let mut out = Vec::new();
        let frame = mjpeg::decode_rgb(&data, (0, 0), (64, 64), &mut out);
        prop_assert!(frame.is_err(), "{} bytes decoded as an MJPEG frame: {frame:?}", data.len());
    }

    /// A score threshold parses only as a finite number in [0, 1], from any string.
    #[test]
    fn thresholds_parse_in_range_only(s in prop_oneof![
        any::<String>(),
        any::<f32>().prop_map(|v| v.to_string()),
        (-2.0f64..2.0).prop_map(|v| v.to_string()),
        Just("NaN".to_string()), Just("inf".to_string()), Just("-0".to_string()),
    ]) {
        match parse_threshold(&s) {
            Ok(t) => {
                prop_assert!(t.is_finite() && (0.0..=1.0).contains(&t));
                prop_assert_eq!(Some(t), s.trim().parse::<f32>().ok());
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}

/// Every cut of a JPEG is refused (the decoder would fill the rest with grey); every cut of
/// a PNG is refused or decodes to the complete picture.
#[test]
fn cut_images_are_never_silently_partial() {
    let jpeg = small_jpeg(32, 24);
    for cut in 0..jpeg.len() {
        assert!(
            still::decode_rgb(&jpeg[..cut]).is_err(),
            "JPEG cut at {cut} of {} decoded",
            jpeg.len()
        );
        let mut out = Vec::new();
        assert!(mjpeg::decode_rgb(&jpeg[..cut], (0, 0), (64, 64), &mut out).is_err());
    }
    let (img, png) = small_png(32, 24);
    for cut in 0..png.len() {
        if let Ok(s) = still::decode_rgb(&png[..cut]) {
            assert_eq!(s.image, img, "PNG cut at {cut} decoded to another picture");
        }
    }
}

/// A recording of three small frames of different formats.
fn recording() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.rec");
    let mut rec = Recorder::create(&path).unwrap();
    let rgb = [100u8; 4 * 3 * 3];
    let yuyv = [128u8; 4 * 2 * 2];
    let jpeg = small_jpeg(8, 8);
    for (i, (format, w, h, data)) in [
        (PixelFormat::Rgb24, 4, 3, &rgb[..]),
        (PixelFormat::Yuyv, 4, 2, &yuyv[..]),
        (PixelFormat::Mjpg, 8, 8, &jpeg[..]),
    ]
    .into_iter()
    .enumerate()
    {
        let frame = Frame {
            data,
            format,
            width: w,
            height: h,
            timestamp_us: i as u64,
        };
        rec.write(&frame).unwrap();
    }
    assert_eq!(rec.finish().unwrap(), 3);
    std::fs::read(&path).unwrap()
}

/// Plays a recording to its end as `run` would (each frame through the pixel readers);
/// returns the frames played. Fails if playback does not end.
fn play(bytes: &[u8]) -> Result<u64, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.rec");
    std::fs::write(&path, bytes).unwrap();
    let mut replay = Replay::open(&path).map_err(|e| e.to_string())?;
    let mut scratch = FormatScratch::default();
    let mut played = 0;
    for _ in 0..=replay.len() + 1 {
        match replay.next_frame(Duration::from_millis(10)) {
            Ok(Some(frame)) => {
                assert!(u64::from(frame.width) * u64::from(frame.height) <= MAX_FRAME_PIXELS);
                let _ = dispatch(&frame, &mut scratch, ReadAll);
                played += 1;
            }
            Ok(None) => return Ok(played),
            Err(e) => return Err(e.to_string()),
        }
    }
    panic!("playback did not end after {} frames", replay.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A recording cut anywhere and with bytes flipped anywhere plays what is intact and
    /// then stops with an error; never a panic, a hang or an oversized buffer.
    #[test]
    fn damaged_recordings_play_or_fail_cleanly(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = recording();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let len = cut.index(bytes.len() + 1);
        let _ = play(&bytes[..len]);
    }

    /// Any frame size in a record header: refused when over the limit (this used to
    /// overflow `w * h * 3`, and wrap on 32-bit), played otherwise.
    #[test]
    fn recorded_frame_sizes_are_bounded(width in side(), height in side(), which in 0usize..3) {
        let mut bytes = recording();
        // Frame headers: 16-byte file header, then 32-byte headers before each payload.
        let mut at = 16usize;
        for _ in 0..which {
            let len = u32::from_le_bytes(bytes[at + 24..at + 28].try_into().unwrap()) as usize;
            at += 32 + len;
        }
        bytes[at + 8..at + 12].copy_from_slice(&width.to_le_bytes());
        bytes[at + 12..at + 16].copy_from_slice(&height.to_le_bytes());
        let r = play(&bytes);
        if u64::from(width) * u64::from(height) > MAX_FRAME_PIXELS {
            let e = r.unwrap_err();
            prop_assert!(e.contains("frame size limit"), "{}", e);
        }
    }
}

fn props() -> Vec<(String, String)> {
    support::tiny_meta().to_metadata_props()
}

fn with_prop(
    props: &[(String, String)],
    key: &str,
    mut f: impl FnMut(&mut serde_json::Value),
) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| {
            if k == key {
                let mut value: serde_json::Value = serde_json::from_str(v).unwrap();
                f(&mut value);
                (k.clone(), value.to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

const TABLES: [&str; 4] = ["priors", "priors.scales", "variances", "nms"];

fn table<'a>(
    root: &'a mut serde_json::Value,
    path: &str,
) -> &'a mut serde_json::Map<String, serde_json::Value> {
    let mut v = root;
    for part in path.split('.') {
        v = v.get_mut(part).unwrap();
    }
    v.as_object_mut().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A key a table does not know (a typo: `step` for `steps`) is an error naming it, in
    /// metadata_props and in a sidecar alike.
    #[test]
    fn unknown_table_keys_are_errors(which in 0usize..4, key in "[a-z][a-z_]{0,11}") {
        let path = TABLES[which];
        // metadata_props: one JSON object per top-level field.
        let (field, inner) = path.split_once('.').map_or((path, None), |(a, b)| (a, Some(b)));
        let mut base: serde_json::Value = serde_json::from_str(
            &props().iter().find(|(k, _)| *k == format!("ssd_edge.{field}")).unwrap().1,
        ).unwrap();
        let t = match inner { Some(i) => table(&mut base, i), None => base.as_object_mut().unwrap() };
        prop_assume!(!t.contains_key(&key));
        let edited = with_prop(&props(), &format!("ssd_edge.{field}"), |v| {
            let t = match inner { Some(i) => table(v, i), None => v.as_object_mut().unwrap() };
            t.insert(key.clone(), serde_json::json!(1));
        });
        let e = ModelMeta::from_metadata_props(&edited).unwrap_err().to_string();
        prop_assert!(e.contains(&format!("`{key}`")), "{}", e);

        // Sidecar TOML.
        let mut doc: toml::Table = toml::from_str(&support::tiny_meta().to_toml_string()).unwrap();
        let mut t = &mut doc;
        for part in path.split('.') {
            t = t.get_mut(part).unwrap().as_table_mut().unwrap();
        }
        t.insert(key.clone(), toml::Value::Integer(1));
        let e = ModelMeta::from_toml_str(&toml::to_string(&doc).unwrap()).unwrap_err().to_string();
        prop_assert!(e.contains(&format!("`{key}`")), "{}", e);
    }

    /// A repeated `ssd_edge.*` key is an error, whichever it is.
    #[test]
    fn duplicate_keys_are_errors(which in any::<prop::sample::Index>()) {
        let mut p = props();
        let dup = p[which.index(p.len())].clone();
        p.push(dup.clone());
        let e = ModelMeta::from_metadata_props(&p).unwrap_err();
        prop_assert!(matches!(&e, MetaError::DuplicateKey { key } if *key == dup.0), "{}", e);
    }

    /// NMS settings, variances and thresholds: accepted exactly when they make sense, the
    /// same way from a sidecar as from a struct; what is accepted is finite.
    #[test]
    fn decoder_numbers_are_validated(
        iou in prop_oneof![any::<f32>(), -1.0f32..2.0, Just(f32::NAN), Just(0.0), Just(1.0)],
        score in prop_oneof![any::<f32>(), -1.0f32..2.0, Just(f32::INFINITY)],
        top_k in prop_oneof![Just(0usize), 1usize..500],
        keep in prop_oneof![Just(0usize), 1usize..500],
        center in prop_oneof![any::<f32>(), 0.0f32..20.0, Just(f32::INFINITY), Just(-0.1)],
        size in prop_oneof![any::<f32>(), 0.0f32..20.0, Just(f32::NAN)],
        detect in prop_oneof![any::<f32>(), -1.0f32..2.0],
    ) {
        let mut m = support::tiny_meta();
        m.nms.iou_threshold = iou;
        m.nms.score_threshold = score;
        m.nms.top_k = top_k;
        m.nms.keep_top_k = keep;
        m.variances.center = center;
        m.variances.size = size;
        m.detection_threshold = detect;
        let var_ok = |v: f32| v.is_finite() && v > 0.0 && v <= MAX_VARIANCE;
        let valid = iou.is_finite() && iou > 0.0 && iou <= 1.0
            && check_threshold(score).is_ok()
            && check_threshold(detect).is_ok()
            && top_k > 0 && keep > 0
            && var_ok(center) && var_ok(size);
        prop_assert_eq!(m.validate().is_ok(), valid);
        let parsed = ModelMeta::from_toml_str(&m.to_toml_string());
        prop_assert_eq!(parsed.is_ok(), valid, "{:?}", parsed.err());
        if let Ok(p) = parsed {
            prop_assert!([p.nms.iou_threshold, p.nms.score_threshold, p.variances.center, p.variances.size]
                .iter().all(|v| v.is_finite()));
        }
    }

    /// classes x priors is bounded before the decoder sizes its buffers from it.
    #[test]
    fn classes_times_priors_is_bounded(classes in 2usize..70_000, map in 1usize..128) {
        let mut m = support::tiny_meta();
        m.labels = (0..classes).map(|k| format!("c{k}")).collect();
        m.priors.grid_mut().unwrap().feature_maps = vec![map];
        m.priors.grid_mut().unwrap().steps = None;
        let scores = (map * map * 2) as u64 * classes as u64;
        let ok = classes <= limits::MAX_CLASSES && scores <= limits::MAX_CLASS_SCORES;
        prop_assert_eq!(m.validate().is_ok(), ok, "{:?}", m.validate().err());
    }

    /// Garbage in any metadata value: an error naming the key, never a panic.
    #[test]
    fn garbage_metadata_values_are_errors(which in any::<prop::sample::Index>(), value in any::<String>()) {
        let mut p = props();
        let i = which.index(p.len());
        p[i].1 = value;
        let _ = ModelMeta::from_metadata_props(&p);
    }
}

#[test]
fn schema_version_zero_is_invalid_not_newer() {
    let p = with_prop(&props(), "ssd_edge.schema_version", |v| {
        *v = serde_json::json!(0)
    });
    let e = ModelMeta::from_metadata_props(&p).unwrap_err().to_string();
    assert!(e.contains("invalid") && !e.contains("newer"), "{e}");
    let toml = support::tiny_meta().to_toml_string().replace(
        &format!("schema_version = {}", ssd_edge::model::meta::SCHEMA_VERSION),
        "schema_version = 0",
    );
    let e = ModelMeta::from_toml_str(&toml).unwrap_err().to_string();
    assert!(e.contains("invalid") && !e.contains("newer"), "{e}");
}

#[test]
fn oversized_frames_in_all_forms_are_refused() {
    // The recording from the issue: a header declaring 4294967295x4294967295.
    let mut bytes = recording();
    bytes[24..32].copy_from_slice(&[0xFF; 8]);
    let e = play(&bytes).unwrap_err();
    assert!(
        e.contains("4294967295x4294967295") && e.contains("byte offset 16"),
        "{e}"
    );
    // 65536x65536 is 2^32 pixels: a usize product wraps to 0 on 32-bit.
    assert!(yuv::frame_len(PixelFormat::Grey, 65536, 65536).is_err());
    assert!(mjpeg::MjpegDecoder::new(65500, 65500).is_err());
    let mut jpeg = small_jpeg(16, 16);
    patch_jpeg_size(&mut jpeg, 65500, 65500);
    let mut out = Vec::new();
    let e = mjpeg::decode_rgb(&jpeg, (0, 0), (65535, 65535), &mut out).unwrap_err();
    assert!(
        e.to_string()
            .contains("65500x65500 exceeds the frame size limit"),
        "{e}"
    );
    assert!(out.is_empty());
}

#[test]
fn version_1_metadata_cannot_use_version_2_decoding() {
    let mut m = support::tiny_meta();
    m.schema_version = 1;
    m.validate().unwrap();
    m.decode = ssd_edge::ssd::BoxDecode::torchvision();
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("schema version 2"), "{e}");
    m.schema_version = 2;
    m.validate().unwrap();
    m.decode.max_log_scale = Some(f32::NAN);
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("max_log_scale"), "{e}");
    m.decode = Default::default();
    m.schema_version = 1;
    m.priors.grid_mut().unwrap().clip = ssd_edge::ssd::PriorClip::Size;
    assert!(m.validate().is_err());
    // The v2 fields survive both encodings.
    m.schema_version = 2;
    m.decode = ssd_edge::ssd::BoxDecode::torchvision();
    let back = ModelMeta::from_metadata_props(&m.to_metadata_props()).unwrap();
    assert_eq!(back, m);
    let back = ModelMeta::from_toml_str(&m.to_toml_string()).unwrap();
    assert_eq!(back, m);
}
