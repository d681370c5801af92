"""English third-party sharing and behavioural-ads constructions of session 7 (issue 14, helper H8;
docs/accuracy.md, "Sharing and behavioural ads that generalise (session 7)"): kinds that recur
across policies, checked out of sample. Sentences are our own wording."""

import pytest

from helpers import english_risks
from scanner.matching import load_rules

RULES = load_rules()


def risks(text: str, heading: str = "") -> set:
    return english_risks(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    # definitions, suppositions and the browser's opt-out signal state no practice
    "The CCPA defines “sharing” as disclosing personal data for cross-context behavioral advertising.",
    "Advertising targeted on the sites you visited before is known as behavioral advertising.",
    "Were we ever to share personal data for targeted advertising, we would describe it here.",
    "If you believe our cookies amount to targeted advertising, you can send us a request.",
    "With Global Privacy Control enabled, cookies used for targeted advertising are switched off.",
])
def test_no_behavioural_ads_stated(sentence):
    assert "behavioral_ads" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Our ad partners use cookies to serve ads in the app that match your interests.",
    # a practice named, then called by the law's word: still stated
    "Some of these disclosures are known as “sharing”, that is processing your data for targeted advertising.",
])
def test_behavioural_ads_still_found(sentence):
    assert "behavioral_ads" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "In the past 12 months we have shared and/or sold the following categories of personal information.",
    "The publisher may “sell” or “share” additional categories of personal information about residents.",
    "Over the last year we have collected, disclosed for a business purpose, and sold or shared these categories of personal information.",
    "Sensitive personal information may be sold to or shared with third parties.",
    "Sharing for cross-context behavioral advertising is limited to data collected on our public websites.",
])
def test_ccpa_sold_or_shared_is_sharing(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "We do not sell or share personal information.",
    "We have not sold or shared personal information in the past 12 months.",
    "You have the right to opt out of the sale or sharing of your personal information.",
    "Sold or shared for cross-context behavioral advertising?",
    "You may exercise this right for such selling or sharing by managing your cookie preferences.",
])
def test_ccpa_rights_and_denials_are_not_sharing(sentence):
    assert "third_party_sharing" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "If you press a share button, the company providing it may collect your IP address.",
    "Some data may be collected and linked to your account by the respective social media company.",
    "They may use this information to provide you with interest-based (behavioural) advertising.",
    "We work with third parties for analytics and to deliver targeted advertising to you.",
    "We may provide our advertising partners with a hashed version of your email address.",
    "We may share personal information with third parties, such as ad partners, to deliver ads and "
    "to aggregate information for analysis.",
])
def test_third_parties_collecting_or_receiving_for_ads_is_sharing(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "They may use this information to decide which of our newsletters to send you.",
    "We work with third parties to keep the service secure.",
    "We may share aggregated information with our partners.",
])
def test_no_third_party_collection_stated(sentence):
    assert "third_party_sharing" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "We do not allow our service providers to use your personal data for their own purposes and only "
    "permit them to process it for specified purposes.",
    "We prohibit the third party from selling the personal information that we provide.",
    "Our partners are only authorized by us to use the information to send you the newsletter.",
    "Those third parties are not authorized to use or disclose personal information for any purpose "
    "other than the services we ask of them.",
    "To the extent we disclose personal information to third parties, it is only on the condition that "
    "they keep it confidential.",
])
def test_limits_on_recipients_state_a_disclosure(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "We do not allow third parties to collect personal information through our app.",
    "Users are not permitted to share their passwords with anyone.",
    "Service providers are required to use anonymised data only.",
])
def test_no_recipient_limit_stated(sentence):
    assert "third_party_sharing" not in risks(sentence)


@pytest.mark.parametrize(("sentence", "found"), [
    ("We and our service providers may transfer your personal information to other jurisdictions.", True),
    ("Some of our service providers are established outside the EEA, so your data may be transferred "
     "there.", True),
    ("We may transfer your personal information to our offices in other countries.", False),
])
def test_providers_abroad_hold_the_data(sentence, found):
    assert ("third_party_sharing" in risks(sentence)) is found
