"""engine.phrase_context judges a rights notice on its own clause: a Markdown bold or italic
lead-in ending in '.**' or '._' is a clause of its own, not the start of the next sentence."""

import pytest

from scanner.engine import phrase_context
from scanner.matching import classify, load_rules

RULES = load_rules()


@pytest.mark.parametrize("lead_in", ["**Right to Opt-Out of Sale.** ", "_Right to opt out of sale._ ",
                                     "Right to Opt-Out of Sale. "])
def test_a_bold_rights_lead_in_ends_its_clause(lead_in):
    practice = "As noted above, we may process and share your personal information with others."
    sentence = lead_in + practice
    assert phrase_context(sentence, sentence.index("we may")) is None
    # the same words inside the lead-in's clause are a rights notice
    inside = "**You have the right to opt out of the sharing of your personal information.**"
    assert phrase_context(inside, inside.index("sharing")) == "rights"


def test_the_practice_after_a_bold_rights_lead_in_is_a_risk():
    sentence = ("**Right to Opt-Out of the Sale of Personal Information.** As noted above, we may "
                "process and share your personal information with our partners.")
    risks = {f.category for f in classify(sentence, RULES, lang="en") if f.polarity == "risk"}
    assert "third_party_sharing" in risks
