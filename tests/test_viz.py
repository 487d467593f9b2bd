"""minigrad.viz: the DOT text's structure (nodes, op names, edges, labels) and draw()'s paths."""
import re
import shutil
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad import viz

NODE = re.compile(r'^\s*(n\d+) \[label="(.*)", (shape=\w+.*)\];$')
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+);$")


def parse(text):
    """{id: (label, attributes)} in order, and the list of (source, target) edges."""
    nodes, edges = {}, []
    for line in text.splitlines():
        if m := NODE.match(line):
            nodes[m[1]] = (m[2], m[3])
        elif m := EDGE.match(line):
            edges.append((m[1], m[2]))
    return nodes, edges


def ops(nodes):
    return [label for label, attrs in nodes.values() if "ellipse" in attrs]


def by_label(nodes, first_line):
    found = [i for i, (label, _) in nodes.items() if label.split("\\n")[0] == first_line]
    assert len(found) == 1, (first_line, nodes)
    return found[0]


def leaf(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_structure_of_a_small_graph():
    a, b, c = leaf([1.0, 2.0]), leaf([3.0, 4.0]), leaf([5.0, 6.0])
    y = a * b + c
    text = viz.to_dot(y, names={a: "a", b: "b", c: "c"})
    assert text.startswith("digraph minigrad {") and text.rstrip().endswith("}")
    nodes, edges = parse(text)
    # a, b, Mul, a*b, c, Add, y: 3 leaves, 2 ops, one intermediate, the root.
    assert len(nodes) == 7
    assert list(nodes) == [f"n{i}" for i in range(7)]  # numbered in order of appearance
    assert ops(nodes) == ["Mul", "Add"]  # forward order
    mul, add = by_label(nodes, "Mul"), by_label(nodes, "Add")
    na, nb, nc = by_label(nodes, "a"), by_label(nodes, "b"), by_label(nodes, "c")
    product = [t for s, t in edges if s == mul][0]
    root = [t for s, t in edges if s == add][0]
    assert set(edges) == {(na, mul), (nb, mul), (mul, product), (product, add), (nc, add),
                          (add, root)}
    assert len(edges) == 6
    assert nodes[na][0] == "a\\n(2,) float64"
    assert "fillcolor=lightblue" in nodes[na][1]  # leaves that require grad
    assert "fillcolor=darkolivegreen1" in nodes[root][1]  # the tensor drawn from
    assert "rounded" in nodes[product][1]  # an intermediate result


def test_output_is_deterministic():
    def build():
        x = leaf([[1.0, -2.0], [3.0, 4.0]])
        return ((x @ x).relu() * 2.0).sum()

    first, second = build(), build()
    assert viz.to_dot(first) == viz.to_dot(second)  # node ids never come from id()
    assert viz.to_dot(first) == viz.to_dot(first)


def test_reused_input_is_one_node_with_two_edges():
    x = leaf([1.0, 2.0])
    nodes, edges = parse(viz.to_dot(x * x, names={x: "x"}))
    nx, mul = by_label(nodes, "x"), by_label(nodes, "Mul")
    assert edges.count((nx, mul)) == 2
    assert len(nodes) == 3


def test_constants_are_dashed_and_show_shape_and_dtype():
    x = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    k = mg.tensor(np.full((2, 3), 2.0, np.float32))  # no gradient wanted
    nodes, edges = parse(viz.to_dot(x * k))
    const = by_label(nodes, "const")
    assert nodes[const][0] == "const\\n(2, 3) float32"
    assert "dashed" in nodes[const][1]
    assert (const, by_label(nodes, "Mul")) in edges


def test_names_and_params_label_tensors():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    x = mg.randn(5, 3)
    hidden = model[0](x)
    out = model[2](model[1](hidden))
    nodes, _ = parse(viz.to_dot(out, params=dict(model.named_parameters()),
                                names={hidden: "hidden"}))
    labels = [label.split("\\n")[0] for label, _ in nodes.values()]
    for name in ("0.weight", "0.bias", "2.weight", "2.bias", "hidden"):
        assert name in labels
    assert nodes[by_label(nodes, "0.weight")][0] == "0.weight\\n(4, 3) float32"
    assert nodes[by_label(nodes, "const")][0] == "const\\n(5, 3) float32"  # x needs no grad


def test_show_grad_gives_small_values_and_norms_of_large_ones():
    w = leaf(np.arange(12.0).reshape(3, 4))
    b = leaf([0.5, -1.0])
    loss = (w * w).sum() + (b * 3.0).sum()
    loss.backward(retain_graph=True)  # keep the graph to draw it with its gradients
    nodes, _ = parse(viz.to_dot(loss, names={w: "w", b: "b"}, show_grad=True))
    norm = float(nodes[by_label(nodes, "w")][0].split("grad norm ")[1])
    expected = np.linalg.norm(2.0 * np.arange(12.0))
    assert norm == pytest.approx(expected, rel=1e-3)  # 4 significant digits are printed
    assert nodes[by_label(nodes, "b")][0].endswith("grad [3., 3.]")
    assert "\\ngrad " not in viz.to_dot(loss, names={w: "w"})  # only when asked


def test_a_freed_graph_says_so():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 3.0).sum()
    y.backward()  # frees the graph
    nodes, edges = parse(viz.to_dot(y))
    assert ops(nodes) == ["Sum\\n(freed by backward)"]  # its edges are gone: the walk stops
    assert len(edges) == 1


