"""QuickSelect writes what Django's Select writes for the same choices, escaped the same way."""

from django import forms

from iamreview.widgets import (
    QuickCheckboxInput,
    QuickDateInput,
    QuickHiddenInput,
    QuickSelect,
    QuickTextarea,
    option_tags,
)

HOSTILE = '<script>alert("x")</script> & O\'Brien'


class Both(forms.Form):
    quick = forms.TypedChoiceField(required=False, coerce=int, widget=QuickSelect)
    plain = forms.TypedChoiceField(required=False, coerce=int)

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("quick", "plain"):
            self.fields[name].choices = [("", "Choose a reviewer"), *choices]


def test_labels_and_values_are_escaped_and_nothing_else_changes():
    html = option_tags([(1, HOSTILE), ('2"', "Rita")], selected="1")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&quot;x&quot;" in html and "O&#x27;Brien" in html and "&amp;" in html
    assert '<option value="1" selected>' in html and '<option value="2&quot;">' in html


def test_the_select_renders_like_djangos_own_with_the_current_value_selected():
    choices = [(7, "Ana"), (9, HOSTILE)]
    form = Both({"quick": "9", "plain": "9"}, choices=choices)
    assert form.is_valid(), form.errors
    quick, plain = str(form["quick"]), str(form["plain"])
    assert quick.startswith("<select ") and quick.endswith("</select>")
    assert ' name="quick"' in quick.split(">")[0] and ' id="id_quick"' in quick.split(">")[0]
    assert quick.count("<option") == plain.count("<option") == 3
    assert '<option value="9" selected>' in quick and 'value="9" selected' in plain
    assert "&lt;script&gt;" in quick and "<script>" not in quick
    assert form.cleaned_data["quick"] == 9


def test_a_value_outside_the_choices_is_refused_by_the_field():
    form = Both({"quick": "8"}, choices=[(7, "Ana")])
    assert not form.is_valid() and "quick" in form.errors


class Pairs(forms.Form):
    """Each Quick widget beside Django's own, on the same kind of field."""

    text_quick = forms.CharField(
        required=False, help_text="Why", widget=QuickTextarea(attrs={"rows": 2})
    )
    text_plain = forms.CharField(
        required=False, help_text="Why", widget=forms.Textarea(attrs={"rows": 2})
    )
    date_quick = forms.DateField(required=True, widget=QuickDateInput(attrs={"type": "date"}))
    date_plain = forms.DateField(required=True, widget=forms.DateInput(attrs={"type": "date"}))
    box_quick = forms.BooleanField(required=False, widget=QuickCheckboxInput)
    box_plain = forms.BooleanField(required=False)
    hidden_quick = forms.IntegerField(required=False, widget=QuickHiddenInput)
    hidden_plain = forms.IntegerField(required=False, widget=forms.HiddenInput)


def twins(form: forms.Form) -> list[tuple[str, str]]:
    pairs = []
    for kind in ("text", "date", "box", "hidden"):
        quick = str(form[f"{kind}_quick"]).replace(f"{kind}_quick", f"{kind}_?")
        plain = str(form[f"{kind}_plain"]).replace(f"{kind}_plain", f"{kind}_?")
        pairs.append((quick, plain))
    return pairs


def test_the_quick_inputs_write_what_djangos_templates_write():
    """Empty, filled with hostile text, and invalid (aria-invalid, the value kept)."""
    empty = Pairs()
    filled = Pairs(
        {
            "text_quick": HOSTILE,
            "text_plain": HOSTILE,
            "date_quick": "2026-01-02",
            "date_plain": "2026-01-02",
            "box_quick": "on",
            "box_plain": "on",
            "hidden_quick": "42",
            "hidden_plain": "42",
        }
    )
    invalid = Pairs({"date_quick": "not a date", "date_plain": "not a date"})
    for form in (empty, filled, invalid):
        form.is_valid()
        for quick, plain in twins(form):
            assert quick == plain
    assert "<script>" not in str(filled["text_quick"])
    assert 'aria-invalid="true"' in str(invalid["date_quick"])
