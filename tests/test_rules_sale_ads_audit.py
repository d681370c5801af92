"""Sale and behavioural-ads constructions changed after the audit on unseen policies (issue 14,
session 6; docs/accuracy.md, "Sale and ads audited on unseen policies (session 6)"). Sentences
are our own wording, in the forms the audited policies use."""

import pytest

from scanner.matching import classify, load_rules

RULES = load_rules()


def risk_rules(text: str) -> dict:
    """category -> rule id of each risk finding of the text."""
    return {f.category: f.rule_id for f in classify(text, RULES, lang="en") if f.polarity == "risk"}


@pytest.mark.parametrize("sentence", [
    # the reader's opt-out said otherwise, and the opt-out signal
    "With the Global Privacy Control turned on, you will only be opted out of online sales or "
    "sharing of personal data.",
    "If we detect an opt-out preference signal, we will opt that browser out of cookies that result "
    "in a “sale” or “sharing” of your personal information.",
    "For more information, including instructions on how to opt out such sales or sharing, see our "
    "public records notice.",
    # a supposition of the reader, a supposed sale, a right in a list
    "If you believe our tracking technologies qualify as a “sale” or “sharing” under state law, "
    "you can opt out by sending a request.",
    "Were we ever to sell personal information or share it for cross-context behavioral "
    "advertising, we would describe the opt-out here.",
    "3. To stop selling your personal information.",
    # the law paraphrased, a definition
    "A business that collects and sells the personal information of consumers it has no direct "
    "relationship with is required to register as a data broker.",
    "The business shall identify the categories of personal information sold or disclosed in the "
    "preceding 12 months.",
    'The CCPA defines "sale" as disclosing personal information to a third party for valuable '
    "consideration.",
    # goods sold, not data
    "We record the title of each favourited item and whether the item is sold.",
])
def test_no_sale_is_stated(sentence):
    assert "sale" not in risk_rules(sentence)


@pytest.mark.parametrize("sentence", [
    # ads across a person's own devices: cross-device, not a disclosure for cross-context ads
    "We use the hashed email to recognise you and send you interest-based ads across different "
    "devices and browsers.",
    "Where we can make such inferences, we may deliver targeted ads across multiple computers or "
    "devices.",
    # the operator's own tracking, no third party named
    "The app collects data on its site and across non-affiliated websites and apps to deliver more "
    "relevant advertising to you.",
])
def test_targeting_without_a_disclosure_is_ads_not_sale(sentence):
    found = risk_rules(sentence)
    assert "sale" not in found
    assert found.get("behavioral_ads") == "behavioral_ads.interest-based"


def test_non_targeted_ads_are_neither_sale_nor_behavioural():
    found = risk_rules("We share this data with business partners to provide you with non-targeted "
                       "ads, under contracts that protect it.")
    assert "sale" not in found and "behavioral_ads" not in found


@pytest.mark.parametrize("sentence", [
    "Third parties may collect information about you over time and across other websites to "
    "deliver interest-based ads.",
    "The definitions of ‘sell’ and ‘share’ are broad and may include sharing cookie identifiers "
    "with our advertising partners for showing you relevant ads.",
    "Under some local privacy laws, providing these services to third parties may constitute a "
    "“sale” of personal information.",
])
def test_sale_still_found(sentence):
    assert "sale" in risk_rules(sentence)


@pytest.mark.parametrize("sentence", [
    "The identifiers we process include the advertising ID of your phone, a hashed email address "
    "and your IP address.",
    "With your consent, we may use your name, city or story in our advertising campaigns.",
    "We may collect information about you from third parties, including business partners, other "
    "advertising companies and public sources.",
    "You may still see advertisements targeted to you based on non-personal information, for "
    "example the article you are reading.",
    "We may keep using app data for purposes other than interest-based advertising, as described "
    "above.",
    "Purpose: targeted marketing to you as a member by regular mail, e-mail or SMS.",
    "We offer choices relating to how your data is used for marketing, analysis and profiling.",
])
def test_no_behavioural_ads_stated(sentence):
    assert "behavioral_ads" not in risk_rules(sentence)


@pytest.mark.parametrize("sentence", [
    "We work with third-party companies who also use these technologies to provide advertisements "
    "on our websites and other third-party websites.",
    "If you give us your consent, we will use your data for targeting on third-party platforms.",
    "We may send your hashed email to advertising partners when you have agreed to personalised "
    "advertising.",
])
def test_behavioural_ads_found(sentence):
    assert "behavioral_ads" in risk_rules(sentence)
