//! Where the head's memory goes, structure by structure, on the realistic fleet of
//! `bench/scrape_compare.py` (targets of about 40% counters, 20% gauges and 40% classic
//! histogram series with 12 buckets; labels method, code, handler, instance, job).
//!
//! Drives the scrape engine's per-sample path (parse with the cache's guess, cache lookup,
//! append by handle, commit with the WAL, staleness tracking) over a real database, under
//! a counting global allocator on top of mimalloc (the binary's allocator), and prints:
//! live heap bytes per series after the first scrape and after `scrapes` scrapes, the
//! head's own accounting by structure ([`promtui::tsdb::head::HeadMemory`]), the scrape
//! caches', the remainder (WAL buffers, appender pools, everything else) and RSS, whose
//! excess over the live heap is the allocator's overhead (plus the binary and stacks).
//!
//! ```text
//! cargo run --release --example head_memory -- [targets=100] [series=1000] [scrapes=150]
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use promtui::exposition::{parse, Entry, Format};
use promtui::model::Labels;
use promtui::scrape::cache::ScrapeCache;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

/// Counts live heap bytes (as requested; the allocator may round up) on top of mimalloc.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        INNER.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        INNER.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        INNER.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        INNER.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HANDLERS: &[&str] = &[
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/:name/values",
    "/api/v1/targets",
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v2/users/:id",
    "/api/v2/users/:id/orders",
    "/api/v2/orders/:id/items",
    "/api/v2/catalog/products",
    "/api/v2/catalog/products/:sku",
    "/api/v2/cart",
    "/api/v2/cart/checkout",
    "/api/v2/payments/authorize",
    "/api/v2/payments/:id/capture",
    "/api/v2/shipping/quotes",
    "/api/v2/inventory/reservations",
    "/api/v2/search",
    "/internal/healthz",
    "/internal/readyz",
    "/internal/metrics",
    "/static/*filepath",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];
