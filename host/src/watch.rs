//! What triggers a reload of a [`LiveRules`]: changes to the rules directory
//! (the manifest and every module it names) and `SIGHUP`.
//!
//! File events come from the operating system's notification API, and a
//! slower poll of the files' metadata catches what notifications miss
//! (network file systems, events dropped under load). Events are debounced:
//! a reload starts only once the files have been quiet for a moment, so a
//! module copied in several chunks is read once it is whole. A load of a file
//! still being written fails validation and leaves the serving generation in
//! place; the write's later events trigger the next attempt.
//!
//! Kubernetes ConfigMap and Secret volumes replace their files by swapping
//! the `..data` symlink inside the mounted directory; that rename is an event
//! in the watched directory, and the poll sees the new files behind
//! `rules.toml` as changed metadata.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::live::LiveRules;
use crate::manifest::{MANIFEST_FILE, Manifest};

/// How long the files must be quiet before a reload starts. Long enough for
/// `cp` or an editor to finish writing, short enough to feel immediate.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// How often file metadata is compared, as a fallback for missed events.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How watching behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Quiet time before a reload; see [`DEFAULT_DEBOUNCE`].
    pub debounce: Duration,
    /// Metadata poll period; see [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            debounce: DEFAULT_DEBOUNCE,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// Watches `live`'s directory and reloads on change, until the task is
/// dropped or aborted. Fails only if the directory cannot be watched at all.
pub async fn watch_files(live: Arc<LiveRules>, options: WatchOptions) -> anyhow::Result<()> {
    let (events, mut changes) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        if event.is_ok_and(|event| is_change(&event.kind)) {
            let _ = events.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(live.dir(), RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", live.dir().display()))?;
    let mut outside = HashSet::new();
    watch_module_folders(&mut watcher, live.dir(), &mut outside);

    let mut poll = tokio::time::interval(options.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = stamp(live.dir());
    loop {
        tokio::select! {
            Some(()) = changes.recv() => quiet_down(&mut changes, options.debounce).await,
            _ = poll.tick() => {
                if stamp(live.dir()) == last_seen {
                    continue;
                }
                tracing::debug!("file metadata changed without an event");
            }
        }
        last_seen = stamp(live.dir());
        reload(&live, false).await;
        watch_module_folders(&mut watcher, live.dir(), &mut outside);
    }
}

/// Reloads on every `SIGHUP`, even when the files did not change.
pub async fn reload_on_hangup(live: Arc<LiveRules>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading");
        reload(&live, true).await;
    }
    Ok(())
}

/// Reloads off the async workers; a failure is logged and kept by `live`.
async fn reload(live: &Arc<LiveRules>, force: bool) {
    let live = live.clone();
    if let Err(error) = tokio::task::spawn_blocking(move || live.reload(force)).await {
        tracing::error!(%error, "the reload task did not complete");
    }
}

/// Whether an event can mean changed content. Reads and opens cannot; a
/// close after writing can (it is how `cp` finishing shows up).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Waits until no event has arrived for `quiet`.
async fn quiet_down(changes: &mut mpsc::UnboundedReceiver<()>, quiet: Duration) {
    while let Ok(Some(())) = tokio::time::timeout(quiet, changes.recv()).await {}
}

/// Adds watches on folders outside the rules directory that hold modules
/// the manifest names (`module = "../shared/x.wasm"`).
fn watch_module_folders(
    watcher: &mut RecommendedWatcher,
    dir: &Path,
    watched: &mut HashSet<PathBuf>,
) {
    let Ok(manifest) = Manifest::load(dir) else {
        return;
    };
    for rule in &manifest.rules {
        let Some(folder) = rule.module.parent() else {
            continue;
        };
        // Compare real paths: `rules/../shared` is outside `rules`.
        let real = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if real(folder).starts_with(real(dir)) || watched.contains(folder) {
            continue;
        }
        match watcher.watch(folder, RecursiveMode::NonRecursive) {
            Ok(()) => {
                watched.insert(folder.to_owned());
            }
            Err(error) => {
                tracing::warn!(folder = %folder.display(), %error, "cannot watch a module folder")
            }
        }
    }
}

/// What identifies a file's content cheaply: size, modification time and
/// inode, after following symlinks.
type FileStamp = Option<(u64, SystemTime, u64)>;

/// The stamps of the manifest and of every module it names.
fn stamp(dir: &Path) -> Vec<(PathBuf, FileStamp)> {
    let manifest = dir.join(MANIFEST_FILE);
    let mut files = vec![manifest];
    if let Ok(parsed) = Manifest::load(dir) {
        files.extend(parsed.rules.into_iter().map(|rule| rule.module));
    }
    files
        .into_iter()
        .map(|path| {
            let stamp = std::fs::metadata(&path).ok().map(|m| {
                (
                    m.len(),
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.ino(),
                )
            });
            (path, stamp)
        })
        .collect()
}
