"""Random forest and LightGBM trees as one float64 ``TreeEnsemble`` (``ai.onnx.ml`` opset 5).

The converters (skl2onnx, onnxmltools) write ``TreeEnsembleClassifier`` nodes whose thresholds
and leaf values are float32 and whose sums onnxruntime accumulates in float32: ~1e-7 away from
the libraries' own float64 sums. That is within the 1e-5 parity for a probability, but not
under isotonic calibration, whose steps can be steep enough (slopes of 1e3 and more) to turn
1e-7 into 1e-4. Both libraries sum their trees in float64, so the trees are rebuilt here from
the fitted models with their own float64 thresholds and leaf values, compared as the libraries
compare:

- sklearn's forest: inputs rounded to float32 (``DTYPE``) then compared ``x <= threshold``
  with float64 thresholds; each tree's leaf gives its class-1 share ``value / value.sum()``;
  the shares are summed in tree order and divided by the number of trees (``predict_proba``);
- LightGBM: float64 inputs, ``x <= threshold`` (``decision_type`` ``<=``), leaf values summed
  in tree order (the first tree holds the initial score): the raw log-odds, then its sigmoid.

XGBoost keeps onnxmltools' converter: it computes in float32 itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from churn_assets.lib.export.graph import ExportError, GraphBuilder

ML_OPSET = 5  # TreeEnsemble with float64 splits and weights, and float64 output


class _Trees:
    """Trees in TreeEnsemble's layout: internal nodes and leaves, each numbered globally."""

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.features: list[int] = []
        self.splits: list[float] = []
        self.true_ids: list[int] = []
        self.true_leaf: list[int] = []
        self.false_ids: list[int] = []
        self.false_leaf: list[int] = []
        self.leaf_weights: list[float] = []
        self.single_leaf_trees = 0

    def _leaf(self, value: float) -> int:
        self.leaf_weights.append(float(value))
        return len(self.leaf_weights) - 1

    def _node(self, feature: int, threshold: float) -> int:
        self.features.append(int(feature))
        self.splits.append(float(threshold))
        for column in (self.true_ids, self.true_leaf, self.false_ids, self.false_leaf):
            column.append(0)
        return len(self.features) - 1

    def add(self, tree: Any) -> None:
        """``tree``: (feature, threshold, left, right, leaf value) per node, children -1 at a
        leaf, node 0 the root; ``x <= threshold`` goes left."""
        feature, threshold, left, right, value = tree
        if left[0] == -1:
            # TreeEnsemble's roots are internal nodes: a lone leaf becomes a split that both
            # ways reaches it.
            node = self._node(0, 0.0)
            leaf = self._leaf(value[0])
            self.true_ids[node], self.true_leaf[node] = leaf, 1
            self.false_ids[node], self.false_leaf[node] = leaf, 1
            self.roots.append(node)
            return
        ids: dict[int, int] = {}
        stack = [0]
        order = []
        while stack:  # internal nodes first, numbered in visiting order
            i = stack.pop()
            if left[i] == -1:
                continue
            ids[i] = self._node(feature[i], threshold[i])
            order.append(i)
            stack.extend((right[i], left[i]))
        self.roots.append(ids[0])
        for i in order:
            for child, (id_col, leaf_col) in (
                (left[i], (self.true_ids, self.true_leaf)),
                (right[i], (self.false_ids, self.false_leaf)),
            ):
                if left[child] == -1:
                    id_col[ids[i]], leaf_col[ids[i]] = self._leaf(value[child]), 1
                else:
                    id_col[ids[i]], leaf_col[ids[i]] = ids[child], 0

    def node(self, g: GraphBuilder, x: str) -> str:
        """The ``TreeEnsemble`` summing the trees' leaf values (``[N, 1]`` float64)."""
        from onnx import helper, numpy_helper

        out = g.name("trees")
        n = len(self.features)
        g.nodes.append(
            helper.make_node(
                "TreeEnsemble",
                [x],
                [out],
                domain="ai.onnx.ml",
                aggregate_function=1,  # SUM
                n_targets=1,
                post_transform=0,  # NONE
                tree_roots=self.roots,
                nodes_featureids=self.features,
                nodes_splits=numpy_helper.from_array(np.asarray(self.splits, dtype=np.float64)),
                nodes_modes=numpy_helper.from_array(np.zeros(n, dtype=np.uint8)),  # BRANCH_LEQ
                nodes_truenodeids=self.true_ids,
                nodes_trueleafs=self.true_leaf,
                nodes_falsenodeids=self.false_ids,
                nodes_falseleafs=self.false_leaf,
                leaf_targetids=[0] * len(self.leaf_weights),
                leaf_weights=numpy_helper.from_array(
                    np.asarray(self.leaf_weights, dtype=np.float64)
                ),
            )
        )
        return out


def forest_scores(g: GraphBuilder, forest: Any, encoded: str) -> str:
    """P(class 1) of a fitted ``RandomForestClassifier`` (float64, ``[N, 1]``)."""
    from onnx import TensorProto

    if list(forest.classes_) != [0, 1]:
        raise ExportError(f"expected a binary forest with classes [0, 1], got {forest.classes_}")
    trees = _Trees()
    for estimator in forest.estimators_:
        t = estimator.tree_
        value = t.value[:, 0, :2]
        total = value.sum(axis=1)
        share = value[:, 1] / np.where(total == 0, 1.0, total)  # as predict_proba normalises
        trees.add((t.feature, t.threshold, t.children_left, t.children_right, share))
    x32 = g.op("Cast", g.op("Cast", encoded, to=TensorProto.FLOAT), to=TensorProto.DOUBLE)
    total = trees.node(g, x32)
    return g.op("Div", total, g.const(np.array(float(len(forest.estimators_)))))


def lightgbm_scores(g: GraphBuilder, model: Any, encoded: str, *, raw: bool) -> str:
    """The raw log-odds (``raw``) or P(class 1) of a fitted ``LGBMClassifier``."""
    dump = model.booster_.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1 or not str(dump["objective"]).startswith(
        "binary"
    ):
        raise ExportError(f"LightGBM objective {dump['objective']!r} is not binary")
    trees = _Trees()
    for info in dump["tree_info"]:
        if info.get("num_cat", 0):
            raise ExportError("LightGBM categorical splits are not exported")
        trees.add(_lightgbm_arrays(info["tree_structure"]))
    score = trees.node(g, encoded)
    if raw:
        return score
    sigmoid = _sigmoid_scale(str(dump["objective"]))
    if sigmoid != 1.0:
        score = g.op("Mul", score, g.const(np.array(sigmoid)))
    return g.op("Sigmoid", score)


def _sigmoid_scale(objective: str) -> float:
    for part in objective.split():
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0


def _lightgbm_arrays(root: dict) -> tuple[list, list, list, list, list]:
    """A dumped LightGBM tree as node arrays (node 0 the root)."""
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []

    def visit(node: dict) -> int:
        i = len(feature)
        feature.append(0)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        value.append(float(node.get("leaf_value", 0.0)))
        if "split_feature" in node:
            if node["decision_type"] != "<=" or node.get("missing_type") == "Zero":
                raise ExportError(
                    f"LightGBM split {node['decision_type']!r} with missing_type "
                    f"{node.get('missing_type')!r} is not exported"
                )
            feature[i], threshold[i] = int(node["split_feature"]), float(node["threshold"])
            left[i] = visit(node["left_child"])
            right[i] = visit(node["right_child"])
        return i

    visit(root)
    return feature, threshold, left, right, value
