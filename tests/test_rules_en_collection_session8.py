"""English collection constructions of session 8 (issue 14, helper H3; docs/accuracy.md): uses
stated in the passive, tracking that lets the service recognise the user, inferences, profile
details the user adds, data received from partners, list items under a "How we use" heading and
retention under a retention heading. Sentences are our own wording, not the labelled sets'."""

import pytest

from helpers import english_risks
from scanner.matching import load_rules

RULES = load_rules()


def risks(text: str, heading: str = "") -> set:
    return english_risks(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    "Your postcode may also be used to show the shops nearest to you.",
    "Phone numbers are kept private and are used for two-step sign-in only.",
    "Session cookies allow our servers to recognize you while you move between pages.",
    "These pixels help us and our vendors determine whether you opened a newsletter.",
    "We use this file to remember your preferences and track your visits to the forum.",
    "We create and update inferences about your interests from the pages you read.",
    "You can optionally add a photo and a short biography to your profile.",
    "The club combines this with information we obtain from our partners.",
])
def test_collection_stated(sentence):
    assert "collection" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    # denials stay denials: no risk may come of them
    "Your phone number will never be used for marketing.",
    "Our cookies do not identify you or record your activity.",
    "We do not make inferences about you from sensitive data.",
    "We do not keep recordings of calls.",
    # the policy describing itself, someone else's use, non-personal data, definitions
    "This policy describes how your information is used and when it is shared.",
    "Aggregated statistics may be used to plan new routes.",
    "Information about the ads you saw may be used by our advertising partners.",
    "Personal data means information that can be used on its own to identify a person.",
    "Please let us know if your address changes.",
    "Third-party ad networks may place cookies that allow them to recognize your browser.",
    # the ad-serving boilerplate that names what is not used
    "Information about your visits (but not your name, address or other personal information) is used to serve ads.",
])
def test_no_collection_stated(sentence):
    assert "collection" not in risks(sentence)


@pytest.mark.parametrize(("item", "heading"), [
    ("personalise the newsletters you receive;", "Privacy notice > How we use your information"),
    ("Process returns and refunds.", "Privacy notice > Purposes of processing"),
    ("show you offers that match your past orders", "Privacy notice > Why do we use your data?"),
])
def test_use_item_under_use_heading(item, heading):
    assert "collection" in risks(item, heading)


@pytest.mark.parametrize(("sentence", "heading"), [
    ("We keep order records for seven years to meet tax law.", "Privacy notice > Data retention"),
    ("Your uploads are stored until you delete your account.", "Privacy notice > How long do we keep your data?"),
])
def test_retention_under_retention_heading(sentence, heading):
    assert "collection" in risks(sentence, heading)


def test_headings_decide_the_context_rules():
    """The same sentences under another heading, or denied, give no collection of their own."""
    assert "collection" not in risks("personalise the newsletters you receive;", "Privacy notice > Your choices")
    assert "collection" not in risks("We keep order records for seven years to meet tax law.",
                                     "Privacy notice > Security")
    assert "collection" not in risks("We do not keep order records after delivery.", "Privacy notice > Data retention")


@pytest.mark.parametrize("sentence", [
    "We do not share the data of people we know are under age sixteen (16).",
    "Members must be 13 years or older to upload photos.",
    "If you are 15 or older but under the age of 18, a parent must agree first.",
    "We never sell data of consumers less than 16 years of age.",
])
def test_children_age_thresholds_are_the_topic(sentence):
    from scanner.matching import classify
    assert "children" in {f.category for f in classify(sentence, RULES, lang="en")}


def test_an_adult_age_of_majority_is_not_a_child_threshold():
    from scanner.matching import classify
    found = {f.category for f in classify("You must be 21 years or older to buy wine here.", RULES, lang="en")}
    assert "children" not in found
