"""Forms read from HTML as a browser submits them (the request engine's only way to post)."""

from __future__ import annotations

from watchdog.probe.forms import form_by_id, read_forms

PAGE = """
<form id="other" action="/search"><input name="q" value="x"></form>
<form id="FormBookingCreate" method="post" action="/booking/create/9/0">
  <input type="hidden" name="token" value="abc&amp;1">
  <input type="checkbox" name="condition" id="condition" value="on">
  <input type="checkbox" name="newsletter" value="yes" checked>
  <input type="radio" class="radio" name="planning" value="11" checked>
  <input type="radio" class="radio" name="planning" value="22">
  <select name="site"><option value="a">A</option><option value="b" selected>B</option></select>
  <input type="text" name="disabled" value="no" disabled>
  <input type="file" name="upload">
  <input type="submit" class="Bbutton" name="nextButton" value="Etape suivante">
  <input type="submit" name="finishButton" value="Terminer">
</form>
"""


def test_forms_are_found_by_id_with_their_method_and_target() -> None:
    assert [f.id for f in read_forms(PAGE)] == ["other", "FormBookingCreate"]
    form = form_by_id(PAGE, "FormBookingCreate")
    assert form is not None and form.method == "POST"
    assert form.target("http://127.0.0.1:8/booking/create/9/0") == (
        "http://127.0.0.1:8/booking/create/9/0"
    )
    assert form_by_id(PAGE, "missing") is None


def test_submission_ticks_presses_and_leaves_out_what_a_browser_leaves_out() -> None:
    form = form_by_id(PAGE, "FormBookingCreate")
    assert form is not None
    assert form.choices("planning") == ["11", "22"]
    pairs = form.submission({"condition": "on", "planning": "22"}, form.button("nextButton"))
    assert pairs == [
        ("token", "abc&1"),
        ("condition", "on"),
        ("newsletter", "yes"),
        ("planning", "22"),
        ("site", "b"),
        ("nextButton", "Etape suivante"),
    ]


def test_without_ticks_the_served_state_is_sent() -> None:
    form = form_by_id(PAGE, "FormBookingCreate")
    assert form is not None
    pairs = dict(form.submission())
    assert pairs["planning"] == "11" and "condition" not in pairs and "nextButton" not in pairs
