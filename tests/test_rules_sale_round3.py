"""Sale constructions of the third sale audit round (issue 14, session 7; bench/data/labels/
AGREEMENT.md, "real-audit-d"): a sale risk needs the operator as the seller of personal
information. Tuned on real-audit-c's tuning part and real-audit-d's part A; measured on
real-audit-d's part B. Sentences are our own wording, in the forms the audited policies use."""

import pytest

from helpers import sale_findings as _sale_findings

from scanner.matching import load_rules

RULES = load_rules()


def sale_findings(text: str, heading: str = "") -> dict:
    """polarity -> rule ids of the sale findings of the text, by the rules loaded here."""
    return _sale_findings(text, RULES, heading)


@pytest.mark.parametrize("sentence", [
    # a data transfer as part of a business transaction (the whole sentence)
    "For example, if part of our business was sold we may give our customer list as part of that "
    "transaction.",
    "If a brand or one of our businesses with which you have shared personal data is sold to "
    "another company, your data will be shared with that company.",
    "If Acme Media sells all or part of this site or is otherwise involved in a merger, we may, in "
    "our sole discretion, transfer, sell or assign your personal data to a third party as part of "
    "or in connection with that transaction.",
    "We may sell your personal data as part of the sale of all or substantially all of our assets.",
    # another seller: publishers, other companies, service providers, other users, the reader
    "When you sell your customer lists through the marketplace, the buyer receives them directly.",
    "Such publishers or sellers may exchange or rent their subscriber and customer names to "
    "companies with offers that match your interests.",
    "We also receive information from other companies who have obtained your consent to share or "
    "sell it to us and to others.",
    "Many companies profit off their users by selling their information, but we will never do that.",
    "Our vendors are restricted from using, selling, distributing or altering this data in any way "
    "other than to provide the services we asked for.",
    "To remove your listing we need some of your personal information, since people-search "
    "websites that display and sell it do not remove it otherwise.",
    # licence and terms-of-use language over content, not personal data
    "By submitting ideas you grant us a perpetual, royalty-free licence to use, reproduce, modify, "
    "publish, sublicense and sell such unsolicited submissions.",
    "* copy, reproduce, modify, distribute, transmit, rent, sell, share, sublicense or otherwise "
    "provide to others any Content obtained through the Service",
    # aggregate, anonymous or statistical data
    "We may sell, rent or lease statistical information based on this data to advertisers and "
    "other current and potential business partners.",
    "Analytics reports that we may sell to other companies for their own marketing, advertising "
    "or other similar uses.",
    # the law paraphrased, a definition with an article, an open question
    "Certain privacy laws, such as the CCPA, require that we tell you about the categories of "
    "personal information that we have disclosed for a business purpose and those we have “sold”.",
    "The CCPA defines a “sale” as disclosing or making available to a third party personal "
    "information in exchange for monetary or other valuable consideration.",
    "A sale under Nevada law is the exchange of personal information for monetary consideration "
    "by the business to a third party for the third party to license or sell it.",
    "Under the CCPA, a business “sells” personal information to a recipient when it discloses it "
    "for monetary or other valuable consideration.",
    "We have taken steps to identify whether any of our data sharing arrangements would "
    "constitute a “sale” under the CCPA.",
    "We will update our practices as regulators clarify what constitutes a sale transaction in "
    "the advertising ecosystem.",
    # a conditional right with a named company; the reader receiving ads
    "To the extent Acme sells your personal information as the CCPA defines the term, you have the "
    "right to direct us not to sell it.",
    "You may also continue to receive targeted ads on other websites, from companies that do not "
    "participate in the above programs.",
    # denials: "never ever", one negation over a list of verbs
    "Acme promises to never ever ever (did we mention ever?) rent or sell your personal "
    "information.",
    "Acme does not buy in data from any third parties, or sell on your data to any third parties.",
    # "in exchange for" without data exchanged
    "Making or demanding bribes or other payments without providing services in exchange for the "
    "payment is forbidden.",
])
def test_no_sale_risk(sentence):
    assert "risk" not in sale_findings(sentence)


@pytest.mark.parametrize("sentence", [
    "Where the sale concerns our business, we may sell or transfer your records as part of that "
    "transaction.",
    "We have taken steps to identify whether any of our data sharing arrangements would "
    "constitute a “sale” under the CCPA.",
])
def test_uncertain_or_business_sale_stays_a_mention(sentence):
    """Sale words the rules do not allege stay a 0-point mention the case officer can check."""
    found = sale_findings(sentence)
    assert "risk" not in found
    assert "sale.topic" in found.get("neutral", [])


@pytest.mark.parametrize("sentence", [
    # the operator as seller, active or passive, old-style and CCPA-style
    "We may also sell, rent or lease your personal information to our marketing partners, "
    "advertisers or other third parties.",
    "If you give us your postal address when you subscribe, we may include it in postal address "
    "lists that we sell or rent to third parties.",
    "It is possible that we may rent, sell or otherwise transfer to third parties personally "
    "identifiable information about you.",
    "We reserve the right to share, sell, rent, lease or otherwise distribute any and all personal "
    "information with or to any third party for any uses permitted by this policy.",
    "We sell your personal information to the following categories of third parties: retail "
    "partners.",
    "In the preceding twelve (12) months, we have sold or otherwise disclosed the following "
    "categories of personal information: identifiers and geolocation data.",
    "Bloomberg may share online identifiers with third parties in ways that may constitute a "
    "“sale” under the California Consumer Privacy Act.",
    # data given for services or benefits in return, and on a rental basis
    "We disclose or make available personal information to dealers for marketing purposes, as well "
    "as other third parties, in order to receive certain services or benefits from them.",
    "For some services we may make the names and e-mail addresses of our users available on a "
    "rental or other basis (e.g., sale) to third party providers of goods and services.",
    # the seller named in the subject is the operator, not "they"
    "We share data with partners and sell your personal information to marketers.",
    # a passive sale after a place or party named first; personal data beside aggregate data
    "Information collected on our sites may be sold to third parties for their marketing.",
    "We may sell your personal information and aggregate statistics to our partners.",
])
def test_sale_risk(sentence):
    assert "risk" in sale_findings(sentence)


def test_sale_of_data_with_exchange_for_value_still_found():
    assert "risk" in sale_findings(
        "We may exchange your name and address with other organizations for monetary "
        "consideration.")
