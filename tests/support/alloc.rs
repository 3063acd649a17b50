//! The library's counting allocator installed in a test binary: `count_allocations(f)` is how
//! many allocations this thread made while `f` ran. Included with `#[path]` by each
//! no-allocation test (a global allocator is per binary).

#[global_allocator]
static GLOBAL: ssd_edge::alloc_count::Counting = ssd_edge::alloc_count::Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
pub fn count_allocations(f: impl FnOnce()) -> usize {
    ssd_edge::alloc_count::count_allocations(f).1
}
