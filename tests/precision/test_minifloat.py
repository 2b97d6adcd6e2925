"""quantize_float / quantize_fixed: bit-exact against torch casts, and rounding properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision import quantize_fixed, quantize_float
from diverfuzz.models.precision.minifloat import float_format_limits


def qf(x, *args, **kwargs):
    """The integer emulation, never torch's native cast."""
    return quantize_float(x, *args, native=False, **kwargs)


CASTS = {
    (5, 10): torch.float16,
    (8, 7): torch.bfloat16,
    (5, 2): torch.float8_e5m2,
    (4, 3, "fn"): torch.float8_e4m3fn,
}


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view(torch.int32)


def _assert_bit_equal(got: torch.Tensor, want: torch.Tensor) -> None:
    nan = torch.isnan(want)
    assert torch.equal(torch.isnan(got), nan), "NaN must stay NaN and nothing else may become NaN"
    diff = (_bits(got) != _bits(want)) & ~nan
    if diff.any():
        i = diff.nonzero()[:5, 0]
        raise AssertionError(f"{int(diff.sum())} mismatches, e.g. bits {_bits(want)[i].tolist()}: got {got[i].tolist()} want {want[i].tolist()}")


def _all_values(dtype: torch.dtype) -> torch.Tensor:
    """Every non-negative finite value of a 16- or 8-bit float dtype, ascending, as float32."""
    n_bits = torch.finfo(dtype).bits
    raw = torch.arange(0, 2 ** (n_bits - 1), dtype=torch.int32)
    raw = raw.to(torch.int16 if n_bits == 16 else torch.uint8)
    values = raw.view(dtype).float()
    return values[torch.isfinite(values)]


