"""English constructions added when the rules were checked on unseen policies (issue 14, session
5; docs/accuracy.md, "English rules checked on unseen sentences"). Sentences are our own wording."""

import pytest

from helpers import english_risks
from scanner.evaluate import denials_counted_as_risk
from scanner.matching import load_rules

RULES = load_rules()


def risks(text: str, heading: str = "") -> set:
    return english_risks(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    "When you visit the club's pages, our servers automatically save your computer's IP address.",
    "At the end of each round, details of your performance are automatically submitted to our server.",
    "Your account information may be retained in the database for our records.",
    "The museum uses Google Analytics to monitor activity on its website.",
    "To answer support questions, we use your email address.",
    "When signing up for the forum, we store:\n- Your password, as a salted hash",
    "When you open the app, the following data is collected automatically:\n- your IP address",
])
def test_collection_said_without_collect(sentence):
    assert "collection" in risks(sentence)


@pytest.mark.parametrize("sentence", [
    "We do not use Google Analytics or any other analytics tools.",
    "Afterwards, we retain some information in a depersonalised or aggregated form only.",
    "If you choose not to save your credit card, you enter it again with each order.",
])
def test_denials_and_non_personal_data_are_no_collection_or_sharing(sentence):
    assert not risks(sentence) & {"collection", "third_party_sharing"}


def test_a_list_item_under_a_collection_heading_is_collection():
    heading = "Privacy policy > Information we collect > When you sign up"
    assert "collection" in risks("Your password (stored only as a salted hash)", heading)
    # the same item elsewhere states nothing; a denial under the heading stays a denial
    assert "collection" not in risks("Your password (stored only as a salted hash)",
                                     "How we protect your account")
    assert "collection" not in risks("We do not ask for your home address.", "Information we collect")


@pytest.mark.parametrize("sentence", [
    "For example, we use third-party text message providers to send a login code to your phone.",
    "We, as well as third parties that provide games or other features on the site, may use cookies.",
    "Small files on your phone allow us and our partners to record how you use the app.",
])
def test_sharing_with_processors_partners_and_the_public(sentence):
    assert "third_party_sharing" in risks(sentence)


def test_including_but_not_limited_to_names_no_recipient():
    text = ("When you link an outside account, including but not limited to social networking "
            "sites, we may collect data you give us access to.")
    assert "third_party_sharing" not in risks(text)
    assert "collection" in risks(text)


@pytest.mark.parametrize("sentence", [
    "Except as provided below, we do not share/disclose/sell your personal information.",
    "We do not rent/trade/sell the information in your account.",
])
def test_a_slash_list_denial_is_never_a_sale(sentence):
    assert "sale" not in risks(sentence)
    record = {"id": "t1", "text": sentence, "labels": {}}
    assert denials_counted_as_risk([record], RULES, lang="en") == []


@pytest.mark.parametrize("sentence", [
    "Selling your personal data is something we will never do.",
    "For more information about how we sell data, see Section 7 below.",
    "If we ever decide to sell personal information, we will update this policy.",
    "Where we sell or share personal information, you may opt out.",
])
def test_pointers_suppositions_and_late_denials_are_never_a_sale(sentence):
    assert "sale" not in risks(sentence)


def test_a_stated_sale_stays_a_sale():
    assert "sale" in risks("We may sell your personal information to data brokers.")
    assert "sale" in risks("In the past 12 months we have sold identifiers to advertising networks.")


def test_cookies_the_site_sets_are_collection_and_their_denial_is_not():
    assert "collection" in risks("Cookies are small text files stored on your device that help us "
                                 "remember you.")
    for denial in ("Our games for children set no cookies and no tracking pixels.",
                   "We do not use cookies on the pupils' pages.",
                   "Cookies, by themselves, do not tell us who you are."):
        assert "collection" not in risks(denial)
        record = {"id": "t1", "text": denial, "labels": {}}
        assert denials_counted_as_risk([record], RULES, lang="en") == []
