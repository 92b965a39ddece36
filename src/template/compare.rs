//! Comparisons that cannot silently pass: minijinja orders values of
//! different kinds by kind, so `50 <= "5"` holds and `5 == "5"` is false
//! without a word. Before an expression is compiled, every comparison in it
//! (`==`, `!=`, `<`, `<=`, `>`, `>=`, chained or not) is rewritten into a
//! call of [`CHECKED`], a function that compares as minijinja does but
//! fails, naming both values, when a number meets a string.
//!
//! The rewrite prints the parsed expression back (fully parenthesised);
//! leaves keep their exact source text. Templates are rewritten inside
//! `{{ … }}`, `{% if … %}` and `{% elif … %}`.

use std::cmp::Ordering;

use minijinja::machinery::ast::{BinOpKind, CallArg, CompareOpKind, Expr, UnaryOpKind};
use minijinja::machinery::{Token, parse_expr, tokenize};
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// The name of the checked comparison function in the environment.
pub const CHECKED: &str = "__mkeprep_compare";

/// The checked comparison: `(a, op, b, op, c, …)`, chained as Jinja
/// chains (`a < b < c` is `a < b and b < c`).
pub fn checked_compare(args: Rest<Value>) -> Result<bool, Error> {
    let args = &args.0;
    let mut left = args.first().cloned().unwrap_or_default();
    for pair in args[1..].chunks(2) {
        let [op, right] = pair else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "malformed comparison",
            ));
        };
        let op = op.as_str().unwrap_or("");
        if left.is_undefined() || right.is_undefined() {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                format!("a side of `{op}` is undefined"),
            ));
        }
        let number = |v: &Value| v.kind() == ValueKind::Number;
        let string = |v: &Value| v.kind() == ValueKind::String;
        if (number(&left) && string(right)) || (string(&left) && number(right)) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "cannot compare {} with {} (`{op}`): a number and a string are never equal or ordered. Write numbers without quotes (`-e m=5` is a number, `-e m='5'` a string), or convert with `| int`, `| float` or `| string`",
                    describe(&left),
                    describe(right)
                ),
            ));
        }
        let holds = match op {
            "==" => left == *right,
            "!=" => left != *right,
            "<" => left.cmp(right) == Ordering::Less,
            "<=" => left.cmp(right) != Ordering::Greater,
            ">" => left.cmp(right) == Ordering::Greater,
            ">=" => left.cmp(right) != Ordering::Less,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unknown comparison `{op}`"),
                ));
            }
        };
        if !holds {
            return Ok(false);
        }
        left = right.clone();
    }
    Ok(true)
}

fn describe(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => format!("the string {}", serde_json::Value::from(v.to_string())),
        _ => format!("the number {v}"),
    }
}

/// The expression with its comparisons checked, or `None` when it has no
/// comparison (or does not parse: compiling it reports the syntax error).
pub fn rewrite_expr(src: &str) -> Option<String> {
    let expr = parse_expr(src).ok()?;
    let mut out = String::with_capacity(src.len() + 32);
    let mut p = Printer { src, found: false };
    p.expr(&expr, &mut out);
    p.found.then_some(out)
}

/// A template with the comparisons inside `{{ … }}`, `{% if … %}` and
/// `{% elif … %}` checked, or `None` when there is nothing to rewrite.
pub fn rewrite_template(src: &str) -> Option<String> {
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    let mut block_keyword = false;
    let mut block_open: Option<usize> = None;
    for tok in tokenize(src, false, Default::default()) {
        let (tok, span) = tok.ok()?;
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        match tok {
            Token::VariableStart => open = Some(end),
            Token::VariableEnd => {
                if let Some(s) = open.take() {
                    regions.push((s, start));
                }
            }
            Token::BlockStart => block_keyword = true,
            Token::Ident("if" | "elif") if block_keyword => {
                block_keyword = false;
                block_open = Some(end);
            }
            Token::BlockEnd => {
                block_keyword = false;
                if let Some(s) = block_open.take() {
                    regions.push((s, start));
                }
            }
            _ => block_keyword = false,
        }
    }
    let mut out = String::with_capacity(src.len() + 32);
    let mut at = 0;
    let mut changed = false;
    for (s, e) in regions {
        let Some(inner) = src.get(s..e) else { continue };
        if let Some(new) = rewrite_expr(inner) {
            out.push_str(&src[at..s]);
            out.push(' ');
            out.push_str(&new);
            out.push(' ');
            at = e;
            changed = true;
        }
    }
    out.push_str(&src[at..]);
    changed.then_some(out)
}

