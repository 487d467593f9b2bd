"""Drawing the graph behind a tensor: `to_dot` (Graphviz text) and `draw` (a picture).

A picture of the graph shows what backward will do. Build a loss, then

    print(minigrad.viz.to_dot(loss, names={x: "x", w: "w"}))
    minigrad.viz.draw(loss, "graph.svg", params=dict(model.named_parameters()))

and paste the text into any Graphviz viewer, or open the file. In the picture:

* ellipses are Functions, named by their op (`Mul`, `MatMul`, `Sum`);
* boxes are tensors, labelled "name (shape) dtype": leaves that require grad
  (parameters, inputs) are filled blue, the tensor you drew from is filled
  green, intermediate results have rounded corners, and dashed boxes are
  constant inputs (no gradient flows to them, so the graph keeps only their
  shape and dtype);
* arrows go in forward order, input -> op -> output. Backward walks them
  the other way: each op's backward turns the gradient of its output into
  the gradients of its inputs.

What the graph can show is what it keeps. Nodes hold their outputs weakly,
so an intermediate tensor gets its name (and, with `show_grad=True` and
`retain_grad()`, its gradient) only while you still hold it. `backward()`
frees the graph as it goes: draw before it, or pass `retain_graph=True`,
to see the edges and the leaves' gradients. After
`loss.backward(create_graph=True)`, `w.grad` has a graph of its own, the
backward pass recorded as ops: `to_dot(w.grad)` draws it.

The walk is iterative (a 10,000-op chain is fine) and the output is
deterministic: nodes are numbered n0, n1, ... in forward order.
"""
import pathlib
import shutil
import subprocess

import numpy as np

from . import backward
from .tensor import Tensor

__all__ = ["to_dot", "draw"]

# Graphviz attributes of each kind of node.
STYLES = {
    "leaf": 'shape=box, style=filled, fillcolor=lightblue',
    "root": 'shape=box, style=filled, fillcolor=darkolivegreen1',
    "tensor": 'shape=box, style=rounded',
    "constant": 'shape=box, style=dashed, color=gray50, fontcolor=gray30',
    "function": 'shape=ellipse',
}
FORMATS = ("png", "svg", "pdf", "dot")


def to_dot(tensor, names=None, params=None, show_grad=False):
    """Graphviz DOT text of the graph that computed `tensor` (or a list of tensors).

    names:     {tensor: "label"} for any tensors you want named.
    params:    {"label": tensor}, e.g. `dict(model.named_parameters())`.
    show_grad: add each tensor's `.grad` (its values when it has at most 4
               elements, else its norm) where one is known.
    """
    roots = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    for root in roots:
        if not isinstance(root, Tensor):
            raise TypeError(f"to_dot: expected a Tensor or a list of Tensors, got "
                            f"{type(root).__name__}")
    writer = _DotWriter(_name_table(names, params), show_grad)
    root_outputs = {(r.grad_fn, r._output_index): r for r in roots if r.grad_fn is not None}
    for root in roots:
        if root.grad_fn is None:
            writer.tensor(("leaf", id(root)), root, "root")

    nodes = backward._topological_order([r.grad_fn for r in roots if r.grad_fn is not None])
    nodes.reverse()  # producers before consumers: forward order
    used = {(edge.node, edge.index) for node in nodes for edge in node.edges or ()
            if edge is not None and edge.node is not None}
    for node in nodes:
        inputs = []
        for i, edge in enumerate(node.edges or ()):
            if edge is None:  # an input that needs no gradient: the node kept only its shape and dtype
                inputs.append(writer.constant(("const", id(node), i), node.input_shapes[i],
                                              node.input_dtypes[i]))
            elif edge.node is None:
                inputs.append(writer.tensor(("leaf", id(edge.leaf)), edge.leaf, "leaf"))
            else:
                inputs.append(writer.ids[("out", id(edge.node), edge.index)])
        freed = "\\n(freed by backward)" if node.edges is None else ""
        op = writer.node(("fn", id(node)), _escape(node.name) + freed, "function")
        for source in inputs:
            writer.edge(source, op)
        for index, (shape, dtype, _) in enumerate(node._output_meta):
            root = root_outputs.get((node, index))
            if root is None and (node, index) not in used:
                continue  # an output nobody used (e.g. one piece of a split)
            alive = root if root is not None else node._output_refs[index]()
            out = writer.tensor(("out", id(node), index), alive, "root" if root is not None else
                                "tensor", shape, dtype)
            writer.edge(op, out)
    return writer.text()


