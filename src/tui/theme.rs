//! Themes: the files in themes/ (built in, compiled into the binary) and the user's in
//! the config directory, parsed into a [`Palette`]; NO_COLOR; and the glyph level
//! (braille, block, ASCII) the terminal can draw. The file format is documented in
//! themes/README.md.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};

use super::view::{Glyphs, Palette, SyntaxStyles};

/// The themes shipped in themes/, by name; `dark` is the default.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.theme")),
    ("light", include_str!("../../themes/light.theme")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.theme"),
    ),
    ("solarized", include_str!("../../themes/solarized.theme")),
];

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThemeError {
    #[error("no theme named {name:?} (built in: {builtin}; user themes: {dir})")]
    Unknown {
        name: String,
        builtin: String,
        dir: String,
    },
    #[error("{file}:{line}: {msg}")]
    Syntax {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("reading theme {path}: {msg}")]
    Io { path: PathBuf, msg: String },
}

/// The directory user themes are read from (`~/.config/promtui/themes` on Linux).
pub fn user_theme_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "promtui").map(|d| d.config_dir().join("themes"))
}

/// Every theme name available: built in, then the user's (`*.theme` in `dir`).
pub fn available(dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) {
        let mut user: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "theme")
                    .then(|| p.file_stem()?.to_str().map(str::to_string))
                    .flatten()
            })
            .filter(|n| !names.contains(n))
            .collect();
        user.sort();
        names.extend(user);
    }
    names
}

/// Loads theme `name`: the user's file in `dir` first, else the built-in one.
pub fn load(name: &str, dir: Option<&Path>) -> Result<Palette, ThemeError> {
    if let Some(d) = dir {
        let path = d.join(format!("{name}.theme"));
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| ThemeError::Io {
                path: path.clone(),
                msg: e.to_string(),
            })?;
            return parse(name, &path.display().to_string(), &text);
        }
    }
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => parse(n, &format!("themes/{n}.theme"), text),
        None => Err(ThemeError::Unknown {
            name: name.to_string(),
            builtin: BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            dir: dir
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "none".into()),
        }),
    }
}

/// A built-in theme; they are checked by a unit test, so this cannot fail for the names
/// in [`BUILTIN`] (an unknown name gives the dark theme).
pub fn builtin(name: &str) -> Palette {
    let text = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or(&BUILTIN[0]);
    parse(text.0, text.0, text.1).unwrap_or_else(|_| plain(text.0))
}

/// Whether the NO_COLOR convention (https://no-color.org) asks for no colour.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The palette without colour: selection stays visible as reversed, errors bold.
pub fn plain(name: &str) -> Palette {
    let base = Style::default();
    Palette {
        name: name.to_string(),
        text: base,
        dim: base,
        accent: base.add_modifier(Modifier::BOLD),
        border: base,
        selection: base.add_modifier(Modifier::REVERSED),
        ok: base,
        warn: base.add_modifier(Modifier::BOLD),
        error: base.add_modifier(Modifier::BOLD),
        info: base,
        series: vec![Color::Reset],
        syntax: SyntaxStyles {
            error: base.add_modifier(Modifier::UNDERLINED),
            ..Default::default()
        },
    }
}

