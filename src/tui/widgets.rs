//! Small drawing helpers shared by the views: sparklines and bars at the terminal's glyph
//! level (braille, block, ASCII), human-readable numbers, bytes, durations and ages; and
//! the list cursor's keys, clamping and mouse clicks every list view shares.

use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use super::view::Glyphs;

/// A one-row sparkline of `values` (the last `width` points) in the glyph level's
/// characters, scaled between the minimum and maximum shown.
pub fn sparkline(values: &[f64], width: usize, glyphs: Glyphs) -> String {
    const BLOCK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: [char; 4] = ['_', '.', '-', '^'];
    // Braille: two points per cell, four dot rows per point.
    const LEFT: [u32; 4] = [0x40, 0x04, 0x02, 0x01];
    const RIGHT: [u32; 4] = [0x80, 0x20, 0x10, 0x08];
    if width == 0 {
        return String::new();
    }
    let per_cell = if glyphs == Glyphs::Braille { 2 } else { 1 };
    let take = (width * per_cell).min(values.len());
    let pts = &values[values.len() - take..];
    let finite = pts.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let level = |v: f64, n: usize| -> usize {
        if !v.is_finite() || !lo.is_finite() {
            return 0;
        }
        if hi <= lo {
            return n / 2;
        }
        (((v - lo) / (hi - lo)) * (n - 1) as f64).round() as usize
    };
    let mut out = String::with_capacity(width * 3);
    let cells = take.div_ceil(per_cell);
    for _ in cells..width {
        out.push(' ');
    }
    match glyphs {
        Glyphs::Braille => {
            for pair in pts.chunks(2) {
                let mut bits = 0u32;
                let l = level(pair[0], 4);
                for &b in &LEFT[..=l] {
                    bits |= b;
                }
                if let Some(&r) = pair.get(1) {
                    for &b in &RIGHT[..=level(r, 4)] {
                        bits |= b;
                    }
                }
                out.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
            }
        }
        Glyphs::Block => pts.iter().for_each(|&v| out.push(BLOCK[level(v, 8)])),
        Glyphs::Ascii => pts.iter().for_each(|&v| out.push(ASCII[level(v, 4)])),
    }
    out
}

/// A horizontal bar `frac` (0..=1) of `width` cells.
pub fn bar(frac: f64, width: usize, glyphs: Glyphs) -> String {
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (frac * (width * 8) as f64).round() as usize;
    let mut s = String::with_capacity(width * 3);
    match glyphs {
        Glyphs::Ascii => {
            let n = eighths / 8;
            s.push_str(&"#".repeat(n));
            s.push_str(&" ".repeat(width - n));
        }
        _ => {
            const PART: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
            let full = eighths / 8;
            s.push_str(&"█".repeat(full));
            if full < width {
                s.push(PART[eighths % 8]);
                s.push_str(&" ".repeat(width - full - 1));
            }
        }
    }
    s
}

/// `1234567` as `1.23M`.
pub fn si(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    let (d, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if suffix.is_empty() {
        if x.fract() == 0.0 {
            format!("{x}")
        } else {
            format!("{x:.1}")
        }
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{suffix}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}{suffix}")
    } else {
        format!("{x:.2}{suffix}")
    }
}

/// Bytes in binary units: `12.3MiB`.
pub fn bytes(b: u64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", U[i])
    }
}

/// A duration in ms as `3d4h`, `2h13m`, `5m02s`, `12s`, `850ms`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    if s >= 86_400 {
        format!("{}d{}h", s / 86_400, s % 86_400 / 3600)
    } else if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s >= 1 {
        format!("{s}s")
    } else {
        format!("{ms}ms")
    }
}

/// How long ago `t_ms` was, as `12s ago`.
pub fn ago(now_ms: i64, t_ms: Option<i64>) -> String {
    match t_ms {
        Some(t) => format!("{} ago", duration(now_ms.saturating_sub(t))),
        None => "never".into(),
    }
}

/// Wall-clock `HH:MM:SS` (UTC) of `t_ms`.
pub fn clock(t_ms: i64) -> String {
    let s = t_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// `text` cut to `width` columns with `…` (or `~` in ASCII) when longer.
pub fn fit(text: &str, width: usize, glyphs: Glyphs) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push(if glyphs == Glyphs::Ascii { '~' } else { '…' });
    s
}

/// A padded span of `text` in `style`, `width` columns wide.
pub fn cell(text: &str, width: usize, style: Style, glyphs: Glyphs) -> Span<'static> {
    let t = fit(text, width, glyphs);
    let pad = width.saturating_sub(t.chars().count());
    Span::styled(format!("{t}{} ", " ".repeat(pad)), style)
}

/// The spinner frame for `elapsed_ms`.
pub fn spinner(elapsed_ms: u128, glyphs: Glyphs) -> char {
    const B: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    const A: [char; 4] = ['|', '/', '-', '\\'];
    let i = (elapsed_ms / 100) as usize;
    match glyphs {
        Glyphs::Ascii => A[i % A.len()],
        _ => B[i % B.len()],
    }
}

/// How far a list's cursor moves for a navigation key: a row (↓/↑, j/k), a page
/// (PgDn/PgUp) or to either end (g/Home, G/End); `None` for any other key.
pub fn list_motion(code: KeyCode, page: isize, len: usize) -> Option<isize> {
    match code {
        KeyCode::Down | KeyCode::Char('j') => Some(1),
        KeyCode::Up | KeyCode::Char('k') => Some(-1),
        _ => list_jump(code, page, len),
    }
}

