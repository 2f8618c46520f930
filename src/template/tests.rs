//! Cases with the output Go's text/template gives for them.

use std::sync::Arc;

use super::exec::map;
use super::*;

fn run(src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse("t", src, FuncMap::new())?.execute(data)
}

fn ok(src: &str, data: &Value) -> String {
    run(src, data).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn labels() -> Value {
    Value::labels([("instance", "host:9100"), ("job", "node")])
}

#[test]
fn text_fields_and_variables() {
    let d = map(&[("Labels", labels()), ("Value", Value::Float(0.25))]);
    assert_eq!(ok("a {{ .Labels.job }} b", &d), "a node b");
    assert_eq!(ok("{{ .Value }}", &d), "0.25");
    assert_eq!(
        ok("[{{ .Labels.missing }}]", &d),
        "[]",
        "map[string]string zero value"
    );
    assert_eq!(ok("{{ .Nope }}", &d), "<no value>");
    assert_eq!(
        ok("{{ $x := .Labels.job }}{{ $x }}-{{ $.Value }}", &d),
        "node-0.25"
    );
    assert_eq!(ok("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", &d), "2");
    assert_eq!(
        ok("{{ 1e6 }} {{ 100000.0 }} {{ 3 }} {{ 0x10 }} {{ 'a' }}", &d),
        "1e+06 100000 3 16 97"
    );
}

#[test]
fn trim_markers_and_comments() {
    let d = Value::Nil;
    assert_eq!(ok("a  {{- 1 -}}  b", &d), "a1b");
    assert_eq!(ok("a {{/* note */}} b", &d), "a  b");
    assert_eq!(ok("a {{- /* note */ -}} b", &d), "ab");
    assert_eq!(ok("{{- \"x\" }}\n", &d), "x\n");
}

#[test]
fn control_structures() {
    let d = map(&[
        ("L", Value::List(vec![1.into(), 2.into(), 3.into()])),
        ("M", Value::labels([("b", "2"), ("a", "1")])),
        ("E", Value::List(vec![])),
    ]);
    assert_eq!(ok("{{ if .L }}y{{ else }}n{{ end }}", &d), "y");
    assert_eq!(
        ok("{{ if .E }}y{{ else if .L }}z{{ else }}n{{ end }}", &d),
        "z"
    );
    assert_eq!(ok("{{ range .L }}{{ . }},{{ end }}", &d), "1,2,3,");
    assert_eq!(
        ok("{{ range $i, $e := .L }}{{ $i }}={{ $e }} {{ end }}", &d),
        "0=1 1=2 2=3 "
    );
    assert_eq!(
        ok("{{ range $k, $v := .M }}{{ $k }}:{{ $v }};{{ end }}", &d),
        "a:1;b:2;"
    );
    assert_eq!(ok("{{ range .E }}x{{ else }}empty{{ end }}", &d), "empty");
    assert_eq!(
        ok("{{ range .L }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}", &d),
        "1"
    );
    assert_eq!(ok("{{ with .M.a }}[{{ . }}]{{ end }}", &d), "[1]");
    assert_eq!(
        ok("{{ with .M.zz }}[{{ . }}]{{ else }}none{{ end }}", &d),
        "none"
    );
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}", &d), "012");
}