def draw(tensor, path, **options):
    """Render the graph of `tensor` to `path`; the suffix picks the format
    (.png, .svg, .pdf, or .dot for the text). `options` go to `to_dot`.

    Uses the `graphviz` Python package if installed, else Graphviz's `dot`
    program; .dot needs neither. Returns the path."""
    path = pathlib.Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"draw: cannot tell the image format from {str(path)!r}; end the file "
                         "name in .png, .svg, .pdf or .dot")
    text = to_dot(tensor, **options)
    if fmt == "dot":
        path.write_text(text)
    else:
        path.write_bytes(_render(text, fmt, path))
    return path


def _render(text, fmt, path):
    """DOT text -> image bytes, through the graphviz package or the dot program."""
    try:
        import graphviz  # optional: a thin wrapper around the dot program
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(text).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            pass  # the package is installed but dot is not: the message below says what to do
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"draw: rendering {str(path)!r} needs Graphviz's `dot` program, which was not found. "
            "Install Graphviz (apt-get install graphviz, brew install graphviz or conda install "
            "graphviz), optionally with `pip install graphviz`; or save the text with "
            "draw(tensor, 'graph.dot') or minigrad.viz.to_dot(tensor) and paste it into any "
            "Graphviz viewer")
    result = subprocess.run([dot, f"-T{fmt}"], input=text.encode(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"draw: Graphviz's dot failed on {str(path)!r}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


# ------------------------------------------------------------------ helpers
class _DotWriter:
    """Collects DOT lines, numbering nodes n0, n1, ... as they first appear."""

    def __init__(self, names, show_grad):
        self.names, self.show_grad = names, show_grad
        self.ids = {}
        self.lines = []

    def node(self, key, label, kind):
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids)}"
            self.lines.append(f'  {self.ids[key]} [label="{label}", {STYLES[kind]}];')
        return self.ids[key]

    def tensor(self, key, tensor, kind, shape=None, dtype=None):
        """A tensor node; `tensor` may be None (an intermediate nobody holds any more)."""
        if key in self.ids:
            return self.ids[key]
        if tensor is not None:
            shape, dtype = tensor.shape, tensor.dtype
        lines = []
        if tensor is not None and id(tensor) in self.names:
            lines.append(self.names[id(tensor)])
        lines.append(f"{shape} {dtype}")
        if self.show_grad and tensor is not None and tensor.grad is not None:
            lines.append("grad " + _describe(tensor.grad))
        return self.node(key, "\\n".join(_escape(line) for line in lines), kind)

    def constant(self, key, shape, dtype):
        return self.node(key, f"const\\n{_escape(f'{shape} {dtype}')}", "constant")

    def edge(self, source, target):
        self.lines.append(f"  {source} -> {target};")

    def text(self):
        header = ["digraph minigrad {", '  node [fontname="Helvetica", fontsize=11];']
        return "\n".join(header + self.lines + ["}"]) + "\n"


def _name_table(names, params):
    """{id(tensor): label} from {tensor: label} and {label: tensor}."""
    table = {}
    for tensor, label in (names or {}).items():
        table[id(tensor)] = str(label)
    for label, tensor in (params or {}).items():
        table[id(tensor)] = str(label)
    return table


def _describe(grad):
    """A gradient in a few characters: its values if tiny, else its norm."""
    values = grad.numpy()
    if values.size <= 4:
        return " ".join(np.array2string(values, precision=4, separator=", ").split())  # one line
    return f"norm {np.linalg.norm(values.astype(np.float64)):.4g}"


def _escape(text):
    """Make text safe inside a double-quoted DOT string."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"')
