"""Thai PDPA drafting that recurs across notices (session 8, issue 14): processors and outside
parties acting for the organisation, parties let know the data, data obtained or collected by the
organisation in the passive, own cookies described by what they do, children's sections, and
statements that are not titles. Own sentences, each a construction rather than a notice's wording."""

from __future__ import annotations

import pytest

from scanner.matching import classify, load_rules
from scanner.thai import sentence_context, tokenized_form

RULES = load_rules()


def practices(text: str) -> set[str]:
    """The categories a Thai sentence states as done (risk findings)."""
    return {f.category for f in classify(text, RULES, lang="th") if f.polarity == "risk"}


def topics(text: str) -> set[str]:
    return {f.category for f in classify(text, RULES, lang="th")}


@pytest.mark.parametrize("sentence", [
    # a processor or an outside provider keeping or processing the data for the organisation
    "บริษัทอาจมอบหมายให้ผู้ประมวลผลข้อมูลส่วนบุคคลดำเนินการแทนบริษัท",
    "เราอาจว่าจ้างผู้ประมวลผลข้อมูลส่วนบุคคลเพื่อจัดเก็บข้อมูลของท่าน",
    "ผู้ให้บริการระบบคลาวด์จะจัดเก็บข้อมูลของท่านในนามของเรา",
    # outside parties that have the right to reach the data (a statement, not a title)
    "บุคคลที่สามเหล่านี้มีสิทธิ์เข้าถึงข้อมูลส่วนบุคคลของคุณ",
    # a named party let know the data
    "เราให้บริษัทขนส่งทราบชื่อและที่อยู่ของท่าน",
])
def test_sharing_with_processors_and_parties_told(sentence):
    assert "third_party_sharing" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    # only the organisation's own staff see it
    "ข้อมูลจะถูกเปิดเผยเฉพาะเจ้าหน้าที่ที่เกี่ยวข้องเท่านั้น",
    # the reader told something, not a party told the data
    "เราจะแจ้งให้ท่านทราบข้อมูลการเปลี่ยนแปลงทางอีเมล",
    # the organisation receiving data from an agency or a partner is collection, not sharing
    "เราได้รับข้อมูลของท่านจากพันธมิตรทางธุรกิจเมื่อท่านสมัครผ่านช่องทางของพันธมิตร",
    # a definition of the processor
    "ผู้ประมวลผลข้อมูลส่วนบุคคล หมายถึง บุคคลหรือนิติบุคคลซึ่งดำเนินการเกี่ยวกับการเก็บรวบรวม "
    "ใช้ หรือเปิดเผยข้อมูลส่วนบุคคลตามคำสั่งหรือในนามของผู้ควบคุมข้อมูลส่วนบุคคล",
])
def test_no_sharing_for_staff_the_reader_or_definitions(sentence):
    assert "third_party_sharing" not in practices(sentence), sentence


def test_disclosure_to_officials_of_the_state_is_still_sharing():
    # เจ้าหน้าที่ของรัฐ is no staff of ours
    assert "third_party_sharing" in practices("เราอาจเปิดเผยข้อมูลเฉพาะแก่เจ้าหน้าที่ของรัฐตามที่กฎหมายกำหนด")


@pytest.mark.parametrize("sentence", [
    "ทางร้านได้มาซึ่งข้อมูลของลูกค้าจากการสั่งซื้อ",
    "ข้อมูลจะถูกรวบรวมโดยบริษัทเพื่อวัตถุประสงค์ทางสถิติ",
    # own cookies described by what they do for us (a statement, not a title)
    "คุกกี้เพื่อการวิเคราะห์ช่วยให้เราเข้าใจว่าผู้เยี่ยมชมใช้งานเว็บไซต์อย่างไร",
    "คุกกี้ที่จำเป็นช่วยจดจำการเข้าสู่ระบบของท่าน",
    "คุกกี้ประเภทนี้ช่วยให้เรานับจำนวนผู้เข้าชมเว็บไซต์",
])
def test_collection_obtained_passive_or_by_own_cookies(sentence):
    assert "collection" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "คุกกี้ของบุคคลที่สามช่วยให้ผู้โฆษณาทราบความสนใจของท่าน",  # someone else's cookies
    "ท่านสามารถลบคุกกี้ได้ผ่านการตั้งค่าเบราว์เซอร์",
    "บริการนี้ไม่ได้ใช้คุกกี้โดยตรง",
])
def test_no_collection_for_others_cookies_or_cookie_controls(sentence):
    assert "collection" not in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "*ความเป็นส่วนตัวของเด็ก",
    "การคุ้มครองข้อมูลของผู้เยาว์",
])
def test_a_section_on_childrens_privacy_is_about_children(sentence):
    assert "children" in topics(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "บุคคลที่สามเหล่านี้มีสิทธิ์เข้าถึงข้อมูล",
    "คุกกี้ที่จำเป็นช่วยจดจำการเข้าสู่ระบบ",
    "คุกกี้ช่วยให้เราเข้าใจว่าท่านใช้งานอย่างไร",
])
def test_statements_are_not_titles(sentence):
    assert sentence_context(sentence, tokenized_form(sentence)) is None, sentence


