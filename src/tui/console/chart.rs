//! The time-series chart: lines on a dot grid (braille 2x4 dots a cell, quadrant blocks
//! 2x2, or ASCII 1x1 depending on [`Glyphs`]), a y axis whose unit is inferred from the
//! metric name, time labels, and a value cursor.
//!
//! Drawing writes straight into the frame's buffer: one pass over each visible series
//! plotting segments between consecutive points (Bresenham on the dot grid, the colour of
//! the last series to touch a cell wins), so 200 series x 1,000 points draw within a
//! couple of milliseconds (benches/tui_console.rs). Gaps in a series (a missing step)
//! break its line, as Prometheus' graph does.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};

use crate::tui::view::{Glyphs, Palette};

/// The unit a value is shown in, guessed from metric names by Prometheus' naming
/// conventions (`_seconds`, `_bytes`, `_ratio`...), per second when the query takes a
/// rate of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    None,
    Seconds,
    Bytes,
    /// 0..1 shown as a percentage.
    Ratio,
    Percent,
    Celsius,
    Volts,
    Amperes,
    Joules,
    Watts,
    Meters,
    Hertz,
}

/// A unit and whether the value is a rate of it (`/s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YUnit {
    pub unit: Unit,
    pub per_second: bool,
}

impl YUnit {
    pub const NONE: YUnit = YUnit {
        unit: Unit::None,
        per_second: false,
    };
}

/// Infers the unit of `expr`'s result from the first metric name in it. `rate`,
/// `irate` and `deriv` make it per second; a `_total` counter alone has no unit beyond
/// its base; `count`, `changes` and friends make it a plain number.
pub fn infer_unit(expr: &str) -> YUnit {
    use crate::promql::lexer::{tokenize, TokenKind};
    let tokens = tokenize(expr);
    let mut per_second = false;
    let mut counting = false;
    let mut quantile = false;
    let mut metric: Option<&str> = None;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != TokenKind::Identifier {
            continue;
        }
        let w = &expr[t.start..t.end];
        let call = matches!(
            tokens.get(i + 1).map(|n| &n.kind),
            Some(TokenKind::LeftParen)
        );
        if call {
            match w {
                "rate" | "irate" | "deriv" => per_second = true,
                "histogram_quantile" | "histogram_avg" => quantile = true,
                "count" | "count_over_time" | "changes" | "resets" | "absent"
                | "absent_over_time" | "count_values" | "timestamp" => counting = true,
                _ => {}
            }
            continue;
        }
        let lower = w.to_ascii_lowercase();
        let keyword = super::editor::KEYWORDS.contains(&lower.as_str())
            || super::editor::AGGREGATIONS.contains(&lower.as_str());
        // A word inside braces or a grouping list is a label; metric names come right
        // before `{`, `[`, an operator or the end.
        let prev_brace_or_comma = i > 0
            && matches!(
                tokens[i - 1].kind,
                TokenKind::LeftBrace | TokenKind::Comma | TokenKind::LeftParen
            )
            && inside_labels(&tokens, i, expr);
        if !keyword && !prev_brace_or_comma && metric.is_none() {
            metric = Some(w);
        }
    }
    if counting {
        return YUnit::NONE;
    }
    let Some(m) = metric else {
        return YUnit::NONE;
    };
    let base = m
        .strip_suffix("_total")
        .or_else(|| m.strip_suffix("_sum"))
        .or_else(|| m.strip_suffix("_bucket"))
        .unwrap_or(m);
    if quantile {
        // A quantile (or average) of a histogram is in the unit of its observations.
        per_second = false;
    } else if m.ends_with("_count") || m.ends_with("_bucket") {
        return YUnit {
            unit: Unit::None,
            per_second,
        };
    }
    let unit = [
        ("_seconds", Unit::Seconds),
        ("_bytes", Unit::Bytes),
        ("_ratio", Unit::Ratio),
        ("_percent", Unit::Percent),
        ("_celsius", Unit::Celsius),
        ("_volts", Unit::Volts),
        ("_amperes", Unit::Amperes),
        ("_joules", Unit::Joules),
        ("_watts", Unit::Watts),
        ("_meters", Unit::Meters),
        ("_hertz", Unit::Hertz),
    ]
    .iter()
    .find(|(suffix, _)| base.ends_with(suffix))
    .map_or(Unit::None, |(_, u)| *u);
    YUnit { unit, per_second }
}

