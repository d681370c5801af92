"""The subject check of the fourth sale round (issue 14, session 8; bench/data/labels/
AGREEMENT.md, "real-audit-h"): sale.personal-data fires only where the sentence states that the
operator sells (the operator as the subject of the sale verb, in the active voice, or the data
sold in the passive without another agent), or states one of the rule's other forms (data
exchanged for money, licensed, on a rental basis). Sentences are our own wording, in the forms
real policies use; each construction is tried both ways."""

import pytest

from helpers import sale_findings as _sale_findings

from scanner.matching import load_rules

RULES = load_rules()


def sale_findings(text: str, heading: str = "") -> dict:
    """polarity -> rule ids of the sale findings of the text, by the rules loaded here."""
    return _sale_findings(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    # another seller with no operator as subject (none of them a seller the older exceptions name)
    "Marketers often sell e-mail lists that include your name and address.",
    "Dealers may sell your personal information to lenders and insurers.",
    "Sweepstakes sponsors may rent or sell your personal information to other companies.",
    "Third-party apps you connect may sell your data to advertisers.",
    "Identity thieves sell personal information on underground forums.",
    "The Partner may rent your e-mail address to other marketers.",
    # "we" only in another clause: a relative pronoun or an enabling verb before the sale verb
    "We work with data partners, who may sell your personal information to their clients.",
    "We allow sponsors to rent your e-mail address for their own offers.",
])
def test_no_operator_seller_is_no_sale_risk(sentence):
    assert "risk" not in sale_findings(sentence)


@pytest.mark.parametrize("sentence", [
    # the operator as the subject, verbs coordinated, asides between
    "We may sell your personal information to our marketing partners.",
    "However, we may, from time to time, in our sole discretion, share, lease or sell some of your "
    "personally identifiable information to special advertisers identified by us.",
    "We may disclose your personal information to a third party for a business purpose or sell "
    "your personal information, subject to your right to opt out of those sales.",
    "We may use, share/sell, or disclose the personal information we collect for these purposes.",
    # a company name, "our company", "this site"
    "Acme Media may sell your personal information to unaffiliated companies.",
    "Our company rents customer lists to carefully screened organizations.",
    "This site may rent the e-mail addresses of its members to other publishers.",
    # the operator in an infinitive: "authorize us to sell", a purpose item
    "If you are between 13 and 16 years of age, you must authorize us to sell your personal data.",
    "We use the information we collect as follows: * To sell or rent your information to third "
    "parties, subject to applicable laws.",
    # the passive, without another agent (or with the operator as the agent)
    "Your e-mail address may be rented to other companies.",
    "Your personal information may be shared or sold to our marketing partners.",
    "Your personal information may be sold by us to our partners.",
    # the rule's other forms, whatever the subject
    "Members' names and addresses are made available on a rental basis to third party providers.",
])
def test_operator_seller_is_sale_risk(sentence):
    assert sale_findings(sentence).get("risk") == ["sale.personal-data"]


@pytest.mark.parametrize("sentence", [
    "Your personal information may be sold by third parties who obtain it elsewhere.",
    "Your e-mail address may be rented by the sponsor of the sweepstakes.",
])
def test_passive_with_another_agent_is_no_sale_risk(sentence):
    assert "risk" not in sale_findings(sentence)


@pytest.mark.parametrize("sentence", [
    # CCPA disclosures name no seller and stay sales (sale.ccpa-share has no subject check)
    "This disclosure of personal information may be considered a “sale” of personal information "
    "under the CCPA.",
    "In the preceding 12 months, we have sold or shared the following categories of personal "
    "information: identifiers and internet activity.",
    "Allowing advertising cookies may constitute a “sale” under California law.",
])
def test_ccpa_disclosures_stay_sales(sentence):
    assert "risk" in sale_findings(sentence)