/// The glyph level: `--glyphs` when given, else ASCII on the Linux console (`TERM=linux`)
/// or a dumb terminal, block elements when the locale is not UTF-8, braille otherwise.
pub fn detect_glyphs(flag: Option<Glyphs>) -> Glyphs {
    if let Some(g) = flag {
        return g;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    glyphs_for(&term, &locale)
}

/// The rule of [`detect_glyphs`], separated for tests.
pub fn glyphs_for(term: &str, locale: &str) -> Glyphs {
    if term == "linux" || term == "dumb" || term == "vt100" || term == "vt220" {
        return Glyphs::Ascii;
    }
    let l = locale.to_ascii_lowercase();
    if l.contains("utf-8") || l.contains("utf8") {
        Glyphs::Braille
    } else {
        Glyphs::Block
    }
}

/// Parses a `--glyphs` value.
pub fn parse_glyphs(s: &str) -> Result<Glyphs, String> {
    match s {
        "braille" => Ok(Glyphs::Braille),
        "block" => Ok(Glyphs::Block),
        "ascii" => Ok(Glyphs::Ascii),
        _ => Err(format!("unknown glyph set {s:?}: braille, block or ascii")),
    }
}

fn parse_color(word: &str) -> Option<Color> {
    if let Some(hex) = word.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    if let Ok(i) = word.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    Some(match word {
        "default" | "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark-gray" | "dark-grey" => Color::DarkGray,
        "light-red" => Color::LightRed,
        "light-green" => Color::LightGreen,
        "light-yellow" => Color::LightYellow,
        "light-blue" => Color::LightBlue,
        "light-magenta" => Color::LightMagenta,
        "light-cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

fn parse_style(value: &str) -> Result<Style, String> {
    let mut style = Style::default();
    let mut words = value.split_whitespace().peekable();
    let mut fg_done = false;
    while let Some(w) = words.next() {
        match w {
            "bold" => style = style.add_modifier(Modifier::BOLD),
            "dim" => style = style.add_modifier(Modifier::DIM),
            "italic" => style = style.add_modifier(Modifier::ITALIC),
            "underline" => style = style.add_modifier(Modifier::UNDERLINED),
            "reversed" => style = style.add_modifier(Modifier::REVERSED),
            "on" => {
                let c = words
                    .next()
                    .ok_or("`on` needs a background colour after it")?;
                style = style.bg(parse_color(c).ok_or_else(|| format!("unknown colour {c:?}"))?);
            }
            c if !fg_done => {
                style = style.fg(parse_color(c).ok_or_else(|| format!("unknown colour {c:?}"))?);
                fg_done = true;
            }
            other => {
                return Err(format!(
                "unexpected word {other:?} (one foreground colour, then `on COLOUR` and modifiers)"
            ))
            }
        }
    }
    Ok(style)
}

/// Parses a theme file (`file` names it in errors).
pub fn parse(name: &str, file: &str, text: &str) -> Result<Palette, ThemeError> {
    let err = |line: usize, msg: String| ThemeError::Syntax {
        file: file.to_string(),
        line,
        msg,
    };
    let mut set: Vec<(String, Style)> = Vec::new();
    let mut series = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(err(i + 1, format!("expected `key = style`, got {line:?}")));
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "series" {
            series = v
                .split(',')
                .map(|c| {
                    let c = c.trim();
                    parse_color(c).ok_or_else(|| err(i + 1, format!("unknown colour {c:?}")))
                })
                .collect::<Result<_, _>>()?;
            continue;
        }
        if !KEYS.contains(&k) {
            return Err(err(i + 1, format!("unknown key {k:?}")));
        }
        let style = parse_style(v).map_err(|m| err(i + 1, m))?;
        set.push((k.to_string(), style));
    }
    let get = |k: &str| {
        set.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, s)| *s)
            .or_else(|| set.iter().find(|(n, _)| n == "text").map(|(_, s)| *s))
            .unwrap_or_default()
    };
    if series.is_empty() {
        series = vec![Color::Cyan, Color::Yellow, Color::Green, Color::Magenta];
    }
    Ok(Palette {
        name: name.to_string(),
        text: get("text"),
        dim: get("dim"),
        accent: get("accent"),
        border: get("border"),
        selection: get("selection"),
        ok: get("ok"),
        warn: get("warn"),
        error: get("error"),
        info: get("info"),
        series,
        syntax: SyntaxStyles {
            keyword: get("syntax.keyword"),
            function: get("syntax.function"),
            metric: get("syntax.metric"),
            label: get("syntax.label"),
            string: get("syntax.string"),
            number: get("syntax.number"),
            duration: get("syntax.duration"),
            operator: get("syntax.operator"),
            comment: get("syntax.comment"),
            error: get("syntax.error"),
        },
    })
}

/// Drops a trailing comment: a `#` at the line start or after whitespace that does not
/// begin a `#rrggbb` colour.
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c != b'#' || (i > 0 && !b[i - 1].is_ascii_whitespace()) {
            continue;
        }
        let rest = &line[i + 1..];
        let is_colour = rest.len() >= 6 && rest[..6].bytes().all(|x| x.is_ascii_hexdigit());
        let preceded_by_value =
            line[..i].trim_end().ends_with(['=', ',']) || line[..i].trim_end().ends_with(" on");
        if !(is_colour && preceded_by_value) {
            return &line[..i];
        }
    }
    line
}

