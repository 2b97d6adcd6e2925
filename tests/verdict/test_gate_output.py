"""A failing gate test prints its verdict, not torch's logs (issue 14, "What a CI user expects").

The int8-static counterpart is built through ``torch.export`` and torchao,
whose loggers can emit DEBUG traces; run the failing gate with pytest's log
capture at DEBUG (as CI configurations often do) and check the failure report
holds no such lines and no runs of blank lines.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from diverfuzz.models.training import cache_dir

#: The weights cache as this session sees it. Read at import: pytester points
#: HOME at a temporary folder, which would send the child pytest to an empty
#: cache, where it retrains the digits CNN under DEBUG log capture (minutes).
CACHE = str(cache_dir())

GATE = textwrap.dedent(
    '''
    import pytest

    from diverfuzz.models.examples.digits import load_digits_data, trained_digits_cnn


    @pytest.mark.diverfuzz(budget=60, validity="ssim>=0.6")  # finds one at this budget
    def test_int8_gate(diverfuzz):
        data = load_digits_data()
        result = diverfuzz.check(trained_digits_cnn(0), "int8-static", data.x_test[:10], labels=data.y_test[:10])
        result.assert_max_success_rate(0.0)
    '''
)


@pytest.mark.slow  # one int8 campaign on 10 seeds in a child pytest, about 15 s
def test_failing_gate_prints_no_torch_debug_lines(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from diverfuzz.models.examples.digits import trained_digits_cnn

    monkeypatch.setenv("DIVERFUZZ_CACHE", CACHE)
    trained_digits_cnn(0)  # cached here (trained once if the cache is empty), so the child only loads it
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "log_level=DEBUG", "-rA")
    result.assert_outcomes(failed=1)
    text = "\n".join(result.outlines + result.errlines)
    assert "seeds diverged: divergence rate" in text
    assert not [line for line in result.outlines + result.errlines if "DEBUG" in line], text[-3000:]
    assert not re.search(r"\n[ \t]*\n[ \t]*\n[ \t]*\n", text), "runs of blank lines in the failure report"
