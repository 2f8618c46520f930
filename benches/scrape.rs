//! The scrape engine's per-sample path over the real TSDB, as the bench fleet drives it:
//! parse a target's body (with the scrape cache's guess of each next series text), look
//! each series up in the cache, hint the storage at the series after next, append by the
//! cached series handle, commit once per scrape.
//! `scrape/cached_append/<targets>x<series>` times one scrape of every target; throughput
//! is in samples. Run: `cargo bench --bench scrape`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use promtui::exposition::{parse, Entry, Format};
use promtui::model::Labels;
use promtui::scrape::cache::ScrapeCache;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

/// One target's body, as `bench/scrape_compare.py` writes it; `k` varies the values.
fn body(series: usize, k: usize) -> Vec<u8> {
    let mut s = String::from("# TYPE fleet_requests_total counter\n");
    for i in 0..series {
        s.push_str(&format!(
            "fleet_requests_total{{path=\"/p{}\",code=\"{}\",shard=\"{i}\"}} {}\n",
            i % 50,
            200 + i % 5,
            1000 + i * 7 + k * (i % 13)
        ));
    }
    s.into_bytes()
}

/// One scrape of one target at `t`: what `append_body` does on a warm cache.
fn scrape(db: &Db, cache: &mut ScrapeCache, target: usize, body: &[u8], t: i64) -> usize {
    let mut app = db.appender();
    let mut n = 0;
    let mut parser = parse(body, Format::PromText);
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
            }
            None => {
                let mut pairs: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect();
                pairs.push(("__name__".into(), s.name.to_string()));
                pairs.push(("instance".into(), format!("t{target}")));
                let refs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let labels = Arc::new(Labels::from_pairs(&refs));
                let (sref, handle) = app
                    .append_returning_handle(&labels, t, s.value)
                    .expect("append");
                let hash = labels.stable_hash();
                cache.add(s.series_text, labels, hash, sref, handle);
            }
        }
        n += 1;
    }
    cache.iter_done(true);
    app.commit().expect("commit");
    n
}

fn bench_cached_append(c: &mut Criterion) {
    const TARGETS: usize = 20;
    const SERIES: usize = 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let bodies: Vec<Vec<u8>> = (0..4).map(|k| body(SERIES, k)).collect();
    let mut caches: Vec<ScrapeCache> = (0..TARGETS).map(|_| ScrapeCache::new()).collect();
    let mut t = 1_700_000_000_000_i64;
    for (i, cache) in caches.iter_mut().enumerate() {
        scrape(&db, cache, i, &bodies[0], t);
    }
    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Elements((TARGETS * SERIES) as u64));
    g.bench_function(format!("cached_append/{TARGETS}x{SERIES}"), |b| {
        b.iter(|| {
            t += 1000;
            let body = &bodies[(t / 1000) as usize % bodies.len()];
            let mut n = 0;
            for (i, cache) in caches.iter_mut().enumerate() {
                n += scrape(&db, cache, i, body, t);
            }
            assert_eq!(n, TARGETS * SERIES);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_cached_append);
criterion_main!(benches);
