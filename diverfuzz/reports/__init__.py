"""Renderers for diverfuzz campaign records.

A campaign produces one record, a plain ``dict`` (``schema_version`` 1).
Each module here turns that same record into one format:

- :mod:`diverfuzz.reports.json_report` -- strict JSON (:func:`write_json`,
  :func:`read_json`, :func:`to_jsonable`);
- :mod:`diverfuzz.reports.html_report` -- a self-contained HTML page
  (:func:`write_html`), with template ``diverfuzz/reports/templates/report.html.j2``;
- :mod:`diverfuzz.reports.markdown_report` -- a short Markdown summary for pull
  requests (:func:`write_markdown`);
- :mod:`diverfuzz.reports.junit_report` -- JUnit XML for CI (:func:`write_junit`);
- :mod:`diverfuzz.reports.render` -- all of them into one folder (:func:`render_all`);
- :mod:`diverfuzz.reports.estimate_view` -- the divergence-probability grid every renderer shows
  (``diverfuzz estimate``), and the estimate's own HTML and Markdown pages;
- :mod:`diverfuzz.reports.images` -- arrays to inline PNG data URIs;
- :mod:`diverfuzz.reports.schema` -- the record's JSON Schema
  (``diverfuzz/reports/report.schema.json``) and :func:`validate_report`.
"""

from .errors import ReportError
from .html_report import write_html
from .images import DivergenceImages, array_to_png_data_uri, difference_image
from .json_report import read_json, to_jsonable, write_json
from .junit_report import write_junit
from .markdown_report import write_markdown
from .render import render_all
from .schema import SCHEMA_VERSION, load_schema, validate_report

__all__ = [
    "SCHEMA_VERSION",
    "ReportError",
    "to_jsonable",
    "write_json",
    "read_json",
    "DivergenceImages",
    "write_html",
    "array_to_png_data_uri",
    "difference_image",
    "write_markdown",
    "write_junit",
    "render_all",
    "load_schema",
    "validate_report",
]
