"""Sale constructions of the second sale audit round (issue 14, session 6; docs/accuracy.md,
"Sale allegations, round 2 (session 6)"): tuned on real-audit-a's split B, each kept only where
the fresh pool real-audit-c did not get worse. Sentences are our own wording, in the forms the
audited policies use."""

import pytest

from helpers import sale_findings as _sale_findings

from scanner.matching import classify, load_rules

RULES = load_rules()


def sale_findings(text: str, heading: str = "") -> dict:
    """polarity -> rule ids of the sale findings of the text, by the rules loaded here."""
    return _sale_findings(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    # a table field or FAQ line that is a question, closing emphasis included
    "**Sold or Shared for Cross-Context Behavioral Advertising?**",
    "**Does the Company sell or rent my Personal Data?**",
    # a supposed sale by a named company, a quoted verb after "if we"
    "If Acme ever starts selling such personal information, current customers will be opted out.",
    "If we “sell” or “share” your data or use it for targeted advertising, we will provide an opt "
    "out in the settings.",
    # advertising space sold, not data
    "By accepting this, the ad partner may collect information about the advertising spaces sold "
    "through them, as well as your device data.",
    # a bare topic line; list items whose (negative) lead-in is another sentence
    "* Selling or sharing personal information",
    "Sell any customer data, whether it be defined as PII or otherwise, to third parties.",
    "Sell the names and addresses of site visitors to unaffiliated suppliers without approval.",
    # the right-to-know formula, a right to receive notice, what the reader can limit
    "* the categories of recipients to whom we may have sold personal information or with whom we "
    "may have “shared” it for cross-context behavioral advertising.",
    "Residents may have a right to receive notice of the categories collected and whether such "
    "information is sold or shared.",
    "Visitors can limit the sale and sharing of personal information for certain purposes.",
    # an instruction
    "Adjust the “Sale or Sharing of Personal Information” toggle accordingly to opt out.",
])
def test_no_sale_is_stated(sentence):
    assert "risk" not in sale_findings(sentence)


def test_a_denial_with_an_interjection_is_a_denial():
    found = sale_findings("We do not, now or in the past, engage in data mining or selling "
                          "personal information.")
    assert "risk" not in found


def test_the_operators_own_ads_elsewhere_are_no_sale():
    found = sale_findings("We may use personal information to provide you with our ads on third "
                          "party sites, including through interest-based advertising.")
    assert "risk" not in found


@pytest.mark.parametrize("sentence", [
    "Although we do not sell data for money, we may engage in “sharing” as the CCPA defines it.",
    "In the preceding twelve months, we have sold the following categories of personal "
    "information to advertising partners.",
    "We may sell your personal information to a third party or disclose it for a business purpose.",
    "We sell the categories of personal information listed above to data brokers.",
    "The categories of third parties to whom we sold personal information are advertising "
    "networks and data brokers.",
    "Your email address may be rented to other companies that market their products.",
])
def test_a_stated_sale_stays_a_sale(sentence):
    assert "risk" in sale_findings(sentence)


# Clause handling (scanner/engine.py): a ": " after "for" / "to" / "with" / "of" / "as" opens the
# verb's own list, so a denial before it still governs the list.

@pytest.mark.parametrize("sentence", [
    "The company does not sell or share personal information for: cross-context behavioral "
    "advertising or targeted advertising.",
    "We do not use or disclose your data for: interest-based advertising.",
    "We do not share your data with: third parties for targeted advertising across other websites.",
])
def test_a_denial_before_a_colon_list_governs_the_list(sentence):
    risks = {f.category for f in classify(sentence, RULES, lang="en") if f.polarity == "risk"}
    assert not risks & {"sale", "behavioral_ads", "tracking"}


def test_clause_starts_keeps_a_list_after_for_colon():
    from scanner.engine import clause_starts
    assert clause_starts("We do not sell data for: ads") == []
    assert clause_starts("We do not share it with: advertisers") == []
    assert clause_starts("We collect names: we do not sell them") == [18]
