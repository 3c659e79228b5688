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


# ---------------------------------------------------------------- MLP.layer_outputs (P47 chapter)
def test_layer_outputs_compose_to_forward():
    import pytest
    import torch
    from torch import nn

    from reptutor.models import MLP

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    for bn in (False, True):
        net = MLP(5, [7, 3, 6], 2, batch_norm=bn, activation="tanh",
                  generator=torch.Generator().manual_seed(1)).double().eval()
        hs = net.layer_outputs(x)
        assert [tuple(h.shape) for h in hs] == [(16, 5), (16, 7), (16, 3), (16, 6), (16, 2)]
        assert hs[0] is x
        torch.testing.assert_close(hs[-1], net(x), rtol=0, atol=0)
        # reference: h_l = act(BN(Linear_l(h_{l-1}))) built from the named layers
        linears = [m for m in net.layers if isinstance(m, nn.Linear)]
        norms = [m for m in net.layers if isinstance(m, nn.BatchNorm1d)]
        h = x
        for k, lin in enumerate(linears[:-1]):
            pre = lin(h)
            h = torch.tanh(norms[k](pre) if bn else pre)
            torch.testing.assert_close(hs[k + 1], h)
        torch.testing.assert_close(hs[-1], linears[-1](h))
    # no hidden layer: [x, output]
    lin = MLP(5, [], 2, generator=torch.Generator().manual_seed(2)).double()
    assert len(lin.layer_outputs(x)) == 2
    # gradients flow through every depth (float64 gradcheck of a cut network)
    net = MLP(3, [4, 4], 2, generator=torch.Generator().manual_seed(3)).double()
    xg = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: net.layer_outputs(t)[2], (xg,))
    # the same input checks as forward
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\), got \(6, 4\)"):
        net.layer_outputs(torch.zeros(6, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch_norm=True in training mode"):
        MLP(3, [4], 2, batch_norm=True).layer_outputs(torch.zeros(1, 3))
