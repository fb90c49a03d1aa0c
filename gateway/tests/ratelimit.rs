//! Token bucket and per-tenant admission.

use std::time::Duration;
use std::time::Instant;

use gateway::TokenBucket;
use gateway::ratelimit::Refused;
use gateway::ratelimit::TenantLimits;

#[test]
fn a_full_bucket_allows_the_burst_then_the_rate() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(10.0, 5.0, t0);
    for i in 0..5 {
        assert!(bucket.try_take(t0), "request {i} of the burst refused");
    }
    assert!(!bucket.try_take(t0), "the burst is 5");
    // 10 per second: one token every 100 ms.
    assert!(!bucket.try_take(t0 + Duration::from_millis(50)));
    assert!(bucket.try_take(t0 + Duration::from_millis(100)));
    assert!(!bucket.try_take(t0 + Duration::from_millis(110)));
    // A long pause refills to the burst, not beyond.
    let later = t0 + Duration::from_secs(60);
    for _ in 0..5 {
        assert!(bucket.try_take(later));
    }
    assert!(!bucket.try_take(later));
}

#[test]
fn a_clock_that_goes_backwards_does_not_mint_tokens() {
    let t0 = Instant::now() + Duration::from_secs(10);
    let mut bucket = TokenBucket::new(1.0, 1.0, t0);
    assert!(bucket.try_take(t0));
    assert!(!bucket.try_take(t0 - Duration::from_secs(5)));
    assert!(!bucket.try_take(t0));
}

#[test]
fn tenants_are_limited_separately() {
    let limits = TenantLimits::new(1, 2, 10);
    let _a1 = limits.admit("a").expect("first");
    let _a2 = limits.admit("a").expect("second (burst 2)");
    assert!(matches!(limits.admit("a"), Err(Refused::Rate { .. })));
    let _b = limits
        .admit("b")
        .expect("another tenant has its own bucket");
}

#[test]
fn in_flight_slots_come_back_when_requests_finish() {
    let limits = TenantLimits::new(1000, 1000, 2);
    let p1 = limits.admit("a").unwrap();
    let _p2 = limits.admit("a").unwrap();
    let refused = limits.admit("a").unwrap_err();
    assert!(matches!(refused, Refused::InFlight { limit: 2, .. }));
    assert!(refused.to_string().contains("in flight"));
    drop(p1);
    let _p3 = limits.admit("a").expect("a slot was released");
}
