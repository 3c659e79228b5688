"""reptutor.models.mlp: the declarations the harnesses collect (bad inputs). The MLP's
behaviour (initialisation from a generator, batch norm, repr) is tested with the other models in
``test_models_common.py`` and ``test_plot_and_models.py``."""
from __future__ import annotations

import _validation as V


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("models.MLP", lambda: {"in_dim": 4, "hidden": [8], "out_dim": 2, "x": V.randn(5, 4)}, (
        V.nonpositive("in_dim"), V.choice("activation", ("relu", "gelu", "tanh", "silu")),
        V.rank("x"), V.shape("x", lambda k: k["x"][:, :3]),
        V.wrong_type("x"), V.nonfinite("x"), *V.boolean("batch_norm"),
        V.custom("dtype-mismatch", "x", lambda k: k["x"].double(),
                 V.all_of("x", "model's dtype", "float32", "float64"), error=TypeError),
        V.custom("type", "generator", lambda k: 0, V.all_of("generator", "torch.Generator", "int 0"),
                 error=TypeError)),
        ctor=("in_dim", "hidden", "out_dim", "activation", "batch_norm", "generator"),
        na={"empty": "zero samples give a (0, out_dim) output, as in torch.nn.Linear"}),
]
