//! `promtui serve`: the engine options from the flags, then the engine until shutdown.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ServeFlags, StorageFlags};

pub(crate) fn serve(storage: &StorageFlags, flags: &ServeFlags) -> anyhow::Result<ExitCode> {
    let opts = engine_options(storage, flags)?;
    serve_with(opts)
}

/// The engine's options from the storage and engine flags (shared with the TUI, which
/// starts the same engine in-process).
pub(crate) fn engine_options(
    storage: &StorageFlags,
    flags: &ServeFlags,
) -> anyhow::Result<crate::engine::EngineOptions> {
    let tsdb_path = storage.path()?;
    let mut shown = BTreeMap::new();
    let cfg = flags
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    shown.insert("config.file".to_string(), cfg);
    shown.insert(
        "storage.tsdb.path".to_string(),
        tsdb_path.display().to_string(),
    );
    shown.insert(
        "storage.tsdb.retention.time".to_string(),
        storage.retention_time.clone(),
    );
    shown.insert(
        "storage.tsdb.retention.size".to_string(),
        storage.retention_size.clone(),
    );
    shown.insert(
        "web.listen-address".to_string(),
        flags.listen_address.clone(),
    );
    shown.insert(
        "web.enable-lifecycle".to_string(),
        flags.enable_lifecycle.to_string(),
    );
    shown.insert(
        "web.enable-admin-api".to_string(),
        flags.enable_admin_api.to_string(),
    );
    shown.insert(
        "web.enable-remote-write-receiver".to_string(),
        flags.enable_remote_write_receiver.to_string(),
    );
    shown.insert(
        "query.lookback-delta".to_string(),
        flags.query.lookback_delta.clone(),
    );
    shown.insert("query.timeout".to_string(), flags.query.timeout.clone());
    shown.insert(
        "query.max-concurrency".to_string(),
        flags.max_concurrency.to_string(),
    );
    shown.insert(
        "query.max-samples".to_string(),
        flags.query.max_samples.to_string(),
    );
    for (k, v) in [
        (
            "rules.alert.for-outage-tolerance",
            flags.for_outage_tolerance.clone(),
        ),
        (
            "rules.alert.for-grace-period",
            flags.for_grace_period.clone(),
        ),
        ("rules.alert.resend-delay", flags.resend_delay.clone()),
        (
            "alertmanager.notification-queue-capacity",
            flags.notification_queue_capacity.to_string(),
        ),
    ] {
        shown.insert(k.to_string(), v);
    }
    let rules = crate::engine::RuleOptions {
        for_outage_tolerance_ms: ServeFlags::duration_ms(
            "rules.alert.for-outage-tolerance",
            &flags.for_outage_tolerance,
        )?,
        for_grace_period_ms: ServeFlags::duration_ms(
            "rules.alert.for-grace-period",
            &flags.for_grace_period,
        )?,
        resend_delay_ms: ServeFlags::duration_ms("rules.alert.resend-delay", &flags.resend_delay)?,
        notification_queue_capacity: flags.notification_queue_capacity as usize,
    };
    let pg = &flags.pushgateway;
    let pg_address = pg
        .pushgateway_listen_address
        .clone()
        .unwrap_or_else(|| "127.0.0.1:9091".to_string());
    let group_ttl_ms = match &pg.pushgateway_group_ttl {
        Some(v) => Some(ServeFlags::duration_ms("pushgateway.group-ttl", v)?),
        None => None,
    };
    let mut pg_shown = BTreeMap::new();
    for (k, v) in [
        ("pushgateway.listen-address", pg_address.clone()),
        ("pushgateway.disable", pg.pushgateway_disable.to_string()),
        (
            "pushgateway.max-body-bytes",
            pg.pushgateway_max_body_bytes.to_string(),
        ),
        (
            "pushgateway.group-ttl",
            pg.pushgateway_group_ttl.clone().unwrap_or_default(),
        ),
        ("web.enable-admin-api", flags.enable_admin_api.to_string()),
    ] {
        shown.insert(k.to_string(), v.clone());
        pg_shown.insert(k.to_string(), v);
    }
    let pushgateway = (!pg.pushgateway_disable).then(|| crate::engine::PushgatewaySetup {
        options: crate::pushgateway::Options {
            listen_address: pg_address,
            max_body_bytes: usize::try_from(pg.pushgateway_max_body_bytes).unwrap_or(usize::MAX),
            group_ttl_ms,
            enable_admin_api: flags.enable_admin_api,
            // In the data directory's state folder, a name the TSDB's layout owns.
            db_path: tsdb_path
                .join(crate::tsdb::layout::STATE_DIR)
                .join(crate::pushgateway::DB_FILE),
            flags: pg_shown,
        },
        address_given: pg.pushgateway_listen_address.is_some(),
    });
    for (k, v) in [
        (
            "alertmanager.config.file",
            flags
                .alertmanager_config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        (
            "alertmanager.listen-address",
            flags.alertmanager_listen_address.clone(),
        ),
        (
            "alertmanager.disable-listener",
            flags.alertmanager_disable_listener.to_string(),
        ),
        (
            "alertmanager.data-retention",
            flags.alertmanager_data_retention.clone(),
        ),
    ] {
        shown.insert(k.to_string(), v);
    }
    let alertmanager = alertmanager_options(flags, &tsdb_path)?;
    let web_config = match &flags.web_config_file {
        Some(p) => Some(crate::web::security::Security::load(p).context("--web.config.file")?),
        None => None,
    };
    let opts = crate::engine::EngineOptions {
        config_file: flags.config_file.clone(),
        tsdb_path,
        tsdb: storage.tsdb_options()?,
        listen_address: flags.listen_address.clone(),
        enable_lifecycle: flags.enable_lifecycle,
        enable_admin_api: flags.enable_admin_api,
        flags: shown,
        query: flags.query.engine_options()?,
        query_max_concurrency: flags.max_concurrency as usize,
        rules,
        pushgateway,
        first_scrape_within: None,
        remote_write_receiver: flags.enable_remote_write_receiver,
        alertmanager,
        web_config,
    };
    Ok(opts)
}

fn serve_with(opts: crate::engine::EngineOptions) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(crate::alloc::collect_now_and_then)
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let engine = tokio::task::spawn_blocking(move || crate::engine::Engine::open(opts))
            .await
            .context("opening the engine")?
            .map_err(|e| {
                let locked = matches!(
                    &e,
                    crate::engine::Error::Tsdb {
                        source: crate::tsdb::Error::Locked { .. },
                        ..
                    }
                );
                let e = anyhow::Error::new(e);
                if locked {
                    e.context("another process (a running promtui?) uses this data directory: stop it or pass another --storage.tsdb.path")
                } else {
                    e
                }
            })?;
        engine.run(std::future::pending()).await?;
        anyhow::Ok(())
    });
    // The WAL is flushed and the scrape loops are stopped: nothing left on the runtime
    // matters, but dropping it would wait for every blocking task still running (a DNS
    // lookup of a scrape target, say, cannot be cancelled). Exit promptly instead.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The built-in Alertmanager's options; its state lives in the data directory's
/// `promtui-state/alertmanager/` unless `--alertmanager.storage.path` says otherwise.
fn alertmanager_options(
    flags: &ServeFlags,
    tsdb_path: &std::path::Path,
) -> anyhow::Result<crate::alerting::ServeOptions> {
    let retention_ms = ServeFlags::duration_ms(
        "alertmanager.data-retention",
        &flags.alertmanager_data_retention,
    )?;
    // By default in the data directory's state folder, a name the TSDB's layout owns.
    let data_dir = match &flags.alertmanager_storage_path {
        Some(p) => p.clone(),
        None => tsdb_path
            .join(crate::tsdb::layout::STATE_DIR)
            .join("alertmanager"),
    };
    Ok(crate::alerting::ServeOptions {
        config_file: flags.alertmanager_config_file.clone(),
        listen_address: (!flags.alertmanager_disable_listener)
            .then(|| flags.alertmanager_listen_address.clone()),
        listen_explicit: flags.alertmanager_listen_address != "127.0.0.1:9093",
        data_dir,
        retention: std::time::Duration::from_millis(retention_ms as u64),
    })
}
