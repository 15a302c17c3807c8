//! Showing a graph to people: the forward/backward table and the lecture's
//! picture as Graphviz DOT, forward values and gradients written on the wires.

use std::fmt::Write as _;

use ndarray::ArrayD;
use numeric::Float;

use crate::{Graph, NodeKind, NodeView};

/// Formats an array compactly: a number, a nested list when small, else its shape.
fn format_array<T: Float>(a: &ArrayD<T>, precision: usize) -> String {
    fn num<T: Float>(x: T, p: usize) -> String {
        let s = format!("{:.*}", p, x.as_f64());
        // "-0.00" reads as a sign error on a slide; show it as 0.
        if s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
    match a.ndim() {
        0 => num(a[[]], precision),
        _ if a.len() > 12 => format!("shape {:?}", a.shape()),
        1 => format!(
            "[{}]",
            a.iter()
                .map(|&x| num(x, precision))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let rows: Vec<String> = a
                .outer_iter()
                .map(|row| format_array(&row.to_owned(), precision))
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}

/// The symbol the lecture draws inside a gate's circle.
fn gate_symbol(op: &str) -> &str {
    match op {
        "add" => "+",
        "sub" => "−",
        "mul" => "*",
        "div" => "/",
        "neg" => "*-1",
        "sigmoid" => "σ",
        "matmul" => "·",
        other => other,
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line of the forward/backward table, already formatted.
///
/// # Example
/// ```
/// let mut g = backprop::Graph::<f64>::new();
/// let x = g.scalar("x", 3.0);
/// let y = g.neg(x)?;
/// g.backward(y)?;
/// let rows = g.rows();
/// assert_eq!((rows[1].op.as_str(), rows[1].value.as_str(), rows[0].grad.as_str()), ("neg", "-3", "-1"));
/// # Ok::<(), backprop::GraphError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// Index on the tape.
    pub index: usize,
    /// Name (or the op, for unnamed gate outputs).
    pub name: String,
    /// `input`, `parameter`, `constant`, or the gate's name.
    pub op: String,
    /// Labels of the gate's inputs, comma-separated (empty for leaves).
    pub inputs: String,
    /// The forward value.
    pub value: String,
    /// The gradient of the last backward pass's output (`-` if not reached).
    pub grad: String,
}

impl<T: Float> Graph<T> {
    /// Decimals shown by [`Graph::rows`], [`Graph::table`] and [`Graph::to_dot`]
    /// (3 unless set); whole numbers are shown without decimals.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// g.set_precision(2);
    /// g.scalar("x", 0.731058);
    /// g.scalar("y", -2.0);
    /// assert_eq!((g.rows()[0].value.as_str(), g.rows()[1].value.as_str()), ("0.73", "-2"));
    /// ```
    pub fn set_precision(&mut self, decimals: usize) {
        self.precision = decimals;
    }

    fn fmt_value(&self, a: &ArrayD<T>) -> String {
        let s = format_array(a, self.precision);
        trim_zeros(&s)
    }

    fn label_of(&self, view: &NodeView<'_, T>) -> String {
        if view.name.is_empty() {
            format!("{}#{}", view.op, view.id)
        } else {
            view.name.to_string()
        }
    }

    /// The forward/backward table as data: one row per node, in tape order.
    ///
    /// # Example
    /// ```
    /// let ex = backprop::examples::add_mul()?;
    /// let f = ex.graph.rows().into_iter().find(|r| r.name == "f").unwrap();
    /// assert_eq!((f.value.as_str(), f.grad.as_str()), ("-12", "1"));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn rows(&self) -> Vec<TableRow> {
        self.nodes()
            .map(|n| TableRow {
                index: n.id.index(),
                name: self.label_of(&n),
                op: n.op.to_string(),
                inputs: n
                    .inputs
                    .iter()
                    .map(|&i| self.label_of(&self.node(i).expect("inputs are on the tape")))
                    .collect::<Vec<_>>()
                    .join(", "),
                value: self.fmt_value(n.value),
                grad: n
                    .grad
                    .map(|g| self.fmt_value(g))
                    .unwrap_or_else(|| "-".to_string()),
            })
            .collect()
    }

    /// The forward/backward table as aligned text, ready to print:
    /// node, op, inputs, forward value, gradient.
    ///
    /// # Example
    /// ```
    /// let ex = backprop::examples::add_mul()?;
    /// let table = ex.graph.table();
    /// assert!(table.lines().next().unwrap().contains("gradient"));
    /// assert!(table.contains("-12"));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn table(&self) -> String {
        let header = TableRow {
            index: 0,
            name: "node".into(),
            op: "op".into(),
            inputs: "inputs".into(),
            value: "forward value".into(),
            grad: "gradient".into(),
        };
        let rows = self.rows();
        let all = || std::iter::once(&header).chain(rows.iter());
        let w = |f: fn(&TableRow) -> &str| all().map(|r| f(r).chars().count()).max().unwrap_or(0);
        let (wn, wo, wi, wv) = (
            w(|r| &r.name),
            w(|r| &r.op),
            w(|r| &r.inputs),
            w(|r| &r.value),
        );
        let mut out = String::new();
        for r in all() {
            let line = format!(
                "{:<wn$}  {:<wo$}  {:<wi$}  {:<wv$}  {}",
                r.name, r.op, r.inputs, r.value, r.grad
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The graph in Graphviz DOT, as the lecture draws it: leaves as names, gates
    /// as circles, and on every wire the forward value (green, above) and the
    /// gradient (red, below), under the wire's name if it has one. Render it with `dot -Tpng graph.dot -o graph.png`.
    ///
    /// # Example
    /// ```
    /// let ex = backprop::examples::add_mul()?;
    /// let dot = ex.graph.to_dot();
    /// assert!(dot.starts_with("digraph"));
    /// assert!(dot.contains(">-12<") && dot.contains(">-4<"));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let mut used = vec![false; self.len()];
        for n in self.nodes() {
            for i in n.inputs {
                used[i.index()] = true;
            }
        }
        let mut out = String::from(
            "digraph G {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=11];\n",
        );
        let wire = |n: &NodeView<'_, T>| {
            let v = escape_html(&self.fmt_value(n.value));
            let g = n
                .grad
                .map(|g| escape_html(&self.fmt_value(g)))
                .unwrap_or_else(|| "-".into());
            let name = if n.kind == NodeKind::Op && !n.name.is_empty() {
                format!("{}<br/>", escape_html(n.name))
            } else {
                String::new()
            };
            format!(
                "<{name}<font color=\"darkgreen\">{v}</font><br/><font color=\"red\">{g}</font>>"
            )
        };
        for n in self.nodes() {
            let id = n.id.index();
            let name = escape_html(n.name);
            let _ = match n.kind {
                NodeKind::Op => {
                    writeln!(
                        out,
                        "  n{id} [label=<{}>, shape=circle];",
                        escape_html(gate_symbol(n.op))
                    )
                }
                NodeKind::Constant => {
                    writeln!(out, "  n{id} [label=<{name}>, shape=box, style=dashed];")
                }
                _ => writeln!(out, "  n{id} [label=<{name}>, shape=plaintext];"),
            };
            for &i in n.inputs {
                let src = self.node(i).expect("inputs are on the tape");
                let _ = writeln!(out, "  n{} -> n{id} [label={}];", i.index(), wire(&src));
            }
            if !used[id] && n.kind == NodeKind::Op {
                let _ = writeln!(
                    out,
                    "  out{id} [label=<{}>, shape=plaintext];",
                    escape_html(&self.label_of(&n))
                );
                let _ = writeln!(out, "  n{id} -> out{id} [label={}];", wire(&n));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Writes whole numbers without decimals ("-2.00" → "-2"), keeping the fixed
/// decimals of the others ("0.20" stays, as on the slides).
fn trim_zeros(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if let Some((whole, frac)) = token.split_once('.')
            && frac.chars().all(|c| c == '0')
        {
            out.push_str(whole);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' || c == '-' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_trailing_zeros_of_each_number_only() {
        assert_eq!(trim_zeros("[-2.000, 0.730, 10.000]"), "[-2, 0.730, 10]");
        assert_eq!(trim_zeros("shape [200, 3072]"), "shape [200, 3072]");
    }

    #[test]
    fn small_arrays_are_written_out_and_large_ones_by_shape() {
        let m = ndarray::array![[0.1_f64, 0.5], [-0.3, 0.8]].into_dyn();
        assert_eq!(
            trim_zeros(&format_array(&m, 1)),
            "[[0.1, 0.5], [-0.3, 0.8]]"
        );
        let big = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[200, 3072]));
        assert_eq!(format_array(&big, 3), "shape [200, 3072]");
        assert_eq!(
            format_array(&ndarray::arr0(-0.0001_f64).into_dyn(), 2),
            "0.00"
        );
    }
}
