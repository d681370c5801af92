"""Thai collection and sharing read the same whoever the organisation is and however the verbs
are listed (session 7): own sentences, each a construction rather than a notice's wording."""

from __future__ import annotations

import pytest

from scanner.matching import classify, load_rules
from scanner.thai import tokenized_form

RULES = load_rules()


def practices(text: str) -> set[str]:
    """The categories a Thai sentence states as done (risk findings)."""
    return {f.category for f in classify(text, RULES, lang="th") if f.polarity == "risk"}


def test_ti_thang_is_cut_so_the_organisation_after_it_is_a_word():
    # pythainlp's word ที่ทาง ("place") swallowed the relative ที่ before ทางบริษัท / ทางโรงเรียน
    assert "|ที่|ทาง|บริษัท|" in tokenized_form("ข้อมูลที่ทางบริษัทเก็บรวบรวม")
    assert "|ที่|ทาง|ร้าน|" in tokenized_form("ข้อมูลที่ทางร้านจัดเก็บ")


@pytest.mark.parametrize("sentence", [
    # the organisation named as a club, a student union, a team or a shop
    "ชมรมจะรวบรวมรายชื่อและช่องทางติดต่อของผู้สมัคร",
    "ทางชมรมจะเก็บข้อมูลของผู้สมัครไว้ใช้ในการคัดเลือก",
    "สโมสรนิสิตจะเก็บข้อมูลการเข้าร่วมกิจกรรมของนิสิต",
    "ทีมงานอาจบันทึกเสียงการสัมภาษณ์เพื่อใช้ประกอบการพิจารณา",
    "ทางร้านขอเก็บชื่อ เบอร์โทร และที่อยู่ของลูกค้าเพื่อจัดส่งสินค้า",
    "ข้อมูลที่ทางร้านจัดเก็บอาจรวมถึงชื่อและที่อยู่ของลูกค้า",
    # a list of processing verbs, one of them collecting, before the data
    "มหาวิทยาลัยเก็บ รวบรวม และประมวลผลข้อมูลของผู้สมัคร",
    "โครงการจะดำเนินการเก็บรวบรวม ใช้ และโอนข้อมูลเท่าที่จำเป็น",
    # a condition naming the reader contacting us is not a contact line
    "เมื่อท่านติดต่อเรา เราอาจเก็บบันทึกการสนทนาไว้",
    "หากคุณติดต่อเราทางอีเมล เราจะเก็บอีเมลและข้อความของคุณ",
])
def test_collection_by_any_kind_of_organisation_or_verb_list(sentence):
    assert "collection" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    # the organisation or the reader receiving something is neither sharing nor collection
    "โครงการฯ ได้รับการสนับสนุนจากมหาวิทยาลัย",
    "นิสิตจะได้รับข้อมูลข่าวสารของโครงการทางอีเมล",
    "ผู้สมัครจะได้รับอีเมลยืนยันภายใน 3 วัน",
    "ผู้ใช้งานจะได้รับการแจ้งเตือนเมื่อมีการเปลี่ยนแปลงนโยบาย",
    "ผู้เข้าร่วมกิจกรรมจะได้รับเสื้อและอาหารกลางวัน",
    "ทางโรงเรียนจะได้รับรายงานสรุปผลกิจกรรมในภาพรวม",
    "ทีมงานจะติดต่อกลับทางโทรศัพท์",
    "ทางร้านจะจัดส่งสินค้าภายใน 3 วันทำการ",
])
def test_receiving_or_contacting_states_no_practice(sentence):
    assert not practices(sentence) & {"collection", "third_party_sharing"}, sentence


@pytest.mark.parametrize("sentence", [
    # our own organisation, under any name, obtaining data is collection, not a third party
    "โครงการฯ อาจได้รับข้อมูลของท่านจากโรงเรียนต้นสังกัด",
    "ทางโรงเรียนอาจได้รับข้อมูลของนักเรียนจากผู้ปกครอง",
    "คณะฯ อาจได้รับข้อมูลของท่านจากมหาวิทยาลัย",
])
def test_own_organisation_obtaining_data_is_collection_not_sharing(sentence):
    found = practices(sentence)
    assert "collection" in found and "third_party_sharing" not in found, (sentence, found)


@pytest.mark.parametrize("sentence", [
    "เราอาจมอบข้อมูลของท่านให้แก่ผู้สนับสนุนโครงการ",
    "ข้อมูลผลการเรียนจะถูกรายงานต่อกระทรวงศึกษาธิการ",
    "ข้อมูลของท่านอาจถูกเข้าถึงโดยผู้ให้บริการระบบคลาวด์",
    "เว็บไซต์นี้ใช้ปลั๊กอินของ Facebook ซึ่งอาจเก็บข้อมูลการเข้าชมของท่าน",
    "ชมรมอาจส่งต่อรายชื่อผู้เข้าร่วมให้ผู้สนับสนุนกิจกรรม",
    "ทางร้านจะส่งชื่อและที่อยู่ของท่านให้บริษัทขนส่ง",
    # an outside company named as such, a named outside service gathering data, photos used in publicity
    "เราอาจว่าจ้างบริษัทภายนอกให้ดูแลระบบสารสนเทศ ซึ่งอาจเข้าถึงข้อมูลส่วนบุคคลของท่าน",
    "เราใช้ LINE Official Account ในการติดต่อสื่อสาร ซึ่ง LINE อาจเก็บข้อมูลการใช้งานของท่าน",
    "รูปถ่ายของผู้เข้าร่วมอาจถูกใช้ในสื่อประชาสัมพันธ์ของมหาวิทยาลัย",
    # transfer closing a list of processing verbs
    "โครงการจะดำเนินการเก็บรวบรวม ใช้ และโอนข้อมูลเท่าที่จำเป็น",
])
def test_sharing_by_handing_over_reporting_access_or_a_plugin(sentence):
    assert "third_party_sharing" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "เราอาจแบ่งปันข้อมูลสถิติที่ไม่สามารถระบุตัวตนได้กับพันธมิตร",
    "ข้อมูลที่ไม่ระบุตัวตนอาจถูกเปิดเผยต่อสาธารณะในรายงานประจำปี",
    "ข้อมูลนิรนามอาจถูกส่งให้ผู้วิจัยภายนอก",
])
def test_sharing_data_that_identifies_no_one_is_not_sharing_personal_data(sentence):
    assert "third_party_sharing" not in practices(sentence), sentence


