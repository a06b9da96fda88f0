//! `RuleSet::classify` allocates nothing per record, matching or not (after the regex engines'
//! per-thread caches are warm). Counted with a global allocator that tallies this thread's
//! allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use oauthwatch::classifier::{MatchContext, RuleSet};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn classify_allocates_nothing_per_record() {
    let rules = RuleSet::embedded();
    let records: Vec<&[u8]> = vec![
        b"2024-05-01T10:00:00Z INFO request completed in 12 ms",
        br#"{"ts":"2024-05-01","level":"info","msg":"cache miss","key":"meeting:42"}"#,
        br#"Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ""#,
        br#"zoom {"errorCode":4700,"errorMessage":"Token cannot be empty."}"#,
        br#"zoom sync: google {"error":"invalid_grant","error_description":"Bad Request"}"#,
        br#"zoom refresh failed: 400 (Bad Request) {"error":"invalid_grant"}"#,
        "zoom: {'reason': 'Invalid Token!', 'error': 'invalid_grant’}".as_bytes(),
    ];
    for ctx in [
        MatchContext::default(),
        MatchContext {
            provider: Some("zoom"),
        },
    ] {
        // Warm the regex engines' per-thread caches.
        for r in &records {
            let _ = rules.classify(r, &ctx);
        }
        let before = allocations();
        let mut matched = 0;
        for _ in 0..1000 {
            for r in &records {
                if let Some(c) = rules.classify(r, &ctx) {
                    matched += 1;
                    std::hint::black_box(c.reason);
                }
            }
        }
        let after = allocations();
        assert!(matched >= 4000, "the matching records matched ({matched})");
        assert_eq!(after - before, 0, "allocations during 7000 classifications");
    }
}