const KEYS: &[&str] = &[
    "text",
    "dim",
    "accent",
    "border",
    "selection",
    "ok",
    "warn",
    "error",
    "info",
    "syntax.keyword",
    "syntax.function",
    "syntax.metric",
    "syntax.label",
    "syntax.string",
    "syntax.number",
    "syntax.duration",
    "syntax.operator",
    "syntax.comment",
    "syntax.error",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_differs() {
        let mut seen = Vec::new();
        for (name, text) in BUILTIN {
            let p = parse(name, name, text).unwrap();
            assert_ne!(p.ok, p.error, "{name}: health colours must differ");
            assert!(p.series.len() >= 4, "{name}");
            seen.push(p);
        }
        assert_ne!(seen[0], seen[1]);
    }

    #[test]
    fn styles_colours_and_comments() {
        let p = parse(
            "t",
            "t.theme",
            "# comment\ntext = #102030 on 17 bold # trailing\nok = light-green\nseries = red, #00ff00\n",
        )
        .unwrap();
        assert_eq!(p.text.fg, Some(Color::Rgb(0x10, 0x20, 0x30)));
        assert_eq!(p.text.bg, Some(Color::Indexed(17)));
        assert!(p.text.add_modifier.contains(Modifier::BOLD));
        assert_eq!(p.series, vec![Color::Red, Color::Rgb(0, 255, 0)]);
        // Missing keys fall back to `text`.
        assert_eq!(p.warn, p.text);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("t", "my.theme", "text = red\nok = chartreuse\n").unwrap_err();
        assert_eq!(e.to_string(), "my.theme:2: unknown colour \"chartreuse\"");
        let e = parse("t", "my.theme", "bogus = red\n").unwrap_err();
        assert!(e.to_string().contains("my.theme:1: unknown key"), "{e}");
        let e = parse("t", "my.theme", "text red\n").unwrap_err();
        assert!(e.to_string().contains("expected `key = style`"), "{e}");
    }

    #[test]
    fn user_themes_override_and_extend_builtins() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mine.theme"), "text = magenta\n").unwrap();
        std::fs::write(d.path().join("dark.theme"), "text = blue\n").unwrap();
        let names = available(Some(d.path()));
        assert!(names.contains(&"mine".to_string()) && names.contains(&"solarized".into()));
        assert_eq!(
            load("mine", Some(d.path())).unwrap().text.fg,
            Some(Color::Magenta)
        );
        assert_eq!(
            load("dark", Some(d.path())).unwrap().text.fg,
            Some(Color::Blue)
        );
        assert!(matches!(
            load("nope", Some(d.path())),
            Err(ThemeError::Unknown { .. })
        ));
    }

    #[test]
    fn glyphs_fall_back_on_plain_terminals() {
        assert_eq!(glyphs_for("linux", "en_US.UTF-8"), Glyphs::Ascii);
        assert_eq!(glyphs_for("xterm-256color", "C"), Glyphs::Block);
        assert_eq!(glyphs_for("tmux-256color", "C.UTF-8"), Glyphs::Braille);
        assert_eq!(parse_glyphs("block"), Ok(Glyphs::Block));
        assert!(parse_glyphs("emoji").is_err());
    }
}
