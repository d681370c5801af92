"""English sharing and collection constructions added from the errors of real-audit-b's part A and
of the older tuning parts (issue 14, session 6; docs/accuracy.md, "Sharing and collection on unseen
policies (session 6)"). Sentences are our own wording."""

import pytest

from helpers import english_risks
from scanner.evaluate import denials_counted_as_risk
from scanner.matching import classify, load_rules

RULES = load_rules()


def risks(text: str, heading: str = "") -> set:
    return english_risks(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    "Anything you write in a club forum can be read, copied or used by other members.",
    "Your public profile may be displayed through search engines when someone looks up your name.",
    "The app lets players publish their high-score page to the public internet.",
    "Visit data is collected by us as well as by our analytics partners.",
    "The app includes cookies and SDKs of services provided by third parties.",
    "We allow select third parties, such as those who host videos or show ads on our pages, to "
    "collect data when you visit.",
    "We work with service providers that help us send newsletters.",
    "Card payments are carried out via our payment service provider.",
    "The school makes use of external cloud services to store pupils' work.",
    "The museum uses Google Analytics to count visits to its pages.",
    "(d) To our parent company, subsidiaries and joint ventures;",
    "Service providers (companies who use your personal information solely to provide services to us).",
    "It explains what we collect, how we use it and to whom we may disclose it.",
])
def test_sharing_said_in_other_words(sentence):
    assert "third_party_sharing" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Pupils' drawings are never seen by other users or indexed by search engines.",
    "Before we delete or share personal information with you, we verify your identity.",
    "To our users: thank you for reading this policy.",
    "If you have questions about our data sharing practices, write to us.",
    "We limit the collection, use and disclosure of personal information.",
])
def test_no_sharing_practice(sentence):
    assert "third_party_sharing" not in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "Contact information, such as your name, e-mail address and phone number;",
    "This information may include IP addresses, browser type and the pages you visit.",
    "Messages sent to players are scanned for spam and abuse.",
    "We employ a local installation of Matomo, an open source analytics tool.",
    "From third-party business partners such as social media sites and ad networks",
    "Indirectly from you. For example, from observing your actions in the app.",
    "Device data may be collected when you open the app, even if you are not logged in.",
    "This notice describes the types of personal information we collect on the club's website.",
    "We use third-party cloud providers to process and edit photographs.",
    "Sign-in operations may log your email address.",
    "Once you join, you may provide additional information to your profile, such as your interests.",
])
def test_collection_said_in_other_words(sentence):
    assert "collection" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "If you're aware that we have collected personal information from a child, please tell us.",
    "For information about the data collection practices of our analytics providers, click here.",
    "Messages sent between pupils are never scanned or monitored.",
    "From time to time we update this policy.",
    "This policy explains how we protect your information.",
])
def test_no_collection_practice(sentence):
    assert "collection" not in risks(sentence)


def test_not_logged_in_is_no_denial_but_a_real_denial_stays_one():
    logged = classify("Usage data may be collected even if you are not logged in.", RULES, lang="en")
    assert any(f.category == "collection" and f.polarity == "risk" for f in logged)
    denied = classify("We do not log your IP address.", RULES, lang="en")
    assert not any(f.category == "collection" and f.polarity == "risk" for f in denied)


def test_new_constructions_count_no_denial_as_risk():
    records = [{"id": str(i), "text": text, "labels": {"collection": False,
                                                         "third_party_sharing": False}}
               for i, text in enumerate([
                   "We do not use Google Analytics or any other analytics tools.",
                   "Your messages are not scanned or reviewed by anyone.",
                   "Profiles are not displayed in search engines.",
                   "We never work with service providers that sell data."])]
    assert denials_counted_as_risk(records, RULES, lang="en") == []