def test_an_outside_analytics_tool_still_shares_even_when_called_anonymous():
    # the tool's company gathers the data on the site; its own claim of anonymity does not change that
    sentence = "เราใช้ Google Analytics เก็บข้อมูลสถิติที่ไม่สามารถระบุตัวตนของท่านได้"
    assert "third_party_sharing" in practices(sentence)


@pytest.mark.parametrize("sentence,form", [
    # a fused modal is cut, so rules reading (อาจ|จะ) see both
    ("เราอาจจะเก็บข้อมูลของท่าน", "|เรา|อาจ|จะ|เก็บ|ข้อมูล|ของ|ท่าน|"),
    ("บริษัทคงจะเปิดเผยข้อมูล", "|บริษัท|คง|จะ|เปิดเผย|ข้อมูล|"),
])
def test_fused_modals_are_cut(sentence, form):
    assert tokenized_form(sentence) == form


@pytest.mark.parametrize("sentence,category", [
    ("เราอาจจะขอข้อมูลเพิ่มเติมจากท่าน", "collection"),
    ("โครงการอาจจะดำเนินการเก็บรวบรวม ใช้ และเปิดเผยข้อมูลเท่าที่จำเป็น", "collection"),
    ("ผู้ให้บริการซึ่งเป็นบุคคลภายนอกอาจจะเก็บรวบรวมข้อมูลจากภาพของท่าน", "third_party_sharing"),
])
def test_a_practice_with_a_fused_modal_is_found(sentence, category):
    assert category in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    # how long data is kept is retention, not collection (the issue authors' Thai labels: false)
    "มหาวิทยาลัยจะเก็บข้อมูลส่วนบุคคลไว้ไม่เกินระยะเวลาเท่าที่จำเป็นตามวัตถุประสงค์",
    "เราเก็บข้อมูลการบริจาคไม่ต่ำกว่า 7 ปีตามกฎหมายบัญชี",
    "เราจะเก็บข้อมูลของท่านจนกว่าท่านจะลบบัญชี",
])
def test_a_retention_period_is_not_collection(sentence):
    assert "collection" not in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "เราเก็บรวบรวมชื่อและอีเมลของท่าน และเก็บไว้ไม่เกิน 1 ปี",
    "เราจะจัดเก็บข้อมูลเพียงเท่าที่จำเป็นสำหรับการให้บริการ",
])
def test_collection_next_to_a_period_or_a_limit_stays_collection(sentence):
    assert "collection" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "เราไม่ได้เก็บอะไรเลยนอกจากอีเมลของคุณ",
    "แอปนี้ไม่เก็บข้อมูลส่วนบุคคลใด ๆ ยกเว้นชื่อเล่นที่ผู้เรียนตั้งเอง",
])
def test_nothing_but_some_data_is_collection_of_that_data(sentence):
    assert "collection" in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    "เราไม่เก็บข้อมูลใด ๆ ของท่าน เว้นแต่ได้รับความยินยอมจากท่าน",
    "แอปนี้ไม่มีการเก็บข้อมูลส่วนบุคคลใดๆ",
])
def test_a_plain_denial_or_a_consent_exception_is_no_collection(sentence):
    assert "collection" not in practices(sentence), sentence


@pytest.mark.parametrize("sentence,category", [
    # colloquial forms: ใส่ ("enter"), เว็บ for เว็บไซต์, data sent into our system or to a named tool,
    # friends seeing the data
    ("คุณต้องใส่ชื่อ อีเมล และเบอร์โทรเพื่อสั่งซื้อ", "collection"),
    ("เว็บนี้เก็บคุกกี้เพื่อจำการเข้าสู่ระบบ", "collection"),
    ("ข้อมูลที่กรอกจะถูกส่งเข้าระบบของเรา", "collection"),
    ("ข้อมูลจะถูกส่งไปที่ Google Sheets ของทีมงาน", "third_party_sharing"),
    ("คุณสามารถเลือกแชร์ตำแหน่งให้เพื่อนเห็นได้ ซึ่งเพื่อนของคุณจะเห็นตำแหน่งของคุณ", "third_party_sharing"),
])
def test_colloquial_forms_of_collection_and_sharing(sentence, category):
    assert category in practices(sentence), sentence


@pytest.mark.parametrize("sentence", [
    # a reader noun followed by อื่น is other users, not the reader: still sharing
    "ผู้ใช้บริการรายอื่นจะเห็นชื่อของท่าน",
    "ผู้เรียนคนอื่นจะเห็นคะแนนของท่าน",
    "สมาชิกคนอื่นอาจเห็นโพสต์ของท่าน",
])
def test_other_users_seeing_the_data_is_sharing(sentence):
    assert "third_party_sharing" in practices(sentence), sentence
