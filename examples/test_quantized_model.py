"""A model-CI gate to copy: fuzz a model against its reduced-precision counterparts.

Run with ``pytest examples/test_quantized_model.py``. The diverfuzz fixture
comes with the package (pytest plugin); ``--diverfuzz-budget``,
``--diverfuzz-seed`` and ``--diverfuzz-report DIR`` tune every check, and
divergences found are stored in ``.diverfuzz-corpus/`` (commit it) and
replayed first on the next run.
"""

import pytest

from diverfuzz.models.examples.digits import load_digits_data, trained_digits_cnn


@pytest.fixture(scope="module")
def digits():
    data = load_digits_data()
    # Real 8x8 handwritten digits from scikit-learn; the first 20 test images as seeds.
    return data.x_test[:20], data.y_test[:20]


@pytest.mark.diverfuzz(budget=100)
def test_fp16_counterpart_rarely_diverges(diverfuzz, digits):
    x, y = digits
    result = diverfuzz.check(trained_digits_cnn(0), "fp16", x, labels=y)
    result.assert_max_success_rate(0.2)


@pytest.mark.xfail(
    strict=True,
    reason="the int8 counterpart of the bundled digits CNN diverges on 13 of these 20 seeds at budget 100 "
    "(measured): this is the drift the gate exists to catch",
)
@pytest.mark.diverfuzz(budget=100)
def test_int8_counterpart_gate(diverfuzz, digits):
    x, y = digits
    result = diverfuzz.check(trained_digits_cnn(0), "int8-static", x, labels=y)
    result.assert_max_success_rate(0.05)
