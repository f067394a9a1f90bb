"""The engine's workspace: products written into reused buffers are bitwise the module's own
call, the buffers are reused (the point of it), and anything but a plain Linear takes the
module's call (hooks fire, subclasses keep their forward)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from empirics.engine.families.llama import gated_mlp
from empirics.engine.workspace import Workspace, plain_linear
from tests.empirics.tiny import tiny_llama


def _linear(d_in: int, d_out: int, bias: bool = False, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out, bias=bias)


def _x(rows: int, d: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(rows, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("d_in", "d_out"), [(64, 96), (576, 1536)])
def test_linear_into_buffer_is_bitwise_the_module_call(d_in: int, d_out: int) -> None:
    """Row counts up, down and up again: each result equals ``F.linear`` exactly."""
    module, work = _linear(d_in, d_out), Workspace()
    for rows in (37, 300, 5, 301, 1):
        x = _x(rows, d_in, seed=rows)
        with torch.inference_mode():
            out = work.linear("gate", module, x)
        assert out.shape == (rows, d_out)
        assert torch.equal(out, F.linear(x, module.weight))


def test_buffers_are_reused_until_too_short() -> None:
    """Fewer rows reuse the buffer (same storage); more rows reallocate; names are separate."""
    module, work = _linear(16, 24), Workspace()
    with torch.no_grad():
        first = work.linear("gate", module, _x(10, 16))
        fewer = work.linear("gate", module, _x(4, 16))
        assert fewer.data_ptr() == first.data_ptr()
        assert first.shape == (10, 24) and fewer.shape == (4, 24)  # views, not a resized buffer
        more = work.linear("gate", module, _x(11, 16))
        assert more.data_ptr() != first.data_ptr()
        other = work.linear("up", module, _x(4, 16))
        assert other.data_ptr() != more.data_ptr()
        assert work.linear("gate", module, _x(11, 16)).data_ptr() == more.data_ptr()


def test_gradients_take_the_module_call() -> None:
    """With gradients recorded the module's call is used (``out=`` has no backward)."""
    module = _linear(8, 4)
    x = _x(3, 8)
    assert plain_linear(module, x) is None
    Workspace().linear("gate", module, x).sum().backward()
    assert module.weight.grad is not None
    with torch.no_grad():
        assert plain_linear(module, x) is module


def test_only_a_plain_linear_is_bypassed() -> None:
    """Bias, a subclass, hooks, accelerate's hook, another dtype or a meta weight: the module's
    own call, so its hooks run."""
    x = _x(3, 8)
    plain = _linear(8, 4)
    torch.set_grad_enabled(False)
    try:
        _check_refusals(x, plain)
    finally:
        torch.set_grad_enabled(True)


def _check_refusals(x: torch.Tensor, plain: nn.Linear) -> None:
    assert plain_linear(plain, x) is plain
    assert plain_linear(_linear(8, 4, bias=True), x) is None

    class Sub(nn.Linear):
        pass

    assert plain_linear(Sub(8, 4, bias=False), x) is None
    assert plain_linear(plain, x.double()) is None
    assert plain_linear(nn.Linear(8, 4, bias=False, device="meta"), x) is None
    accelerate_like = _linear(8, 4)
    accelerate_like._hf_hook = object()  # type: ignore[assignment]
    assert plain_linear(accelerate_like, x) is None

    calls: list[str] = []
    hooked = _linear(8, 4)
    hooked.register_forward_pre_hook(lambda m, a: calls.append("pre"))
    hooked.register_forward_hook(lambda m, a, o: o * 2)
    assert plain_linear(hooked, x) is None
    out = Workspace().linear("gate", hooked, x)
    assert calls == ["pre"] and torch.equal(out, 2 * F.linear(x, hooked.weight))


def test_gated_mlp_with_workspace_is_bitwise_the_out_of_place_form() -> None:
    """The tiny Llama's MLP over row counts up and down, one workspace throughout."""
    lm = tiny_llama()
    mlp, work = lm.layers[0].mlp, Workspace()
    for rows in (9, 40, 3, 41):
        x = _x(rows, lm.hidden_size, seed=rows)
        with torch.inference_mode():
            assert torch.equal(gated_mlp(mlp, x, work), gated_mlp(mlp, x, None))