/// The page and end jumps of [`list_motion`] alone, for views whose arrows or j/k also
/// scroll a pane.
pub fn list_jump(code: KeyCode, page: isize, len: usize) -> Option<isize> {
    match code {
        KeyCode::PageDown => Some(page),
        KeyCode::PageUp => Some(-page),
        KeyCode::Char('g') | KeyCode::Home => Some(-(len as isize)),
        KeyCode::Char('G') | KeyCode::End => Some(len as isize),
        _ => None,
    }
}

/// `selected` moved by `d` rows, kept within a list of `len` (unchanged when empty).
pub fn moved(selected: usize, d: isize, len: usize) -> usize {
    if len == 0 {
        return selected;
    }
    (selected as isize + d).clamp(0, len as isize - 1) as usize
}

/// The list row a left click in `area` landed on, for a list drawn `header` rows below
/// the area's top, showing at most `rows` rows from `offset`, of `len` in all. `None` for
/// other mouse events, clicks on the header or below the last row.
pub fn clicked_row(
    ev: &MouseEvent,
    area: Rect,
    header: usize,
    rows: usize,
    offset: usize,
    len: usize,
) -> Option<usize> {
    if !matches!(ev.kind, MouseEventKind::Down(MouseButton::Left)) {
        return None;
    }
    let row = ev.row.saturating_sub(area.y) as usize;
    if row < header || row - header >= rows {
        return None;
    }
    let i = offset + row - header;
    (i < len).then_some(i)
}

/// A list view's mouse handling: a left click selects the row it landed on (see
/// [`clicked_row`]) and is consumed, wherever it lands; other mouse events are ignored.
pub fn select_clicked(
    ev: &MouseEvent,
    area: Rect,
    header: usize,
    rows: usize,
    offset: usize,
    len: usize,
    selected: &mut usize,
) -> super::view::Handled {
    if !matches!(ev.kind, MouseEventKind::Down(MouseButton::Left)) {
        return super::view::Handled::Ignored;
    }
    if let Some(i) = clicked_row(ev, area, header, rows, offset, len) {
        *selected = i;
    }
    super::view::Handled::Consumed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cursor_keys_clamp_and_clicks() {
        use crossterm::event::KeyModifiers;
        assert_eq!(list_motion(KeyCode::Char('j'), 10, 5), Some(1));
        assert_eq!(list_motion(KeyCode::Up, 10, 5), Some(-1));
        assert_eq!(list_motion(KeyCode::PageDown, 10, 5), Some(10));
        assert_eq!(list_motion(KeyCode::Char('G'), 10, 5), Some(5));
        assert_eq!(list_motion(KeyCode::Home, 10, 5), Some(-5));
        assert_eq!(list_motion(KeyCode::Char('x'), 10, 5), None);
        assert_eq!(list_jump(KeyCode::Char('j'), 10, 5), None);
        assert_eq!(moved(2, 10, 5), 4);
        assert_eq!(moved(2, -10, 5), 0);
        assert_eq!(moved(3, 1, 0), 3);
        let area = Rect::new(0, 5, 80, 20);
        let click = |row, kind| MouseEvent {
            kind,
            column: 3,
            row,
            modifiers: KeyModifiers::NONE,
        };
        let left = MouseEventKind::Down(MouseButton::Left);
        // Header row, first list row, past the shown rows, past the list's end.
        assert_eq!(clicked_row(&click(5, left), area, 1, 10, 4, 50), None);
        assert_eq!(clicked_row(&click(6, left), area, 1, 10, 4, 50), Some(4));
        assert_eq!(clicked_row(&click(16, left), area, 1, 10, 4, 50), None);
        assert_eq!(clicked_row(&click(8, left), area, 1, 10, 4, 5), None);
        let right = MouseEventKind::Down(MouseButton::Right);
        assert_eq!(clicked_row(&click(6, right), area, 1, 10, 4, 50), None);
        // A view's click: selects the row; a click on the header keeps the selection but is
        // still the view's; another button is not.
        use super::super::view::Handled;
        let mut sel = 0;
        let h = select_clicked(&click(7, left), area, 1, 10, 4, 50, &mut sel);
        assert!(matches!(h, Handled::Consumed) && sel == 5);
        let h = select_clicked(&click(5, left), area, 1, 10, 4, 50, &mut sel);
        assert!(matches!(h, Handled::Consumed) && sel == 5);
        let h = select_clicked(&click(8, right), area, 1, 10, 4, 50, &mut sel);
        assert!(matches!(h, Handled::Ignored) && sel == 5);
    }

    #[test]
    fn sparklines_scale_and_fall_back() {
        let v = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(sparkline(&v, 4, Glyphs::Block), "▁▃▆█");
        assert_eq!(sparkline(&v, 4, Glyphs::Ascii), "_.-^");
        assert_eq!(sparkline(&v, 4, Glyphs::Braille).chars().count(), 4);
        assert_eq!(sparkline(&v, 2, Glyphs::Block), "▁█");
        assert_eq!(sparkline(&[], 3, Glyphs::Block), "   ");
        // A flat line sits in the middle; NaN is the floor.
        assert_eq!(sparkline(&[5.0, 5.0], 2, Glyphs::Block), "▅▅");
        assert_eq!(sparkline(&[f64::NAN, 1.0], 2, Glyphs::Block), "▁▅");
    }

    #[test]
    fn numbers_bytes_and_durations() {
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1234.0), "1.23k");
        assert_eq!(si(12_345_678.0), "12.3M");
        assert_eq!(si(0.5), "0.5");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(duration(3_723_000), "1h02m");
        assert_eq!(duration(850), "850ms");
        assert_eq!(ago(10_000, Some(4_000)), "6s ago");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(fit("abcdef", 4, Glyphs::Ascii), "abc~");
        assert_eq!(bar(0.5, 4, Glyphs::Ascii), "##  ");
        assert_eq!(bar(1.0, 2, Glyphs::Block), "██");
    }
}