struct Printer<'s> {
    src: &'s str,
    found: bool,
}

fn binop(op: &BinOpKind) -> &'static str {
    match op {
        BinOpKind::Eq => "==",
        BinOpKind::Ne => "!=",
        BinOpKind::Lt => "<",
        BinOpKind::Lte => "<=",
        BinOpKind::Gt => ">",
        BinOpKind::Gte => ">=",
        BinOpKind::ScAnd => "and",
        BinOpKind::ScOr => "or",
        BinOpKind::Add => "+",
        BinOpKind::Sub => "-",
        BinOpKind::Mul => "*",
        BinOpKind::Div => "/",
        BinOpKind::FloorDiv => "//",
        BinOpKind::Rem => "%",
        BinOpKind::Pow => "**",
        BinOpKind::Concat => "~",
        BinOpKind::In => "in",
    }
}

fn is_comparison(op: &BinOpKind) -> bool {
    matches!(
        op,
        BinOpKind::Eq
            | BinOpKind::Ne
            | BinOpKind::Lt
            | BinOpKind::Lte
            | BinOpKind::Gt
            | BinOpKind::Gte
    )
}

impl Printer<'_> {
    fn span_text(&self, span: minijinja::machinery::Span) -> &str {
        self.src
            .get(span.start_offset as usize..span.end_offset as usize)
            .unwrap_or("")
            .trim()
    }

    fn args(&mut self, args: &[CallArg<'_>], out: &mut String) {
        out.push('(');
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                CallArg::Pos(e) => self.expr(e, out),
                CallArg::Kwarg(name, e) => {
                    out.push_str(name);
                    out.push('=');
                    self.expr(e, out);
                }
                CallArg::PosSplat(e) => {
                    out.push('*');
                    self.expr(e, out);
                }
                CallArg::KwargSplat(e) => {
                    out.push_str("**");
                    self.expr(e, out);
                }
            }
        }
        out.push(')');
    }

    fn items(&mut self, items: &[Expr<'_>], out: &mut String) {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.expr(e, out);
        }
    }

    fn compare_call(&mut self, first: &Expr<'_>, rest: &[(&str, &Expr<'_>)], out: &mut String) {
        self.found = true;
        out.push_str(CHECKED);
        out.push('(');
        self.expr(first, out);
        for (op, e) in rest {
            out.push_str(", \"");
            out.push_str(op);
            out.push_str("\", ");
            self.expr(e, out);
        }
        out.push(')');
    }

    /// The base of `.name`, `[i]` or `[a:b]`: names, lookups and calls as
    /// they are (`steps.x.y` stays readable in errors), anything else in
    /// parentheses.
    fn postfix_base(&mut self, e: &Expr<'_>, out: &mut String) {
        if matches!(
            e,
            Expr::Var(_) | Expr::GetAttr(_) | Expr::GetItem(_) | Expr::Slice(_) | Expr::Call(_)
        ) {
            self.expr(e, out);
        } else {
            out.push('(');
            self.expr(e, out);
            out.push(')');
        }
    }

    fn expr(&mut self, e: &Expr<'_>, out: &mut String) {
        match e {
            Expr::Var(v) => out.push_str(v.id),
            Expr::Const(c) => {
                let text = self.span_text(c.span());
                if text.is_empty() {
                    // A constant without source text of its own (folded).
                    out.push_str(&c.value.to_string());
                } else {
                    out.push_str(text);
                }
            }
            Expr::Slice(s) => {
                self.postfix_base(&s.expr, out);
                out.push('[');
                if let Some(x) = &s.start {
                    self.expr(x, out);
                }
                out.push(':');
                if let Some(x) = &s.stop {
                    self.expr(x, out);
                }
                if let Some(x) = &s.step {
                    out.push(':');
                    self.expr(x, out);
                }
                out.push(']');
            }
            Expr::UnaryOp(u) => {
                out.push_str(match u.op {
                    UnaryOpKind::Not => "(not ",
                    UnaryOpKind::Neg => "(-",
                });
                self.expr(&u.expr, out);
                out.push(')');
            }
            Expr::BinOp(b) if is_comparison(&b.op) => {
                self.compare_call(&b.left, &[(binop(&b.op), &b.right)], out)
            }
            Expr::BinOp(b) => {
                out.push('(');
                self.expr(&b.left, out);
                out.push(' ');
                out.push_str(binop(&b.op));
                out.push(' ');
                self.expr(&b.right, out);
                out.push(')');
            }
            Expr::Compare(c) => {
                let checkable = c
                    .ops
                    .iter()
                    .all(|o| !matches!(o.op, CompareOpKind::In | CompareOpKind::NotIn));
                if checkable {
                    let rest: Vec<(&str, &Expr<'_>)> = c
                        .ops
                        .iter()
                        .map(|o| {
                            let op = match o.op {
                                CompareOpKind::Eq => "==",
                                CompareOpKind::Ne => "!=",
                                CompareOpKind::Lt => "<",
                                CompareOpKind::Lte => "<=",
                                CompareOpKind::Gt => ">",
                                CompareOpKind::Gte => ">=",
                                CompareOpKind::In | CompareOpKind::NotIn => "in",
                            };
                            (op, &o.expr)
                        })
                        .collect();
                    self.compare_call(&c.expr, &rest, out);
                } else {
                    out.push('(');
                    self.expr(&c.expr, out);
                    for o in &c.ops {
                        out.push_str(match o.op {
                            CompareOpKind::Eq => " == ",
                            CompareOpKind::Ne => " != ",
                            CompareOpKind::Lt => " < ",
                            CompareOpKind::Lte => " <= ",
                            CompareOpKind::Gt => " > ",
                            CompareOpKind::Gte => " >= ",
                            CompareOpKind::In => " in ",
                            CompareOpKind::NotIn => " not in ",
                        });
                        self.expr(&o.expr, out);
                    }
                    out.push(')');
                }
            }
            Expr::IfExpr(i) => {
                out.push('(');
                self.expr(&i.true_expr, out);
                out.push_str(" if ");
                self.expr(&i.test_expr, out);
                if let Some(f) = &i.false_expr {
                    out.push_str(" else ");
                    self.expr(f, out);
                }
                out.push(')');
            }
            Expr::Filter(f) => {
                out.push('(');
                if let Some(x) = &f.expr {
                    self.expr(x, out);
                }
                out.push_str(" | ");
                out.push_str(f.name);
                if !f.args.is_empty() {
                    self.args(&f.args, out);
                }
                out.push(')');
            }
            Expr::Test(t) => {
                out.push('(');
                self.expr(&t.expr, out);
                out.push_str(" is ");
                out.push_str(t.name);
                if !t.args.is_empty() {
                    self.args(&t.args, out);
                }
                out.push(')');
            }
            Expr::GetAttr(g) => {
                self.postfix_base(&g.expr, out);
                out.push('.');
                out.push_str(g.name);
            }
            Expr::GetItem(g) => {
                self.postfix_base(&g.expr, out);
                out.push('[');
                self.expr(&g.subscript_expr, out);
                out.push(']');
            }
            Expr::Call(c) => {
                self.expr(&c.expr, out);
                self.args(&c.args, out);
            }
            Expr::List(l) => {
                out.push('[');
                self.items(&l.items, out);
                out.push(']');
            }
            Expr::Tuple(t) => {
                out.push('(');
                self.items(&t.items, out);
                if t.items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Expr::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.keys.iter().zip(&m.values).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.expr(k, out);
                    out.push_str(": ");
                    self.expr(v, out);
                }
                out.push('}');
            }
        }
    }
}

#[cfg(test)]
mod tests;
