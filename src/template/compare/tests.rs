//! The checked comparison and the rewrite that calls it.

use super::*;
use minijinja::{Environment, context};

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function(CHECKED, checked_compare);
    env
}

fn eval(expr: &str, ctx: Value) -> Result<Value, Error> {
    let env = env();
    let src = rewrite_expr(expr).unwrap_or_else(|| expr.to_string());
    env.compile_expression(&src)?.eval(ctx)
}

#[test]
fn comparisons_of_the_same_kind_keep_their_meaning() {
    let ctx = context! { n => 5, s => "abc", l => vec![1, 2, 3], m => context!{a => 1}, f => 1.5 };
    for (expr, want) in [
        ("n == 5", true),
        ("n != 5", false),
        ("50 <= n", false),
        ("n < 50 and s == 'abc'", true),
        ("1 < n < 10", true),
        ("1 < n < 3", false),
        ("n > f", true),
        ("(n + 1) * 2 == 12", true),
        ("s | upper == 'ABC'", true),
        ("l | length >= 3", true),
        ("2 in l and 7 not in l", true),
        ("not n == 4", true),
        ("m.a == 1 and l[0] == 1 and l[1:][0] == 2", true),
        ("(n if n > 3 else 0) == 5", true),
        ("s is defined and s is startingwith('a')", true),
        ("[n == 5, n == 6][0]", true),
        ("{'k': n == 5}['k']", true),
        ("range(3) | list == [0, 1, 2]", true),
        ("-n < 0", true),
        ("'a' ~ s == 'aabc'", true),
        ("none == none", true),
    ] {
        let got = eval(expr, ctx.clone()).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(
            got.is_true(),
            want,
            "{expr} (rewritten: {:?})",
            rewrite_expr(expr)
        );
    }
}

#[test]
fn a_number_against_a_string_is_an_error_naming_both() {
    let ctx = context! { m => "5", n => 5 };
    for expr in [
        "50 <= m",
        "m == 5",
        "n != '5'",
        "1 < n < '9'",
        "not (m > 3)",
        "[m < 1][0]",
    ] {
        let e = eval(expr, ctx.clone()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("the number") && text.contains("the string"),
            "{expr}: {text}"
        );
    }
    let e = eval("50 <= m", ctx).unwrap_err().to_string();
    assert!(
        e.contains("the number 50") && e.contains("the string \"5\"") && e.contains("`<=`"),
        "{e}"
    );
}

#[test]
fn an_undefined_side_is_an_error_not_false() {
    let e = eval("m.nothere == 1", context! { m => context!{a => 1} }).unwrap_err();
    assert_eq!(e.kind(), minijinja::ErrorKind::UndefinedError, "{e}");
    // Guarded, it is fine.
    assert!(
        eval(
            "m.nothere is not defined or m.nothere == 1",
            context! { m => context!{a => 1} }
        )
        .unwrap()
        .is_true()
    );
}

#[test]
fn expressions_without_comparisons_are_left_alone() {
    assert_eq!(rewrite_expr("a and b | default(1)"), None);
    assert_eq!(rewrite_expr("x in [1, 2]"), None);
    assert_eq!(rewrite_expr("(((("), None);
}

#[test]
fn templates_are_rewritten_inside_expressions_and_if_blocks_only() {
    let env = env();
    let t = "n={{ n }} {{ n > 3 }} {% if n == 5 %}five{% elif n < 1 %}none{% endif %} {{- ' x' }}";
    let r = rewrite_template(t).unwrap();
    let out = env.render_str(&r, context! { n => 5 }).unwrap();
    assert_eq!(out, "n=5 True five x");
    let e = env.render_str(&r, context! { n => "5" }).unwrap_err();
    assert!(e.to_string().contains("the string"), "{e}");
    assert_eq!(
        rewrite_template("plain {{ a }} text {% for x in l %}{{ x }}{% endfor %}"),
        None
    );
}
