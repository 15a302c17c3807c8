//! `cs231n backprop`: the lecture's circuits, forward and backward, as tables and as
//! the slides' picture (Graphviz DOT, rendered to PNG and SVG when `dot` is installed).

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::args::BackpropArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

/// Prints the example's table and the gradients of its inputs; writes the graph.
pub fn run(ctx: &mut Ctx, args: &BackpropArgs) -> Result<()> {
    let name = args.example.name();
    let ex = backprop::examples::by_name(name)
        .ok_or_else(|| CliError::Usage(format!("unknown example {name}")))?
        .map_err(|e| CliError::library("backprop", e))?;
    let g = &ex.graph;
    let lib = |e: backprop::GraphError| CliError::library("backprop", e);
    ctx.report.say(ex.title);
    ctx.report.say("");
    ctx.report.say(g.table().trim_end());
    ctx.report.say("");
    let f = g.value(ex.output).map_err(lib)?;
    ctx.report.say(format!("f = {}", fmt_array(f)));
    let mut grads = Map::new();
    for &i in &ex.inputs {
        let node = g.node(i).map_err(lib)?;
        let grad = g.grad(i).map_err(lib)?;
        ctx.report
            .say(format!("df/d{} = {}", node.label(), fmt_array(grad)));
        grads.insert(node.label().to_owned(), to_json(grad));
    }

    let dot_path = ctx.out_file(&format!("backprop_{name}.dot"))?;
    std::fs::write(&dot_path, g.to_dot()).map_err(|e| CliError::io(&dot_path, e))?;
    ctx.wrote("graph (Graphviz DOT)", &dot_path);
    match render(&dot_path) {
        Ok(done) => {
            for p in done {
                ctx.wrote("graph picture", Path::new(&p));
            }
        }
        Err(why) => ctx.report.notice(why),
    }

    let r = &mut ctx.report;
    r.set("dataset", Value::Null);
    r.set("example", name);
    r.set("title", ex.title);
    r.set("f", to_json(f));
    r.set("gradients", Value::Object(grads));
    Ok(())
}

/// Runs `dot -Tpng` and `dot -Tsvg` beside the DOT file; says why not when it cannot.
fn render(dot: &Path) -> std::result::Result<Vec<String>, String> {
    let mut done = Vec::new();
    for fmt in ["png", "svg"] {
        let out = dot.with_extension(fmt);
        let status = Command::new("dot")
            .arg(format!("-T{fmt}"))
            .arg(dot)
            .arg("-o")
            .arg(&out)
            .status();
        match status {
            Ok(s) if s.success() => done.push(out.display().to_string()),
            Ok(s) => {
                return Err(format!(
                    "Graphviz `dot` failed ({s}); the DOT file is still there"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "Graphviz `dot` is not installed: no PNG/SVG drawn; install graphviz and run `dot -Tpng {} -o {}`",
                    dot.display(),
                    dot.with_extension("png").display()
                ));
            }
        }
    }
    Ok(done)
}

fn fmt_array(a: &ndarray::ArrayD<f64>) -> String {
    if a.ndim() == 0 || a.len() == 1 {
        return fmt_num(a.iter().next().copied().unwrap_or(f64::NAN));
    }
    match a.ndim() {
        1 => format!(
            "[{}]",
            a.iter().map(|&v| fmt_num(v)).collect::<Vec<_>>().join(", ")
        ),
        _ => format!(
            "[{}]",
            a.outer_iter()
                .map(|row| fmt_array(&row.to_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn to_json(a: &ndarray::ArrayD<f64>) -> Value {
    if a.len() == 1 {
        return json!(a.iter().next().copied());
    }
    match a.ndim() {
        1 => json!(a.iter().copied().collect::<Vec<_>>()),
        _ => Value::Array(a.outer_iter().map(|row| to_json(&row.to_owned())).collect()),
    }
}
