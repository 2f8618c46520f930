//! Golden-file snapshots of the TUI frame (tests/tui_snapshots.rs and the other
//! tests/tui_*_snapshots.rs): the screen rendered into ratatui's TestBackend as text,
//! then the style of each cell as a letter, then the legend of the letters, compared with
//! tests/snapshots/tui/<name>.txt. `PROMTUI_UPDATE_SNAPSHOTS=1` rewrites the files.

use std::path::PathBuf;

use promtui::tui::app::{buffer_text, render_to_buffer, App};
use promtui::tui::fixture::NOW_MS;

/// The sizes and themes each view is snapshotted in.
pub const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];
pub const THEMES: [&str; 2] = ["dark", "light"];

/// The single-threaded runtime the views' background work runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Screen text, then the style of each cell as a letter, then the legend.
pub fn snapshot(app: &mut App, w: u16, h: u16) -> String {
    let buf = render_to_buffer(app, w, h, NOW_MS);
    let mut out = buffer_text(&buf);
    out.push_str("--- styles ---\n");
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut legend: Vec<String> = Vec::new();
    for y in 0..h {
        let mut row = String::new();
        for x in 0..w {
            let c = &buf[(x, y)];
            let key = format!("fg={:?} bg={:?} mod={:?}", c.fg, c.bg, c.modifier);
            let i = legend.iter().position(|k| *k == key).unwrap_or_else(|| {
                legend.push(key);
                legend.len() - 1
            });
            row.push(alphabet.get(i).copied().unwrap_or('?'));
        }
        out.push_str(&row);
        out.push('\n');
    }
    for (i, k) in legend.iter().enumerate() {
        out.push_str(&format!(
            "{} {k}\n",
            alphabet.get(i).copied().unwrap_or('?')
        ));
    }
    out
}

/// Compares `got` with tests/snapshots/tui/<name>.txt. With PROMTUI_UPDATE_SNAPSHOTS=1,
/// or when the file does not exist yet, writes it instead (failing in the second case, so
/// a new snapshot is looked at before it is trusted).
pub fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/tui")
        .join(format!("{name}.txt"));
    let update = std::env::var("PROMTUI_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    if update || !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        assert!(
            update,
            "wrote the new snapshot {}: review and commit it",
            path.display()
        );
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  want {a:?}\n  got  {b:?}", i + 1))
            .collect();
        panic!(
            "{name} differs from {} (PROMTUI_UPDATE_SNAPSHOTS=1 rewrites):\n{}",
            path.display(),
            diff.join("\n")
        );
    }
}
