"""English third-party sharing and behavioural-ads constructions of session 8 (issue 14, helper H4;
docs/accuracy.md, "Sharing and behavioural ads on a fresh pool (session 8)"): kinds that recur
across policies, kept only where the validation sets did not get worse. Sentences are our own
wording."""

import pytest

from helpers import english_risks
from scanner.matching import classify, load_rules

RULES = load_rules()


def risks(text: str, heading: str = "") -> set:
    return english_risks(text, RULES, heading)


def rule_ids(text: str) -> set:
    return {f.rule_id for f in classify(text, RULES, lang="en")}


@pytest.mark.parametrize("sentence", [
    # ad companies only named (recipients, collectors, cookie setters): no ad chosen for the person
    "We share data with vendors, such as our hosting companies and advertising partners.",
    "Third-party advertising partners may collect information about you through cookies when you "
    "click on their advertisements.",
    "Our advertising partners may record your IP address when you open our promotional e-mails.",
])
def test_ad_companies_only_named_are_not_behavioural_ads(sentence):
    assert "behavioral_ads" not in risks(sentence)
    # the topic is still marked (OPP-115's topic scores count it)
    assert "behavioral_ads.ads-shown" in rule_ids(sentence)


@pytest.mark.parametrize("sentence", [
    # ... but the same companies serving ads on a profile, or across sites, still are
    "Third-party advertising partners collect information about you through cookies to serve ads "
    "on other websites.",
    "Our ad network keeps track of the websites you have visited to show you relevant ads.",
    "We share data with our advertising partners so that they can show you ads based on your "
    "interests.",
])
def test_ad_companies_serving_on_a_profile_stay_behavioural(sentence):
    assert "behavioral_ads" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Demographic data may be used to show you advertising that you might be interested in.",
    "These companies use information about your visits to this and other sites to provide "
    "advertisements about goods and services of interest to you.",
    "The network lets advertisers target users in certain health-related categories.",
])
def test_ads_chosen_by_interest_are_behavioural(sentence):
    assert "behavioral_ads" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Advertising of interest to parents appears in the printed magazine.",  # not "to you"
    "Advertisers do not target users of the kids' section.",
])
def test_no_interest_targeting_stated(sentence):
    assert "behavioral_ads" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "These third parties have no authority to use your personal information for their own "
    "promotional purposes.",
    "Our ad serving partner may send a cookie to your browser that records your IP address.",
    "This statement tells you what we collect, how we use it and with whom we may share it.",
])
def test_stated_sharing_in_other_words(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "You may request the categories of third parties with whom we share personal information.",
    "The CCPA defines “sale” as disclosing personal information to a third party for money.",
    "Were we ever to sell personal information, we would tell you here first.",
    "Our partners may send you emails about their own offers.",
    "Users have no authority to use other members' personal information for their own purposes.",
])
def test_no_sharing_stated(sentence):
    assert "third_party_sharing" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "We provide our service providers with only the personal information they need to do their work.",
    "We may provide ad partners, including data management platforms, with a hashed version of your "
    "email address.",
    "The shop uses Braintree for all card transactions.",
    "Payments for the premium plan are processed by Stripe.",
])
def test_recipients_given_data_and_named_payment_processors(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Companies that provide us with information about you are listed below.",
    "We provide advertisers with aggregate statistics about our audience.",
    "We do not provide ad companies with your name or email address.",
    "You can read more about PayPal on the PayPal website.",
])
def test_no_recipient_given_personal_data(sentence):
    assert "third_party_sharing" not in risks(sentence)