def _midpoints(dtype: torch.dtype) -> torch.Tensor:
    """Every midpoint between consecutive values (and the one above the largest), with
    its float32 neighbours on either side, both signs."""
    v = _all_values(dtype).double()
    finfo = torch.finfo(dtype)
    above_max = torch.tensor([2.0 ** (math.log2(finfo.max) // 1 + 1)], dtype=torch.float64)
    if dtype == torch.float8_e4m3fn:  # 480 is the NaN encoding, 512 beyond
        above_max = torch.tensor([480.0, 512.0], dtype=torch.float64)
    v = torch.cat([v, above_max])
    mid = ((v[:-1] + v[1:]) / 2).float()  # exact: one more bit than the format
    inf = torch.tensor(math.inf)
    cands = torch.cat([mid, torch.nextafter(mid, inf), torch.nextafter(mid, -inf), v.float()])
    return torch.cat([cands, -cands])


SPECIALS = torch.tensor(
    [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 65536.0,
     2.0**-24, 2.0**-25, 3 * 2.0**-26, 2.0**-14, 2.0**-133, 2.0**-134, 1.401298464324817e-45,
     3.4028234663852886e38, -3.4028234663852886e38, 57344.0, 61440.0, 2.0**-16, 2.0**-17, 1.5 * 2.0**-17],
    dtype=torch.float32,
)
NAN_PAYLOADS = torch.tensor([0x7F800001, 0x7FC00000, 0x7FFFFFFF, -0x00800001, -1, 0x7F801000], dtype=torch.int32).view(torch.float32)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(CASTS), ids=lambda f: f"e{f[0]}m{f[1]}" + ("fn" if len(f) > 2 else ""))
def test_bit_exact_against_torch_casts(fmt):
    dtype = CASTS[fmt]
    finite = len(fmt) > 2
    fmt = fmt[:2]
    strided = torch.arange(0, 2**32, 1031, dtype=torch.int64).to(torch.int32).view(torch.float32)
    x = torch.cat([strided, _midpoints(torch.float16), _midpoints(torch.bfloat16), _midpoints(torch.float8_e5m2),
                   _midpoints(torch.float8_e4m3fn), SPECIALS, NAN_PAYLOADS])
    want = x.to(dtype).float()
    _assert_bit_equal(quantize_float(x, *fmt, finite=finite, native=False), want)
    _assert_bit_equal(quantize_float(x, *fmt, finite=finite), want)  # the native fast path


def test_float32_is_identity_bit_for_bit():
    x = torch.arange(0, 2**32, 65537, dtype=torch.int64).to(torch.int32).view(torch.float32)
    x = torch.cat([x, SPECIALS, NAN_PAYLOADS])
    assert torch.equal(_bits(qf(x, 8, 23)), _bits(x))


def test_known_emulator_pitfalls():
    q = lambda v, *a, **k: qf(torch.tensor(v, dtype=torch.float32), *a, **k).tolist()  # noqa: E731
    # ties go to even, not away from zero
    assert q([1 + 2**-11, 1 + 3 * 2**-11, -(1 + 2**-11), 2.5 * 2**-24], 5, 10) == [1.0, 1 + 2**-9, -1.0, 2 * 2**-24]
    # overflow gives inf (and max finite only when asked)
    assert q([65520.0, -1e6, 65519.99], 5, 10) == [math.inf, -math.inf, 65504.0]
    assert q([65520.0, -1e6, math.inf], 5, 10, saturate=True) == [65504.0, -65504.0, math.inf]
    # NaN stays NaN
    assert all(math.isnan(v) for v in q([math.nan, -math.nan], 5, 10, saturate=True))
    assert all(math.isnan(v) for v in q([math.nan], 4, 3, rounding="stochastic"))
    # a full mantissa carries into the exponent without touching the sign
    assert q([-(2 - 2**-12), 2 - 2**-12, -(2.0**-14 - 2**-26)], 5, 10) == [-2.0, 2.0, -(2.0**-14)]
    assert str(qf(torch.tensor([-0.0, -1e-30]), 5, 10).tolist()) == "[-0.0, -0.0]"
    # without subnormals, results below the smallest normal flush to signed zero
    assert q([2.0**-20, -(2.0**-15)], 5, 10, subnormals=False) == [0.0, 0.0]
    assert q([2.0**-14], 5, 10, subnormals=False) == [2.0**-14]


def test_finite_fn_formats_saturate_and_keep_nan():
    x = torch.tensor([448.0, 464.0, 465.0, 1e9, math.inf, -math.inf, 2.0**-9, 2.0**-10])
    got = qf(x, 4, 3, finite=True)
    assert got.tolist() == [448.0, 448.0, 448.0, 448.0, 448.0, -448.0, 2.0**-9, 0.0]
    assert math.isnan(qf(torch.tensor([math.nan]), 4, 3, finite=True).item())
    assert float_format_limits(5, 2, finite=True)[0] == 1.5 * 2.0**16
    with pytest.raises(DiverfuzzError, match="finite"):
        qf(x, 8, 7, finite=True)


def test_ieee_e4m3_limits():
    max_finite, min_normal, min_sub = float_format_limits(4, 3)
    assert (max_finite, min_normal, min_sub) == (240.0, 2.0**-6, 2.0**-9)
    x = torch.tensor([240.0, 247.0, 248.0, 2.0**-10, 1.5 * 2.0**-10, 3 * 2.0**-10])
    assert qf(x, 4, 3).tolist() == [240.0, 240.0, math.inf, 0.0, 2.0**-9, 2 * 2.0**-9]


@pytest.mark.parametrize(("exp_bits", "man_bits", "match"), [(9, 3, "exponent bits must be 1..8 \\(got 9\\)"), (0, 3, "exponent"), (5, 24, "mantissa bits must be 0..23")])
def test_bad_formats(exp_bits, man_bits, match):
    with pytest.raises(DiverfuzzError, match=match):
        qf(torch.zeros(2), exp_bits, man_bits)


def test_bad_inputs():
    with pytest.raises(DiverfuzzError, match="float32"):
        qf(torch.zeros(2, dtype=torch.float64), 5, 10)
    with pytest.raises(DiverfuzzError, match="rounding='up'"):
        qf(torch.zeros(2), 5, 10, rounding="up")
    with pytest.raises(DiverfuzzError, match="word bits must be 2..24"):
        quantize_fixed(torch.zeros(2), 32, 4)


formats = st.tuples(st.integers(2, 8), st.integers(0, 23))
f32 = st.floats(width=32, allow_nan=False)
batches = st.lists(f32, min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(formats, batches, st.booleans())
def test_idempotent_and_odd(fmt, values, saturate):
    x = torch.tensor(values, dtype=torch.float32)
    q = qf(x, *fmt, saturate=saturate)
    assert torch.equal(_bits(qf(q, *fmt, saturate=saturate)), _bits(q))
    assert torch.equal(_bits(qf(-x, *fmt, saturate=saturate)), _bits(-q))


@settings(max_examples=150, deadline=None)
@given(formats, batches)
def test_monotone(fmt, values):
    x = torch.tensor(sorted(values), dtype=torch.float32)
    q = qf(x, *fmt)
    assert bool((q[1:] >= q[:-1]).all())


@settings(max_examples=150, deadline=None)
@given(formats, st.data())
def test_representable_values_are_fixed_points(fmt, data):
    exp_bits, man_bits = fmt
    bias = 2 ** (exp_bits - 1) - 1
    field = data.draw(st.integers(0, 2**exp_bits - 2))
    mantissa = data.draw(st.integers(0, 2**man_bits - 1))
    sign = data.draw(st.sampled_from([1.0, -1.0]))
    if field == 0:
        value = sign * mantissa * 2.0 ** (1 - bias - man_bits)
    else:
        value = sign * (2**man_bits + mantissa) * 2.0 ** (field - bias - man_bits)
    x = torch.tensor([value], dtype=torch.float32)
    assert x.item() == value
    assert qf(x, *fmt).item() == value
    assert qf(x, *fmt, rounding="stochastic").item() == value


def test_stochastic_rounding_is_unbiased_reproducible_and_picks_a_neighbour():
    x = torch.tensor([1 + 2**-12, 1 + 0.3 * 2**-10, -3.7, 1e-6, 7e-8, 0.1, 6e4], dtype=torch.float32)
    n = 20000
    xs = x.repeat(n, 1)
    q = qf(xs, 5, 10, rounding="stochastic", generator=torch.Generator().manual_seed(7))
    again = qf(xs, 5, 10, rounding="stochastic", generator=torch.Generator().manual_seed(7))
    assert torch.equal(q, again)
    other = qf(xs, 5, 10, rounding="stochastic", generator=torch.Generator().manual_seed(8))
    assert not torch.equal(q, other)
    lo = torch.where(x.half().float() <= x, x.half().float(), torch.nextafter(x.half(), torch.tensor(-math.inf, dtype=torch.half)).float())
    hi = torch.where(x.half().float() >= x, x.half().float(), torch.nextafter(x.half(), torch.tensor(math.inf, dtype=torch.half)).float())
    assert bool(((q == lo) | (q == hi)).all())
    mean = q.double().mean(0)
    spread = (hi - lo).double()
    stderr = spread / 2 / math.sqrt(n)
    assert bool(((mean - x.double()).abs() <= 5 * stderr + 1e-30).all()), (mean - x.double()) / spread


def test_stochastic_rounding_in_the_subnormal_range_is_unbiased():
    x = torch.full((40000,), 0.3 * 2.0**-16)  # between 0 and the smallest e5m2 subnormal
    q = qf(x, 5, 2, rounding="stochastic", generator=torch.Generator().manual_seed(1))
    assert set(q.unique().tolist()) == {0.0, 2.0**-16}
    assert abs(q.double().mean().item() / x[0].item() - 1) < 0.03


def test_quantize_fixed_nearest_and_saturating():
    x = torch.tensor([0.3, 9.0, -9.0, 1 / 32, 3 / 32, math.inf, -math.inf, math.nan, -0.03])
    q = quantize_fixed(x, 8, 4)
    assert q[:7].tolist() == [0.3125, 7.9375, -8.0, 0.0, 0.125, 7.9375, -8.0]
    assert math.isnan(q[7].item())
    assert quantize_fixed(torch.tensor([1.99999, -2.5, 0.75]), 16, 14).tolist() == [2 - 2**-14, -2.0, 0.75]


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 24), st.integers(0, 40), batches)
def test_quantize_fixed_on_grid_idempotent_monotone(word, frac, values):
    x = torch.tensor(sorted(values), dtype=torch.float32)
    q = quantize_fixed(x, word, frac)
    k = q.double() * 2.0**frac
    assert torch.equal(k, k.round())
    assert bool((k.abs() <= 2 ** (word - 1)).all())
    assert torch.equal(quantize_fixed(q, word, frac), q)
    assert bool((q[1:] >= q[:-1]).all())


def test_quantize_fixed_stochastic_unbiased_and_reproducible():
    x = torch.tensor([0.1, -0.37, 1.0 / 3], dtype=torch.float32).repeat(20000, 1)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    q = quantize_fixed(x, 16, 4, rounding="stochastic", generator=g())
    assert torch.equal(q, quantize_fixed(x, 16, 4, rounding="stochastic", generator=g()))
    assert bool(((q == torch.floor(x * 16) / 16) | (q == torch.ceil(x * 16) / 16)).all())
    np.testing.assert_allclose(q.double().mean(0).numpy(), x[0].double().numpy(), atol=5 * (1 / 16) / 2 / math.sqrt(20000))


def _reference_round(value: float, exp_bits: int, man_bits: int) -> float:
    """Textbook round-to-nearest-even in float64 (exact for float32 inputs)."""
    if math.isnan(value) or math.isinf(value) or value == 0:
        return value
    emin = 2 - 2 ** (exp_bits - 1)
    exponent = max(math.frexp(abs(value))[1] - 1, emin)
    quantum = 2.0 ** (exponent - man_bits)
    scaled = abs(value) / quantum
    if man_bits == 0 and scaled == 1.5 and exponent >= emin:
        # a tie between 2**e and 2**(e+1): both significands are "1", so the
        # even encoding (even biased exponent) wins, as the bit-level rule does
        bias = 2 ** (exp_bits - 1) - 1
        scaled = 1.0 if (exponent + bias) % 2 == 0 else 2.0
    result = math.copysign(round(scaled) * quantum, value)  # round() ties to even
    max_finite = float_format_limits(exp_bits, man_bits)[0]
    return math.copysign(math.inf, value) if abs(result) > max_finite else result


@settings(max_examples=200, deadline=None)
@given(formats, batches)
@example((3, 0), [0.75, 1.5, 0.125, -3.0])
def test_matches_a_textbook_reference_for_any_format(fmt, values):
    x = torch.tensor(values, dtype=torch.float32)
    want = [_reference_round(v, *fmt) for v in x.tolist()]
    got = qf(x, *fmt).tolist()
    assert [math.copysign(1, g) for g in got] == [math.copysign(1, w) for w in want]
    assert got == want


@settings(max_examples=100, deadline=None)
@given(st.tuples(st.integers(2, 7), st.integers(1, 23)), batches)
def test_finite_formats_idempotent_odd_monotone_bounded(fmt, values):
    x = torch.tensor(sorted(values), dtype=torch.float32)
    q = qf(x, *fmt, finite=True)
    assert torch.equal(_bits(qf(q, *fmt, finite=True)), _bits(q))
    assert torch.equal(_bits(qf(-x, *fmt, finite=True)), _bits(-q))
    assert bool((q[1:] >= q[:-1]).all())
    assert bool((q.abs() <= float_format_limits(*fmt, finite=True)[0]).all())


def test_shapes_and_layouts():
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0)) * 1e-5
    assert torch.equal(qf(x.t(), 5, 10), x.t().half().float())
    assert qf(torch.empty(0, 3), 4, 3).shape == (0, 3)
    assert qf(torch.tensor(3.3), 4, 3, rounding="stochastic").shape == ()