#[test]
fn define_template_and_block() {
    let d = map(&[("N", "x".into())]);
    let src = r#"{{ define "inner" }}<{{ . }}>{{ end }}{{ template "inner" .N }}|{{ block "b" . }}{{ .N }}!{{ end }}"#;
    assert_eq!(ok(src, &d), "<x>|x!");
    let t = Template::parse("t", src, FuncMap::new()).unwrap();
    assert_eq!(t.execute_named("inner", &"y".into()).unwrap(), "<y>");
    let e = run(r#"{{ template "nope" }}"#, &d).unwrap_err().to_string();
    assert!(
        e.contains("no such template") || e.contains("not defined"),
        "{e}"
    );
}

#[test]
fn pipelines_and_builtins() {
    let d = map(&[
        ("S", "hello".into()),
        ("L", Value::List(vec!["a".into(), "b".into()])),
    ]);
    assert_eq!(ok("{{ .S | len }}", &d), "5");
    assert_eq!(ok("{{ index .L 1 }}", &d), "b");
    assert_eq!(ok("{{ slice .S 1 3 }}", &d), "el");
    assert_eq!(ok("{{ print 1 2 \"a\" 3 }}", &d), "1 2a3");
    assert_eq!(ok("{{ println 1 \"a\" }}", &d), "1 a\n");
    assert_eq!(
        ok("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not 0 }}", &d),
        "0 3 true"
    );
    assert_eq!(
        ok("{{ html \"<a href='x'>\" }}", &d),
        "&lt;a href=&#39;x&#39;&gt;"
    );
    assert_eq!(ok("{{ urlquery \"a b&c\" }}", &d), "a+b%26c");
    assert_eq!(ok("{{ js \"it's <b>\" }}", &d), "it\\'s \\u003Cb\\u003E");
    assert_eq!(
        ok(
            "{{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1.5 2.5 }} {{ ge \"b\" \"a\" }}",
            &d
        ),
        "true true true true"
    );
    assert_eq!(ok("{{ (index .L 0) }}{{ len (slice .L 1) }}", &d), "a1");
}

#[test]
fn printf_verbs() {
    let d = Value::Nil;
    assert_eq!(
        ok(
            r#"{{ printf "%.2f|%5.1f|%-4d|%04d|%x|%q|%s|%v|%t|%%" 3.14159 2.0 7 42 255 "hi" "s" 1.5 true }}"#,
            &d
        ),
        "3.14|  2.0|7   |0042|ff|\"hi\"|s|1.5|true|%"
    );
    assert_eq!(
        ok(
            r#"{{ printf "%e %g %.3g %G" 123456.789 0.000012 1234.5678 1e21 }}"#,
            &d
        ),
        "1.234568e+05 1.2e-05 1.23e+03 1E+21"
    );
    assert_eq!(
        ok(r#"{{ printf "%d %s" "x" }}"#, &d),
        "%!d(string=x) %!s(MISSING)"
    );
    assert_eq!(ok(r#"{{ printf "%d" 1 2 }}"#, &d), "1%!(EXTRA int=2)");
    assert_eq!(ok(r#"{{ printf "%.1f%%" 99.95 }}"#, &d), "100.0%");
}

#[test]
fn go_errors() {
    let d = map(&[("V", Value::Float(1.5))]);
    // Integers and floats do not compare in Go templates.
    let e = run("{{ if gt .V 1 }}x{{ end }}", &d)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "template: t:1:6: executing \"t\" at <gt .V 1>: error calling gt: incompatible types for comparison");
    let e = run("{{ nofunc 1 }}", &d).unwrap_err().to_string();
    assert_eq!(e, "template: t:1: function \"nofunc\" not defined");
    let e = run("{{ $y }}", &d).unwrap_err().to_string();
    assert_eq!(e, "template: t:1: undefined variable \"$y\"");
    // An assignment parses (Go's parser declares it) and fails when run.
    let e = run("{{ $z = 1 }}", &d).unwrap_err().to_string();
    assert!(e.ends_with("undefined variable: $z"), "{e}");
    let e = run("{{ if 1 }}", &d).unwrap_err().to_string();
    assert!(e.starts_with("template: t:1: unexpected EOF"), "{e}");
    let e = run("{{ end }}", &d).unwrap_err().to_string();
    assert!(e.contains("unexpected {{end}}"), "{e}");
    let s = Value::Struct("*template.sample", vec![("Value", 1.0.into())]);
    let e = run("{{ .Labels }}", &s).unwrap_err().to_string();
    assert!(
        e.contains("can't evaluate field Labels in type *template.sample"),
        "{e}"
    );
    // Unclosed things never panic.
    for bad in [
        "{{",
        "{{ \"abc",
        "{{ (1 }}",
        "{{ 1) }}",
        "{{ define }}",
        "{{/* x",
        "{{ range $a, $b, $c := . }}{{ end }}",
        "{{ . | 1 }}",
    ] {
        assert!(run(bad, &d).is_err(), "{bad}");
    }
}

#[test]
fn custom_functions_get_the_piped_value_last() {
    let mut f = FuncMap::new();
    f.insert(
        "join".into(),
        Arc::new(|a: &[Value]| {
            Ok(Value::Str(
                a.iter().map(fmt::sprint_v).collect::<Vec<_>>().join("+"),
            ))
        }),
    );
    f.insert("fail".into(), Arc::new(|_: &[Value]| Err("boom".into())));
    let t = Template::parse("t", "{{ 3 | join 1 2 }}", f.clone()).unwrap();
    assert_eq!(t.execute(&Value::Nil).unwrap(), "1+2+3");
    let t = Template::parse("t", "{{ fail }}", f).unwrap();
    assert_eq!(
        t.execute(&Value::Nil).unwrap_err().to_string(),
        "template: t:1:3: executing \"t\" at <fail>: error calling fail: boom"
    );
}

#[test]
fn lists_maps_and_structs_print_as_go() {
    let d = map(&[
        ("L", Value::List(vec![1.into(), "a".into(), Value::Nil])),
        (
            "S",
            Value::Struct("sample", vec![("Labels", labels()), ("Value", 2.0.into())]),
        ),
    ]);
    assert_eq!(ok("{{ .L }}", &d), "[1 a <nil>]");
    assert_eq!(ok("{{ .S }}", &d), "{map[instance:host:9100 job:node] 2}");
    assert_eq!(ok("{{ .S.Labels.job }}", &d), "node");
}

#[test]
fn random_input_never_panics_or_hangs() {
    // A fixed-seed generator over the characters templates are made of.
    let alphabet: Vec<&str> = vec![
        "{{", "}}", "{{- ", " -}}", "/*", "*/", " ", ".", "$", "$x", ":=", "=", "(", ")", "|",
        "\"", "'", "`", "1", "1e3", "-", "x", "if", "else", "end", "range", "with", "define",
        "template", "block", "break", "continue", "len", "printf", "\"%d\"", "→", "é", ",", "\n",
        "index", "and", "nil", "true",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let data = map(&[("x", Value::List(vec![1.into(), "a".into()]))]);
    for _ in 0..20_000 {
        let n = (next() % 24) as usize;
        let src: String = (0..n)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        if let Ok(t) = Template::parse("f", &src, FuncMap::new()) {
            let _ = t.execute(&data);
        }
    }
}

#[test]
fn deep_nesting_and_recursion_end_in_errors_not_stack_overflows() {
    let d = Value::Nil;
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(run(&deep, &d)
        .unwrap_err()
        .to_string()
        .contains("nested deeper"));
    let ifs = format!(
        "{}x{}",
        "{{ if 1 }}".repeat(10_000),
        "{{ end }}".repeat(10_000)
    );
    assert!(run(&ifs, &d)
        .unwrap_err()
        .to_string()
        .contains("nested deeper"));
    let ok_depth = format!("{{{{ {}1{} }}}}", "(".repeat(100), ")".repeat(100));
    assert_eq!(run(&ok_depth, &d).unwrap(), "1");
    let ok_ifs = format!("{}x{}", "{{ if 1 }}".repeat(100), "{{ end }}".repeat(100));
    assert_eq!(run(&ok_ifs, &d).unwrap(), "x");
    let chain = (0..99)
        .map(|i| {
            format!(
                "{{{{ define \"t{i}\" }}}}{{{{ template \"t{}\" }}}}{{{{ end }}}}",
                i + 1
            )
        })
        .collect::<String>()
        + "{{ define \"t99\" }}deep{{ end }}{{ template \"t0\" }}";
    assert_eq!(run(&chain, &d).unwrap(), "deep");
    let e = run(
        r#"{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}"#,
        &d,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exceeded maximum template depth"), "{e}");
}

/// A named map type with methods, as Alertmanager's `template.KV`.
fn typed_methods() -> MethodMap {
    let mut m = MethodMap::new();
    m.insert(
        "t.KV.Keys".into(),
        Arc::new(|r: &Value, a: &[Value]| {
            if !a.is_empty() {
                return Err(format!("want 0 args got {}", a.len()));
            }
            match r {
                Value::StrMap(m) => Ok(Value::List(
                    m.keys().map(|k| Value::Str(k.clone())).collect(),
                )),
                _ => Err("not a map".into()),
            }
        }) as Method,
    );
    m.insert(
        "t.KV.Without".into(),
        Arc::new(|r: &Value, a: &[Value]| {
            let (Value::StrMap(m), [Value::List(keys)]) = (r, a) else {
                return Err("bad args".into());
            };
            let mut m = m.clone();
            for k in keys {
                if let Value::Str(k) = k {
                    m.remove(k);
                }
            }
            Ok(Value::Typed("t.KV", Box::new(Value::StrMap(m))))
        }) as Method,
    );
    m.insert(
        "t.Stamp.String".into(),
        Arc::new(|r: &Value, _: &[Value]| Ok(Value::Str(format!("@{}", super::fmt::sprint_v(r)))))
            as Method,
    );
    m
}

fn run_typed(src: &str, data: &Value, escape: Escape) -> Result<String, TemplateError> {
    Template::parse("t", src, FuncMap::new())?
        .with_methods(typed_methods())
        .execute_escaped("t", data, escape)
}

#[test]
fn typed_values_call_methods_before_map_keys() {
    let kv = Value::Typed("t.KV", Box::new(labels()));
    let d = map(&[
        ("L", kv),
        ("Keep", Value::List(vec![Value::Str("job".into())])),
        ("At", Value::Typed("t.Stamp", Box::new(Value::Int(5)))),
    ]);
    let r = |s: &str| run_typed(s, &d, Escape::Text).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(r("{{ .L.Keys }}"), "[instance job]");
    // A key that is no method reads the map.
    assert_eq!(r("{{ .L.job }}"), "node");
    // `.A.Method .B` gives the method an argument; `.A.B` chains.
    assert_eq!(r("{{ .L.Without .Keep }}"), "map[instance:host:9100]");
    assert_eq!(r("{{ (.L.Without .Keep).Keys }}"), "[instance]");
    assert_eq!(
        r("{{ with .L.Without .Keep }}{{ .Keys }}{{ end }}"),
        "[instance]"
    );
    assert_eq!(r("{{ .Keep | .L.Without }}"), "map[instance:host:9100]");
    // Range, len and functions see the underlying value.
    assert_eq!(
        r("{{ range $k, $v := .L }}{{ $k }};{{ end }}{{ len .L }}"),
        "instance;job;2"
    );
    // A String method is how the value prints, also inside print.
    assert_eq!(r("{{ .At }}"), "@5");
    let e = run_typed("{{ .L.Keys 1 }}", &d, Escape::Text).unwrap_err();
    assert!(
        e.to_string()
            .contains("error calling Keys: want 0 args got 1"),
        "{e}"
    );
}

#[test]
fn html_escaping_of_action_output() {
    let d = map(&[
        ("S", Value::Str("<a href='x'>&+\"".into())),
        (
            "Safe",
            Value::Typed("template.HTML", Box::new(Value::Str("<b>".into()))),
        ),
    ]);
    assert_eq!(
        run_typed("<p>{{ .S }}</p>{{ .Safe }}", &d, Escape::Html).unwrap(),
        "<p>&lt;a href=&#39;x&#39;&gt;&amp;&#43;&#34;</p><b>"
    );
    // Text mode writes as is.
    assert_eq!(
        run_typed("{{ .S }}", &d, Escape::Text).unwrap(),
        "<a href='x'>&+\""
    );
}

#[test]
fn added_templates_replace_defines() {
    let mut t = Template::parse("base", "{{ define \"x\" }}old{{ end }}", FuncMap::new()).unwrap();
    t.add(
        "more",
        "{{ define \"x\" }}new{{ end }}{{ define \"y\" }}Y{{ end }}",
    )
    .unwrap();
    t.add("main", "{{ template \"x\" }}{{ template \"y\" }}")
        .unwrap();
    assert_eq!(t.execute_named("main", &Value::Nil).unwrap(), "newY");
    // A failed add leaves the set as it was.
    assert!(t
        .add("bad", "{{ define \"x\" }}{{ nosuch }}{{ end }}")
        .is_err());
    assert_eq!(t.execute_named("x", &Value::Nil).unwrap(), "new");
}

#[test]
fn urls_in_attributes_are_filtered_and_normalized() {
    let d = map(&[
        ("U", Value::Str("http://h/a b?q=1&r=é+%3D".into())),
        ("Bad", Value::Str("javascript:alert(1)".into())),
        ("R", Value::Str("team a/b".into())),
        (
            "Safe",
            Value::Typed("template.HTML", Box::new(Value::Str("<b>".into()))),
        ),
    ]);
    let r = |s: &str| run_typed(s, &d, Escape::Html).unwrap_or_else(|e| panic!("{s}: {e}"));
    // The e-mail HTML Alertmanager 0.25 (html/template) rendered from these templates
    // and values; template text is written as it is.
    assert_eq!(
        r(r#"<a href="{{ .U }}">{{ .U }}</a>"#),
        "<a href=\"http://h/a%20b?q=1&amp;r=%c3%a9&#43;%3D\">http://h/a b?q=1&amp;r=é&#43;%3D</a>"
    );
    assert_eq!(r(r#"<a href="{{ .Bad }}">"#), "<a href=\"#ZgotmplZ\">");
    assert_eq!(
        r(r#"<a href="http://x/?r={{ .R }}&s={{ .R | urlquery }}">"#),
        "<a href=\"http://x/?r=team%20a%2fb&s=team&#43;a%2Fb\">"
    );
    assert_eq!(r(r#"<img src='/p/{{ .R }}'>"#), "<img src='/p/team%20a/b'>");
    assert_eq!(
        r(r#"<a title="{{ .R }}" href="{{ .Safe }}">{{ .Safe }}"#),
        "<a title=\"team a/b\" href=\"%3cb%3e\"><b>"
    );
}

#[test]
fn execute_text_runs_against_the_set_without_changing_it() {
    let t = Template::parse("base", "{{ define \"x\" }}base-x{{ end }}", FuncMap::new()).unwrap();
    let d = Value::Nil;
    assert_eq!(
        t.execute_text("", "<{{ template \"x\" }}>", &d, Escape::Text)
            .unwrap(),
        "<base-x>"
    );
    // A define in the text wins for that execution only.
    assert_eq!(
        t.execute_text(
            "",
            "{{ define \"x\" }}own{{ end }}{{ template \"x\" }}",
            &d,
            Escape::Text
        )
        .unwrap(),
        "own"
    );
    assert_eq!(t.execute_named("x", &d).unwrap(), "base-x");
    assert!(t
        .execute_text("", "{{ template \"nope\" }}", &d, Escape::Text)
        .is_err());
}