const CODES: &[&str] = &[
    "200", "201", "204", "301", "400", "401", "403", "404", "429", "500", "502", "503",
];
const BUCKETS: &[&str] = &[
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// One target: series texts (before the value) and their current values.
struct Target {
    texts: Vec<String>,
    counter: Vec<bool>,
    values: Vec<f64>,
    rng: u64,
}

impl Target {
    fn new(series: usize, seed: u64) -> Target {
        let combo = |i: usize| {
            (
                METHODS[i % METHODS.len()],
                CODES[(i / 3) % CODES.len()],
                HANDLERS[(i * 7) % HANDLERS.len()],
            )
        };
        let per_hist = BUCKETS.len() + 2;
        let n_hist = ((series as f64 * 0.4) / per_hist as f64).round().max(1.0) as usize;
        let n_gauge = (series as f64 * 0.2).round() as usize;
        let n_counter = series.saturating_sub(n_gauge + n_hist * per_hist);
        let mut texts = Vec::new();
        let mut counter = Vec::new();
        let fams = [
            "http_requests_total",
            "http_response_size_bytes_total",
            "http_request_errors_total",
        ];
        for i in 0..n_counter {
            let (m, c, h) = combo(i / 3 + (i / 3 / 1440) * 11);
            texts.push(format!(
                "{}{{code=\"{c}\",handler=\"{h}\",method=\"{m}\"}}",
                fams[i % 3]
            ));
            counter.push(true);
        }
        let gauges = ["http_requests_in_flight", "http_connection_pool_idle"];
        for i in 0..n_gauge {
            let (m, c, h) = combo(i / 2 + 97);
            texts.push(format!(
                "{}{{code=\"{c}\",handler=\"{h}\",method=\"{m}\"}}",
                gauges[i % 2]
            ));
            counter.push(false);
        }
        for i in 0..n_hist {
            let (m, c, h) = combo(i + 211);
            let l = format!("code=\"{c}\",handler=\"{h}\",method=\"{m}\"");
            for le in BUCKETS {
                texts.push(format!(
                    "http_request_duration_seconds_bucket{{{l},le=\"{le}\"}}"
                ));
                counter.push(true);
            }
            texts.push(format!("http_request_duration_seconds_sum{{{l}}}"));
            texts.push(format!("http_request_duration_seconds_count{{{l}}}"));
            counter.extend([true, true]);
        }
        let values = vec![1000.0; texts.len()];
        Target {
            texts,
            counter,
            values,
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Moves every value by a random increment and renders the body.
    fn tick(&mut self) -> Vec<u8> {
        let mut out = String::with_capacity(self.texts.len() * 100);
        for i in 0..self.texts.len() {
            let r = self.next_rand();
            if self.counter[i] {
                self.values[i] += (r % 50) as f64;
            } else {
                self.values[i] = (self.values[i] + (r % 21) as f64 - 10.0).max(0.0);
            }
            out.push_str(&self.texts[i]);
            out.push(' ');
            out.push_str(&self.values[i].to_string());
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// One scrape of one target at `t`, as the scrape loop does it on a warm cache.
fn scrape(db: &Db, cache: &mut ScrapeCache, target: usize, body: &[u8], t: i64) -> usize {
    let mut app = db.appender();
    let mut n = 0;
    let mut parser = parse(body, Format::PromText);
    let instance = format!("checkout-api-{target:03}.prod.svc.cluster.local:8080");
    while let Some(entry) = parser.next_expecting(cache.expected_next()) {
        let Ok(Entry::Sample(s)) = entry else {
            continue;
        };
        let id = cache.find(s.series_text);
        if let Some(h) = id.and_then(|_| cache.handle_ahead(1)) {
            app.prefetch_handle(h);
        }
        let cached = id.and_then(|id| cache.series(id));
        match cached.and_then(|c| c.handle.as_ref()) {
            Some(h) => {
                app.append_handle(h, t, s.value)
                    .expect("handle known")
                    .expect("append");
                if let Some(id) = id {
                    cache.track_staleness_of(id);
                }
            }
            None => {
                let mut pairs: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                pairs.push(("__name__".into(), s.name.to_string()));
                pairs.push(("instance".into(), instance.clone()));
                pairs.push(("job".into(), "checkout-api".into()));
                let refs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let labels = Arc::new(Labels::from_pairs(&refs));
                let (sref, handle) = app
                    .append_returning_handle(&labels, t, s.value)
                    .expect("append");
                let hash = labels.stable_hash();
                cache.add(s.series_text, labels.clone(), hash, sref, handle);
                cache.track_staleness(hash, sref, Some(&labels));
            }
        }
        n += 1;
    }
    let _ = cache.stale_series();
    cache.iter_done(true);
    app.commit().expect("commit");
    n
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

fn per(x: usize, n: usize) -> f64 {
    x as f64 / n as f64
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let targets = args.first().copied().unwrap_or(100);
    let series = args.get(1).copied().unwrap_or(1000);
    let scrapes = args.get(2).copied().unwrap_or(150);

    let live0 = LIVE.load(Ordering::Relaxed);
    let rss0 = rss_bytes();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut fleet: Vec<Target> = (0..targets)
        .map(|i| Target::new(series, i as u64 + 1))
        .collect();
    let total: usize = fleet.iter().map(|t| t.texts.len()).sum();
    let fleet_bytes = LIVE.load(Ordering::Relaxed) - live0;
    let mut caches: Vec<ScrapeCache> = (0..targets).map(|_| ScrapeCache::new()).collect();
    let mut t = 1_700_000_000_000_i64;
    let report = |label: &str, db: &Db, caches: &[ScrapeCache]| {
        let live = LIVE.load(Ordering::Relaxed) - live0 - fleet_bytes;
        let m = db.head().memory();
        let cache: usize = caches.iter().map(ScrapeCache::heap_bytes).sum();
        let head = m.total();
        println!("== {label}: {total} series, bytes per series");
        println!("  live heap (counted)     {:8.1}", per(live, total));
        println!("  head (own accounting)   {:8.1}", per(head, total));
        println!(
            "    series structs        {:8.1}",
            per(m.series_structs, total)
        );
        println!("    label ids             {:8.1}", per(m.label_ids, total));
        println!("    symbols               {:8.1}", per(m.symbols, total));
        println!("    postings              {:8.1}", per(m.postings, total));
        println!("    map by hash           {:8.1}", per(m.series_map, total));
        println!("    map by ref            {:8.1}", per(m.ref_map, total));
        println!(
            "    open chunks           {:8.1} (written {:.1})",
            per(m.open_chunks, total),
            per(m.open_chunk_used, total)
        );
        println!(
            "    closed chunks         {:8.1} (+ lists {:.1})",
            per(m.closed_chunks, total),
            per(m.closed_chunk_list, total)
        );
        println!(
            "    (written out, on disk {:.1})",
            per(m.spilled_chunks, total)
        );
        println!("  scrape caches           {:8.1}", per(cache, total));
        println!(
            "  rest (WAL buffers, pools, ...) {:8.1}",
            (live as f64 - head as f64 - cache as f64) / total as f64
        );
        println!(
            "  RSS growth              {:8.1}",
            per(rss_bytes().saturating_sub(rss0), total)
        );
    };
    println!(
        "sizes: MemSeries {} B (+16 B of counts in its Arc)",
        std::mem::size_of::<promtui::tsdb::head::MemSeries>()
    );
    let start = std::time::Instant::now();
    for _ in 0..scrapes.max(1) {
        t += 1000;
        for (i, (target, cache)) in fleet.iter_mut().zip(caches.iter_mut()).enumerate() {
            let body = target.tick();
            scrape(&db, cache, i, &body, t);
        }
        if t == 1_700_000_001_000 {
            report("after the first scrape", &db, &caches);
        }
    }
    let took = start.elapsed();
    report(
        &format!("after {scrapes} scrapes ({:.1?})", took),
        &db,
        &caches,
    );
    // Full chunks still on the heap: the block being filled (a server writes each block
    // out when it is full).
    let released = db.head().spill_closed_chunks().expect("spill");
    report(
        &format!("after writing full chunks out ({released} bytes)"),
        &db,
        &caches,
    );
    // What dropping the caches gives back, as the allocator counts it.
    let before = LIVE.load(Ordering::Relaxed);
    drop(caches);
    println!(
        "  scrape caches (freed on drop) {:8.1}",
        per(before - LIVE.load(Ordering::Relaxed), total)
    );
}