fn inside_labels(tokens: &[crate::promql::lexer::Token], i: usize, expr: &str) -> bool {
    use crate::promql::lexer::TokenKind;
    // Walk back to the nearest unmatched `{` or `(`; labels when it is `{` or a grouping `(`.
    let mut depth = 0i32;
    for j in (0..i).rev() {
        match tokens[j].kind {
            TokenKind::RightBrace | TokenKind::RightParen => depth += 1,
            TokenKind::LeftBrace if depth == 0 => return true,
            TokenKind::LeftParen if depth == 0 => {
                return j > 0 && {
                    let p = &tokens[j - 1];
                    matches!(
                        expr[p.start..p.end].to_ascii_lowercase().as_str(),
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    )
                };
            }
            TokenKind::LeftBrace | TokenKind::LeftParen => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Formats `v` in `unit`, short enough for an axis label (at most ~9 characters).
pub fn format_value(v: f64, unit: YUnit) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let rate = if unit.per_second { "/s" } else { "" };
    match unit.unit {
        Unit::Seconds if !unit.per_second => format_duration(v),
        Unit::Seconds => format!("{}s/s", si(v)),
        Unit::Bytes => format!("{}{rate}", bytes(v)),
        Unit::Ratio => format!("{}%{rate}", trim(v * 100.0)),
        Unit::Percent => format!("{}%{rate}", trim(v)),
        Unit::Celsius => format!("{}°C{rate}", trim(v)),
        Unit::Volts => format!("{}V{rate}", si(v)),
        Unit::Amperes => format!("{}A{rate}", si(v)),
        Unit::Joules => format!("{}J{rate}", si(v)),
        Unit::Watts => format!("{}W{rate}", si(v)),
        Unit::Meters => format!("{}m{rate}", si(v)),
        Unit::Hertz => format!("{}Hz{rate}", si(v)),
        Unit::None => format!("{}{rate}", si(v)),
    }
}

/// Up to 3 significant decimals, trailing zeros dropped.
fn trim(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.001 {
        format!("{v:.3}")
    } else {
        return format!("{v:.1e}");
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// SI prefixes: 1.5k, 2M, 3m (milli), 4µ.
fn si(v: f64) -> String {
    let a = v.abs();
    let (scale, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else if a >= 1.0 || a == 0.0 {
        (1.0, "")
    } else if a >= 1e-3 {
        (1e-3, "m")
    } else if a >= 1e-6 {
        (1e-6, "µ")
    } else {
        (1e-9, "n")
    };
    format!("{}{suffix}", trim(v / scale))
}

fn bytes(v: f64) -> String {
    let a = v.abs();
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut i = 0;
    let mut s = 1.0;
    while i + 1 < units.len() && a >= s * 1024.0 {
        s *= 1024.0;
        i += 1;
    }
    format!("{}{}", trim(v / s), units[i])
}

fn format_duration(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0s".into()
    } else if a < 1e-6 {
        format!("{}ns", trim(v * 1e9))
    } else if a < 1e-3 {
        format!("{}µs", trim(v * 1e6))
    } else if a < 1.0 {
        format!("{}ms", trim(v * 1e3))
    } else if a < 60.0 {
        format!("{}s", trim(v))
    } else if a < 3600.0 {
        format!("{}m", trim(v / 60.0))
    } else if a < 86400.0 {
        format!("{}h", trim(v / 3600.0))
    } else {
        format!("{}d", trim(v / 86400.0))
    }
}

/// A time label for an axis: `HH:MM:SS` for short ranges, `HH:MM` up to two days,
/// `MM-DD HH:MM` beyond (UTC, as the API's timestamps).
pub fn format_time(t_ms: i64, width_ms: i64) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp_millis(t_ms) else {
        return t_ms.to_string();
    };
    if width_ms <= 10 * 60_000 {
        dt.format("%H:%M:%S").to_string()
    } else if width_ms <= 2 * 86_400_000 {
        dt.format("%H:%M").to_string()
    } else {
        dt.format("%m-%d %H:%M").to_string()
    }
}

/// Round tick values covering `[lo, hi]`, about `n` of them.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= hi + step * 1e-9 && out.len() < 64 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// One line of the chart.
pub struct Line<'a> {
    /// Points `(t ms, value)` in time order; non-finite values break the line.
    pub points: &'a [(i64, f64)],
    pub color: Color,
}

/// What to draw and where the cursor is.
pub struct ChartSpec<'a> {
    pub lines: &'a [Line<'a>],
    pub start_ms: i64,
    pub end_ms: i64,
    /// Expected distance between points; a larger gap breaks a line.
    pub step_ms: i64,
    pub unit: YUnit,
    /// Cursor time, drawn as a vertical rule.
    pub cursor_ms: Option<i64>,
    /// Fixed y range; computed from the data when `None`.
    pub y_range: Option<(f64, f64)>,
}

