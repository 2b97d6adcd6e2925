import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from diverfuzz.oracles import MarginFitness, TopOneDisagreement, softmax

logits = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 12)), elements=st.floats(-30, 30))


@given(logits)
def test_softmax_rows_are_distributions(z):
    p = softmax(z)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.array_equal(p.argmax(axis=1), z.argmax(axis=1)) or np.any(np.isclose(np.sort(z, 1)[:, -1], np.sort(z, 1)[:, -2]))


@settings(max_examples=200)
@given(logits, st.data())
def test_margin_fitness_sign_matches_divergence(ref, data):
    cand = data.draw(arrays(np.float64, ref.shape, elements=st.floats(-30, 30)))
    fit = MarginFitness()(ref, cand)
    diverged = TopOneDisagreement()(ref, cand)
    assert np.all((fit >= -1) & (fit <= 1))
    p = softmax(cand)
    clear = np.abs(fit) > 1e-9  # exact probability ties decide by index
    assert np.array_equal((fit > 0)[clear], diverged[clear])
    assert np.all(fit[~diverged] <= 1e-9)
    assert p.shape == cand.shape


def test_margin_rises_towards_disagreement():
    ref = np.array([[5.0, 0.0]] * 3)
    cand = np.array([[4.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    fit = MarginFitness()(ref, cand)
    assert fit[0] < fit[1] < 0 < fit[2]
    assert TopOneDisagreement()(ref, cand).tolist() == [False, False, True]


def test_identical_logits_never_diverge():
    z = np.random.default_rng(0).normal(size=(50, 10))
    assert not TopOneDisagreement()(z, z).any()
    assert np.all(MarginFitness()(z, z) < 0)
