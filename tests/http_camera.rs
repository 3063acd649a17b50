//! `/snapshot.jpg` and the camera state of a real run on the fake V4L2 camera
//! (tests/fakecam, an LD_PRELOAD shim): the snapshot's pixels are the camera's in every pixel
//! format it delivers (MJPEG, YUYV, NV12, GREY), and a camera that disappears shows as
//! `reconnecting` in `/status` and `/metrics` (the sink's `source_state` hook, called between
//! frames), while the last frame is still served.

#[path = "support/board.rs"]
mod board;
#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use board::{Board, TOKEN};
use camera::{tiny_model, FakeCam, H, W};
use std::time::{Duration, Instant};

fn http_only() -> String {
    format!("[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
}

fn start(cam: &FakeCam) -> Board {
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    Board::start_args(
        &http_only(),
        cam.command(&[]),
        &["--source", &src, "--model", &model],
    )
}

fn snapshot(board: &Board) -> image::RgbImage {
    let r = board.get("/snapshot.jpg");
    assert_eq!(r.status, 200, "{}", r.text());
    image::load_from_memory(&r.body).expect("a JPEG").to_rgb8()
}

/// Mean colour of a small square around (x, y).
fn mean(img: &image::RgbImage, x: u32, y: u32) -> [f32; 3] {
    let mut m = [0.0; 3];
    let mut n = 0.0;
    for yy in y - 4..y + 4 {
        for xx in x - 4..x + 4 {
            let p = img.get_pixel(xx, yy);
            for c in 0..3 {
                m[c] += p[c] as f32;
            }
            n += 1.0;
        }
    }
    m.map(|v| v / n)
}

#[test]
fn snapshots_show_the_cameras_pixels_in_every_format() {
    for format in ["MJPG", "YUYV", "NV12", "GREY"] {
        let cam = FakeCam::new(&[format], (W, H));
        let board = start(&cam);
        let img = snapshot(&board);
        assert_eq!((img.width(), img.height()), (W, H), "{format}");
        // The pattern: grey background, a red cell in the middle, a green one top right
        // (tests/support/camera_fake.rs). Sampled away from the drawn boxes' edges.
        let grey = mean(&img, W / 6, H - H / 6);
        let red = mean(&img, W / 2, H / 2);
        let green = mean(&img, W - W / 6, H / 6);
        let (mut want_red, mut want_green) = ([230, 20, 20], [20, 220, 30]);
        if format == "GREY" {
            // The camera's luma only.
            want_red = [camera::luma(want_red); 3];
            want_green = [camera::luma(want_green); 3];
        }
        for (got, want, what) in [
            (grey, [128; 3], "background"),
            (red, want_red, "red cell"),
            (green, want_green, "green cell"),
        ] {
            for c in 0..3 {
                // YUV rounding, 4:2:0 chroma and our own JPEG encoding.
                assert!(
                    (got[c] - want[c] as f32).abs() < 16.0,
                    "{format}: {what} {got:?}, want {want:?}"
                );
            }
        }
        assert!(board.stop().success(), "{format}");
    }
}

#[test]
fn a_lost_camera_is_reported_as_reconnecting() {
    // Six frames, then the device disappears for ten minutes.
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_UNPLUG", "6:600000");
    let board = start(&cam);
    let t = Instant::now();
    let status = loop {
        let s = board.status();
        if s["source"]["state"] == "reconnecting" {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "never reconnecting: {s}\n{}",
            board.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["camera"]["streaming"], false);
    assert_eq!(status["source"]["fps"], 0.0);
    let metrics = board.get("/metrics").text();
    assert!(
        metrics.contains("ssd_edge_source_state{state=\"reconnecting\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("ssd_edge_source_state{state=\"streaming\"} 0\n"));
    // The last frame is still there, and says how old it is.
    let r = board.get("/snapshot.jpg");
    assert_eq!(r.status, 200, "{}", r.text());
    let index: u64 = r.header("x-frame-index").unwrap().parse().unwrap();
    assert!(index < 6, "frame {index}");
    assert!(r.header("x-frame-age-ms").is_some());
    assert!(board.stop().success());
}