@pytest.mark.parametrize("sentence", [
    "บุคคลที่สามที่เราเปิดเผยข้อมูล",
    "คุกกี้ที่เราใช้",
    "เราเก็บรวบรวมข้อมูลอะไรบ้าง",
])
def test_titles_stay_titles(sentence):
    assert sentence_context(sentence, tokenized_form(sentence)) == "heading", sentence


@pytest.mark.parametrize("sentence", [
    # a party then what it does with the data, with no modal: a statement
    "ผู้ให้บริการภายนอกเข้าถึงข้อมูลของท่าน",
    "หน่วยงานของรัฐขอข้อมูลตามกฎหมาย",
    "คุกกี้บันทึกการตั้งค่าภาษา",
    "คุกกี้ของบุคคลที่สามติดตามการเข้าชมของท่าน",
])
def test_a_party_doing_something_with_the_data_is_not_a_title(sentence):
    assert sentence_context(sentence, tokenized_form(sentence)) is None, sentence


@pytest.mark.parametrize("sentence", [
    "บุคคลภายนอกที่ได้รับข้อมูล",
    "ผู้ให้บริการด้านเทคโนโลยี",
    "ระยะเวลาเก็บรักษาข้อมูล",
])
def test_a_party_named_in_a_title_is_still_a_title(sentence):
    assert sentence_context(sentence, tokenized_form(sentence)) == "heading", sentence


def test_an_outside_party_using_the_data_without_a_modal_is_sharing():
    assert "third_party_sharing" in practices("บุคคลภายนอกใช้ข้อมูลของท่าน")
    assert "third_party_sharing" in practices("ผู้ให้บริการภายนอกเข้าถึงข้อมูลของท่าน")
    # its denial stays protective
    assert "third_party_sharing" not in practices("ผู้ให้บริการไม่ใช้ข้อมูลของท่านเพื่อวัตถุประสงค์อื่น")


def test_own_cookies_recording_settings_are_collection():
    assert "collection" in practices("คุกกี้บันทึกการตั้งค่าภาษา")
    assert "collection" not in practices("คุกกี้ของบุคคลที่สามติดตามการเข้าชมของท่าน")


def test_these_outside_companies_reaching_the_data_is_sharing():
    sentence = "เราอาจว่าจ้างบริษัทภายนอกให้ดำเนินการแทนเรา ซึ่งบริษัทเหล่านี้จะเข้าถึงข้อมูลของท่าน"
    assert "third_party_sharing" in practices(sentence)
    assert "third_party_sharing" not in practices("บริษัทเหล่านี้จะไม่เข้าถึงข้อมูลของท่าน")


@pytest.mark.parametrize("sentence", [
    # data sent or told to a recipient no list names
    "เราจะส่งข้อมูลผู้สมัครให้คณะกรรมการตัดสินภายนอก",
    "ทางร้านจะแจ้งชื่อและเบอร์โทรของลูกค้าให้พนักงานส่งของของบริษัทขนส่ง",
    # kept on servers in a named foreign country
    "ระบบอาจส่งข้อมูลของท่านไปเก็บไว้บนเซิร์ฟเวอร์ในสิงคโปร์",
    "ข้อมูลของท่านจะถูกจัดเก็บบนเซิร์ฟเวอร์ในสหรัฐอเมริกา",
])
def test_data_sent_to_other_recipients_or_kept_abroad(sentence):
    assert "third_party_sharing" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "เราจะแจ้งข้อมูลการเปลี่ยนแปลงให้ท่านทราบ",
    "ข้อมูลของท่านจะถูกจัดเก็บบนเซิร์ฟเวอร์ในประเทศไทย",
    "เราจะส่งผลการเรียนให้ผู้ปกครองทางอีเมล",
])
def test_telling_the_reader_or_keeping_data_at_home_is_no_sharing(sentence):
    assert "third_party_sharing" not in practices(sentence), sentence


def test_the_fused_modal_jaejaeng_is_cut():
    # pythainlp's จะแจ้ง hid the verb แจ้ง from the rules
    assert "|จะ|แจ้ง|" in tokenized_form("ทางร้านจะแจ้งชื่อลูกค้าให้บริษัทขนส่ง")