def test_backward_graph_with_create_graph():
    x = leaf([1.0, 2.0, 3.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None  # the gradient 3 x^2 was recorded
    nodes, edges = parse(viz.to_dot(x.grad, names={x: "x"}))
    assert "x" in [label.split("\\n")[0] for label, _ in nodes.values()]
    assert len(ops(nodes)) >= 2 and all(not op.endswith("(freed by backward)") for op in ops(nodes))
    assert len(edges) >= 4


def test_unused_outputs_of_a_multi_output_op_are_left_out():
    x = leaf(np.arange(6.0))
    first, second = mg.split(x, 3)
    nodes, _ = parse(viz.to_dot(first.sum()))
    assert ops(nodes) == ["Split", "Sum"]
    assert len(nodes) == 5  # x, Split, first, Sum, the root: not `second`


def test_a_leaf_and_several_roots():
    x = leaf([1.0])
    nodes, edges = parse(viz.to_dot(x, names={x: "x"}))
    assert len(nodes) == 1 and not edges and "darkolivegreen1" in nodes["n0"][1]
    y, z = x.exp(), x.sin()
    nodes, edges = parse(viz.to_dot([y, z]))
    assert ops(nodes) == ["Exp", "Sin"] or ops(nodes) == ["Sin", "Exp"]
    assert sum("darkolivegreen1" in attrs for _, attrs in nodes.values()) == 2
    assert len(nodes) == 5 and len(edges) == 4  # x shared by both


def test_deep_chain_is_walked_without_recursion():
    x = mg.tensor(np.float32(0.5), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y.tanh()
    nodes, edges = parse(viz.to_dot(y))
    assert len(ops(nodes)) == 10_000
    assert len(nodes) == 1 + 2 * 10_000 and len(edges) == 2 * 10_000


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        viz.to_dot(np.ones(3))


# ---------------------------------------------------------------------- draw
def small_graph():
    x = leaf([1.0, 2.0])
    return (x * x).sum()


def test_draw_dot_needs_nothing(tmp_path):
    y = small_graph()
    path = viz.draw(y, tmp_path / "graph.dot")
    assert path.read_text() == viz.to_dot(y)


def test_draw_rejects_an_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf or \.dot"):
        viz.draw(small_graph(), tmp_path / "graph.jpeg")


def test_draw_without_graphviz_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` raises ImportError
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError) as error:
        viz.draw(small_graph(), tmp_path / "graph.png")
    message = str(error.value)
    for hint in ("dot", "apt-get install graphviz", "pip install graphviz", "to_dot"):
        assert hint in message
    assert not (tmp_path / "graph.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_draw_renders_with_dot(tmp_path, monkeypatch, suffix):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # exercise the subprocess path
    path = viz.draw(small_graph(), tmp_path / f"graph{suffix}")
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert b"<svg" in data and b"Mul" in data and b"Sum" in data


class FakeGraphviz:
    """Stands in for the `graphviz` package: `dot_found` says whether its dot runs."""

    class ExecutableNotFound(RuntimeError):
        pass

    def __init__(self, dot_found):
        self.calls = []
        fake = self

        class Source:
            def __init__(self, text):
                self.text = text

            def pipe(self, format):
                fake.calls.append((self.text, format))
                if not dot_found:
                    raise FakeGraphviz.ExecutableNotFound("dot")
                return b"rendered by the package"

        self.Source = Source


def test_draw_prefers_the_graphviz_package(tmp_path, monkeypatch):
    fake = FakeGraphviz(dot_found=True)
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    y = small_graph()
    path = viz.draw(y, tmp_path / "graph.svg")
    assert path.read_bytes() == b"rendered by the package"
    assert fake.calls == [(viz.to_dot(y), "svg")]


def test_draw_with_the_package_but_no_dot_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", FakeGraphviz(dot_found=False))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.draw(small_graph(), tmp_path / "graph.png")