/// The y range of `lines` with a little headroom; includes 0 for non-negative data.
pub fn y_range(lines: &[Line<'_>]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for l in lines {
        for &(_, v) in l.points {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if lo >= 0.0 && lo < hi * 0.5 {
        lo = 0.0;
    }
    if hi == lo {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (if lo == 0.0 { 0.0 } else { lo - pad }, hi + pad)
}

/// The points of one series that fall into one dot column.
struct Column {
    x: i64,
    min: i64,
    max: i64,
    last: i64,
}

impl Column {
    fn flush(&self, grid: &mut DotGrid, color: Color) {
        for y in self.min..=self.max {
            grid.set(self.x, y, color);
        }
    }
}

/// Bit of each dot within a cell, indexed by `row * dots_per_row + column`: braille's
/// numbering (dots 1-3 down the left, 4-6 down the right, 7 and 8 on the last row), the
/// quadrant blocks' four bits, and the single ASCII dot.
const BRAILLE_BITS: [u8; 8] = [0x01, 0x08, 0x02, 0x10, 0x04, 0x20, 0x40, 0x80];
const QUADRANT_BITS: [u8; 4] = [1, 2, 4, 8];
const ASCII_BITS: [u8; 1] = [1];

/// A grid of dots over cells, each cell remembering the last colour drawn into it.
struct DotGrid {
    w: usize,
    h: usize,
    /// Dots per cell horizontally and vertically.
    dx: usize,
    dy: usize,
    /// log2 of dx and dy.
    sx: u32,
    sy: u32,
    wdots: i64,
    hdots: i64,
    lut: &'static [u8],
    bits: Vec<u8>,
    color: Vec<Color>,
}

impl DotGrid {
    fn new(cols: usize, rows: usize, glyphs: Glyphs) -> DotGrid {
        let (dx, dy) = match glyphs {
            Glyphs::Braille => (2, 4),
            Glyphs::Block => (2, 2),
            Glyphs::Ascii => (1, 1),
        };
        DotGrid {
            w: cols,
            h: rows,
            dx,
            dy,
            sx: dx.trailing_zeros(),
            sy: dy.trailing_zeros(),
            wdots: (cols * dx) as i64,
            hdots: (rows * dy) as i64,
            lut: match glyphs {
                Glyphs::Braille => &BRAILLE_BITS,
                Glyphs::Block => &QUADRANT_BITS,
                Glyphs::Ascii => &ASCII_BITS,
            },
            bits: vec![0; cols * rows],
            color: vec![Color::Reset; cols * rows],
        }
    }

    fn width_dots(&self) -> usize {
        self.w * self.dx
    }

    fn height_dots(&self) -> usize {
        self.h * self.dy
    }

    #[inline]
    fn set(&mut self, x: i64, y: i64, color: Color) {
        if x < 0 || y < 0 || x >= self.wdots || y >= self.hdots {
            return;
        }
        let (x, y) = (x as usize, y as usize);
        // dx and dy are powers of two: shifts and masks instead of divisions.
        let cell = (y >> self.sy) * self.w + (x >> self.sx);
        let dot = ((y & (self.dy - 1)) << self.sx) | (x & (self.dx - 1));
        self.bits[cell] |= self.lut[dot];
        self.color[cell] = color;
    }

    fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Color) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn symbol(&self, bits: u8) -> char {
        match (self.dx, self.dy) {
            (2, 4) => char::from_u32(0x2800 + bits as u32).unwrap_or(' '),
            (2, 2) => [
                ' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█',
            ][bits as usize & 15],
            _ => '*',
        }
    }
}

/// Width of the y-axis labels column for `spec` within `area`.
fn axis_width(ticks: &[f64], unit: YUnit) -> u16 {
    ticks
        .iter()
        .map(|t| format_value(*t, unit).chars().count())
        .max()
        .unwrap_or(1)
        .clamp(3, 10) as u16
        + 1
}

/// Draws the chart (axes, labels, lines, cursor) into `area` of `buf`. Returns the plot
/// rectangle (inside the axes) so callers can map mouse positions to times.
pub fn draw(
    buf: &mut Buffer,
    area: Rect,
    spec: &ChartSpec<'_>,
    palette: &Palette,
    glyphs: Glyphs,
) -> Rect {
    if area.width < 12 || area.height < 4 {
        return Rect::default();
    }
    let (lo, hi) = spec.y_range.unwrap_or_else(|| y_range(spec.lines));
    let plot_h = area.height - 1; // the last row holds time labels
    let ticks = nice_ticks(lo, hi, (plot_h as usize / 3).max(2));
    let aw = axis_width(&ticks, spec.unit);
    let plot = Rect {
        x: area.x + aw + 1,
        y: area.y,
        width: area.width.saturating_sub(aw + 1),
        height: plot_h,
    };
    if plot.width < 2 {
        return Rect::default();
    }
    // Y axis: a rule and tick labels.
    let axis_x = area.x + aw;
    for row in 0..plot_h {
        set_char(
            buf,
            axis_x,
            area.y + row,
            axis_glyph(glyphs, false),
            palette.border,
        );
    }
    let row_of = |v: f64| -> Option<u16> {
        let frac = (v - lo) / (hi - lo);
        if !(0.0..=1.0).contains(&frac) {
            return None;
        }
        let r = ((1.0 - frac) * (plot_h as f64 - 1.0)).round() as u16;
        Some(area.y + r)
    };
    for t in &ticks {
        if let Some(y) = row_of(*t) {
            let label = format_value(*t, spec.unit);
            let lw = label.chars().count() as u16;
            let x = area.x + aw.saturating_sub(lw + 1).min(aw);
            buf.set_stringn(x, y, &label, aw as usize, palette.dim);
            set_char(buf, axis_x, y, axis_glyph(glyphs, true), palette.border);
        }
    }
    // X axis labels: start, end, and evenly spaced in between when room allows.
    let width_ms = (spec.end_ms - spec.start_ms).max(1);
    let label_w = format_time(spec.end_ms, width_ms).chars().count() as u16;
    let slots = (plot.width / (label_w + 4)).max(1);
    let ly = area.y + plot_h;
    for i in 0..=slots {
        let t = spec.start_ms + (width_ms as i128 * i as i128 / slots as i128) as i64;
        let s = format_time(t, width_ms);
        let cx = plot.x as i64 + (plot.width as i64 - 1) * i as i64 / slots as i64;
        let x = (cx - label_w as i64 / 2)
            .clamp(plot.x as i64, (plot.x + plot.width) as i64 - label_w as i64)
            .max(area.x as i64) as u16;
        buf.set_stringn(x, ly, &s, label_w as usize, palette.dim);
    }
    // Lines.
    let mut grid = DotGrid::new(plot.width as usize, plot.height as usize, glyphs);
    let wd = grid.width_dots() as f64 - 1.0;
    let hd = grid.height_dots() as f64 - 1.0;
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    // Scale factors once, so each point costs two multiplications.
    let kx = wd / width_ms as f64;
    let ky = hd / span;
    // `+ 0.5` and truncation instead of `round()`, which is a libm call on baseline
    // x86-64; it differs only below zero, where dots are clipped anyway.
    let tx = |t: i64| ((t - spec.start_ms) as f64 * kx + 0.5) as i64;
    let vy = |v: f64| ((hi - v) * ky + 0.5) as i64;
    let max_gap = if spec.step_ms > 0 {
        spec.step_ms + spec.step_ms / 2
    } else {
        i64::MAX
    };
    let (t_lo, t_hi) = (
        spec.start_ms.saturating_sub(max_gap),
        spec.end_ms.saturating_add(max_gap),
    );
    let y_max = hd as i64 + 1;
    for l in spec.lines {
        // Points falling in the same dot column collapse into one vertical span (min to
        // max), joined to the neighbouring columns' last and first points: the picture is
        // the same as drawing every segment, at a cost bounded by the plot's width.
        let mut col: Option<Column> = None;
        let mut prev_t = i64::MIN;
        for &(t, v) in l.points {
            if !v.is_finite() || t < t_lo || t > t_hi {
                if let Some(c) = col.take() {
                    c.flush(&mut grid, l.color);
                }
                continue;
            }
            let (x, y) = (tx(t), vy(v).clamp(-1, y_max));
            let joined = t.saturating_sub(prev_t) <= max_gap;
            prev_t = t;
            match &mut col {
                Some(c) if c.x == x && joined => {
                    c.min = c.min.min(y);
                    c.max = c.max.max(y);
                    c.last = y;
                }
                _ => {
                    if let Some(c) = col.take() {
                        c.flush(&mut grid, l.color);
                        if joined {
                            grid.line(c.x, c.last, x, y, l.color);
                        }
                    }
                    col = Some(Column {
                        x,
                        min: y,
                        max: y,
                        last: y,
                    });
                }
            }
        }
        if let Some(c) = col {
            c.flush(&mut grid, l.color);
        }
    }
    for row in 0..grid.h {
        for col in 0..grid.w {
            let i = row * grid.w + col;
            let b = grid.bits[i];
            if b != 0 {
                let cell = &mut buf[(plot.x + col as u16, plot.y + row as u16)];
                cell.set_char(grid.symbol(b));
                cell.set_style(palette.text.fg(grid.color[i]));
            }
        }
    }
    // The cursor rule, over the lines where no dot is.
    if let Some(c) = spec.cursor_ms {
        if c >= spec.start_ms && c <= spec.end_ms {
            let col = (tx(c) as usize / grid.dx) as u16;
            let x = plot.x + col.min(plot.width - 1);
            for row in 0..plot.height {
                let cell = &mut buf[(x, plot.y + row)];
                if cell.symbol() == " " || cell.symbol().is_empty() {
                    cell.set_char(if glyphs == Glyphs::Ascii { '|' } else { '│' });
                    cell.set_style(palette.accent);
                } else {
                    cell.set_style(
                        cell.style()
                            .add_modifier(ratatui::style::Modifier::REVERSED),
                    );
                }
            }
        }
    }
    plot
}

fn axis_glyph(glyphs: Glyphs, tick: bool) -> char {
    match (glyphs, tick) {
        (Glyphs::Ascii, false) => '|',
        (Glyphs::Ascii, true) => '+',
        (_, false) => '│',
        (_, true) => '┤',
    }
}

fn set_char(buf: &mut Buffer, x: u16, y: u16, c: char, style: Style) {
    let cell = &mut buf[(x, y)];
    cell.set_char(c);
    cell.set_style(style);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_naming_conventions() {
        let u = |e: &str| infer_unit(e);
        assert_eq!(u("process_resident_memory_bytes").unit, Unit::Bytes);
        assert_eq!(
            u("rate(node_network_receive_bytes_total{device=\"eth0\"}[5m])"),
            YUnit {
                unit: Unit::Bytes,
                per_second: true
            }
        );
        assert_eq!(
            u("histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
            YUnit {
                unit: Unit::Seconds,
                per_second: false
            }
        );
        assert_eq!(u("node_filesystem_avail_ratio").unit, Unit::Ratio);
        assert_eq!(
            u("rate(http_requests_total[1m])"),
            YUnit {
                unit: Unit::None,
                per_second: true
            }
        );
        assert_eq!(u("count(up)"), YUnit::NONE);
        assert_eq!(
            u("sum by (job) (go_gc_duration_seconds)").unit,
            Unit::Seconds
        );
        assert_eq!(u("up{job=\"x_bytes\"}"), YUnit::NONE);
        assert_eq!(u("1 + 2"), YUnit::NONE);
    }

    #[test]
    fn values_format_in_their_unit() {
        let s = YUnit {
            unit: Unit::Seconds,
            per_second: false,
        };
        assert_eq!(format_value(0.25, s), "250ms");
        assert_eq!(format_value(90.0, s), "1.5m");
        let b = YUnit {
            unit: Unit::Bytes,
            per_second: true,
        };
        assert_eq!(format_value(1536.0, b), "1.5KiB/s");
        assert_eq!(
            format_value(
                0.5,
                YUnit {
                    unit: Unit::Ratio,
                    per_second: false
                }
            ),
            "50%"
        );
        assert_eq!(format_value(12_500.0, YUnit::NONE), "12.5k");
        assert_eq!(format_value(0.0, YUnit::NONE), "0");
        assert_eq!(format_value(f64::NAN, YUnit::NONE), "NaN");
        assert_eq!(format_value(-2e6, YUnit::NONE), "-2M");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(nice_ticks(5.0, 5.0, 4), vec![5.0]);
    }

    #[test]
    fn braille_dots_map_to_their_bits() {
        let mut g = DotGrid::new(1, 1, Glyphs::Braille);
        for y in 0..4 {
            g.set(0, y, Color::Red);
            g.set(1, y, Color::Red);
        }
        assert_eq!(g.symbol(g.bits[0]), '⣿');
        let mut g = DotGrid::new(1, 1, Glyphs::Braille);
        g.set(0, 0, Color::Red);
        g.set(1, 3, Color::Red);
        assert_eq!(g.symbol(g.bits[0]), '⢁');
        let mut g = DotGrid::new(1, 1, Glyphs::Block);
        g.set(0, 1, Color::Red);
        g.set(1, 1, Color::Red);
        assert_eq!(g.symbol(g.bits[0]), '▄');
    }

    #[test]
    fn lines_break_at_gaps_and_draw_a_diagonal() {
        let palette = crate::tui::console::testing::palette_dark();
        let pts = [(0, 0.0), (10, 10.0)];
        let lines = [Line {
            points: &pts,
            color: Color::Red,
        }];
        let spec = ChartSpec {
            lines: &lines,
            start_ms: 0,
            end_ms: 10,
            step_ms: 10,
            unit: YUnit::NONE,
            cursor_ms: None,
            y_range: Some((0.0, 10.0)),
        };
        let area = Rect::new(0, 0, 20, 6);
        let mut buf = Buffer::empty(area);
        let plot = draw(&mut buf, area, &spec, &palette, Glyphs::Ascii);
        // The diagonal touches the bottom-left and top-right of the plot.
        assert_eq!(buf[(plot.x, plot.y + plot.height - 1)].symbol(), "*");
        assert_eq!(buf[(plot.x + plot.width - 1, plot.y)].symbol(), "*");
        // With a step much smaller than the gap the two points stay unconnected.
        let spec = ChartSpec { step_ms: 1, ..spec };
        let mut buf = Buffer::empty(area);
        let plot = draw(&mut buf, area, &spec, &palette, Glyphs::Ascii);
        let stars = (plot.x..plot.x + plot.width)
            .flat_map(|x| (plot.y..plot.y + plot.height).map(move |y| (x, y)))
            .filter(|&(x, y)| buf[(x, y)].symbol() == "*")
            .count();
        assert_eq!(stars, 2);
    }
}
