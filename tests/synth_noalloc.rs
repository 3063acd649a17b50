//! The board renders sequence frames live: after warm-up, `Sequence::next_frame` into a
//! reused image must not touch the heap (a counting global allocator checks it).

use ssd_edge::synth::{Renderer, Sequence, SequenceConfig, SynthConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's `alloc` contract, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `p` came from `System` with `l`; the caller's `realloc` contract.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn sequence_and_scene_rendering_do_not_allocate_after_warm_up() {
    let mut seq = Sequence::new(SequenceConfig::default(), 3);
    let mut img = image::RgbImage::new(300, 300);
    for _ in 0..5 {
        seq.next_frame(&mut img);
    }
    let mut r = Renderer::new();
    let cfg = SynthConfig::default();
    let mut gt = Vec::with_capacity(cfg.max_objects as usize);
    r.render_into(&cfg, 1, 0, &mut img, &mut gt);
    // warm up the renderer's scratch to its largest scene
    for i in 0..50 {
        r.render_into(&cfg, 1, i, &mut img, &mut gt);
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..300 {
        seq.next_frame(&mut img);
    }
    for i in 0..50 {
        r.render_into(&cfg, 1, i, &mut img, &mut gt);
    }
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "heap allocations while rendering"
    );
}
