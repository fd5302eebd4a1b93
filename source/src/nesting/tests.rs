use super::*;

fn depth_ok(src: &str, max: u32) -> bool {
    check(src, max).is_ok()
}

#[test]
fn nested_brackets_are_counted_and_closing_them_gives_the_depth_back() {
    let deep = format!("x = {}1{};", "(".repeat(100), ")".repeat(100));
    assert!(!depth_ok(&deep, 50));
    assert!(depth_ok(&deep, 200));
    let wide: String = (0..10_000).map(|_| "f((a), [b], {c: 1});\n").collect();
    assert!(depth_ok(&wide, 20), "siblings do not add up");
    let tpl = format!("x = {}1{};", "`${".repeat(100), "}`".repeat(100));
    assert!(!depth_ok(&tpl, 50));
}

#[test]
fn operator_chains_count_until_a_comma_semicolon_or_statement_end() {
    for chain in [
        "!", "- ", "a = ", "a ? b : ", "a => ", "typeof ", "await ", "1 + ",
    ] {
        let src = format!("x = {}1;", chain.repeat(300));
        assert!(!depth_ok(&src, 200), "{chain}");
    }
    let statements: String = (0..5000)
        .map(|i| format!("let a{i} = b + c * d;\n"))
        .collect();
    assert!(depth_ok(&statements, 20));
    let asi: String = (0..5000).map(|i| format!("const a{i} = b + c\n")).collect();
    assert!(
        depth_ok(&asi, 20),
        "line breaks that end statements end the count"
    );
    let args: String = format!(
        "f({});",
        (0..5000)
            .map(|i| format!("a{i} = 1"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(depth_ok(&args, 20));
}

#[test]
fn unbraced_statements_and_else_chains_count() {
    let ifs = format!("{}x;", "if (a) ".repeat(300));
    assert!(!depth_ok(&ifs, 200));
    let chain = format!("if (a) x; {}", "else if (a) x; ".repeat(300));
    assert!(!depth_ok(&chain, 200));
    let braced: String = (0..5000)
        .map(|_| "if (a) { x(); } else { y(); }\n")
        .collect();
    assert!(
        depth_ok(&braced, 20),
        "complete if statements end their count"
    );
}

#[test]
fn type_arguments_count_until_closed() {
    let deep = format!("type T = {}number{};", "A<".repeat(300), ">".repeat(300));
    assert!(!depth_ok(&deep, 200));
    let wide: String = (0..5000)
        .map(|i| format!("let m{i}: Map<string, Array<T>> = x;\n"))
        .collect();
    assert!(depth_ok(&wide, 20));
    let comma = format!("let t: {}number;", "A<x, ".repeat(300));
    assert!(
        !depth_ok(&comma, 200),
        "commas inside type arguments do not end them"
    );
}

#[test]
fn strings_comments_templates_and_regexes_hide_nothing_real() {
    let quoted = format!(
        "x = \"{}\"; y = '{}'; // {}\n/* {} */",
        "(".repeat(500),
        "[".repeat(500),
        "{".repeat(500),
        "(".repeat(500)
    );
    assert!(depth_ok(&quoted, 20));
    let regex = format!(
        "x = /{}/g.test(s); if (a) /[(]{}/.test(s);",
        "\\(".repeat(500),
        "\\(".repeat(500)
    );
    assert!(depth_ok(&regex, 20));
    let division = format!("x = (a) / {}1{} / 2;", "(".repeat(300), ")".repeat(300));
    assert!(
        !depth_ok(&division, 200),
        "a division after `)` is code, not a regex"
    );
}

#[test]
fn an_ambiguous_slash_counts_both_readings_or_is_refused() {
    // After `}`, the parser alone knows: both readings are counted.
    let both = format!("x = {{}} / {}1{} / 2;", "(".repeat(300), ")".repeat(300));
    assert!(!depth_ok(&both, 200));
    let closers = format!(
        "{}{{}} /{}/ {}x{}",
        "(".repeat(100),
        ")".repeat(100),
        "(".repeat(150),
        ")".repeat(250)
    );
    assert!(
        !depth_ok(&closers, 200),
        "closers inside the would-be regex do not lower the depth"
    );
    assert!(matches!(
        check("{} / \" / 1; ((((\"", 100),
        Err(Refusal::AmbiguousSlash { .. })
    ));
}
