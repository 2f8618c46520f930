//! The README's command lines and `--help` output cannot rot: every `promtui ...` line in
//! README.md must parse with the real CLI definition, and `--help` must explain each command.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Splits a shell-like line into words, honouring single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[test]
fn readme_command_lines_parse() {
    let text = readme();
    let mut checked = 0;
    for line in text.lines() {
        let line = line.trim();
        let Some(cmd) = line.strip_prefix("promtui ") else {
            continue;
        };
        let cmd = cmd.split(" #").next().unwrap_or(cmd);
        let mut args = vec!["promtui".to_string()];
        // Shell redirections and pipes are not arguments.
        args.extend(
            shell_words(cmd)
                .into_iter()
                .take_while(|w| !matches!(w.as_str(), "<" | ">" | "|")),
        );
        if args.iter().any(|a| a == "--help") {
            continue;
        }
        if let Err(e) = promtui::cli::parse_args(&args) {
            panic!("README line does not parse: {line}\n{e}");
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected README command lines, found {checked}"
    );
}

#[test]
fn readme_has_the_two_setup_commands() {
    let text = readme();
    assert!(text.contains("    cargo run --release\n"));
    assert!(text.contains("    cargo test\n"));
}

#[test]
fn help_explains_every_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promtui"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in ["tsdb", "check", "--storage.tsdb.path"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    for sub in [
        &["tsdb", "import", "openmetrics", "--help"][..],
        &["tsdb", "dump", "--help"],
        &["check", "config", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(sub)
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"tsdb dump --match 'up{job="node"}' -x"#),
        vec!["tsdb", "dump", "--match", r#"up{job="node"}"#, "-x"]
    );
}
