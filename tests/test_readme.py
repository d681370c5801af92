"""What README.md tells a researcher to run works on a real scan."""

import re
import sqlite3

import pytest

from expected import DEMO_ADS_DESPITE_DENIAL, DEMO_NOT_ADS_DESPITE_DENIAL
from helpers import ROOT

README = ROOT / "README.md"


@pytest.mark.crawl
def test_readme_sql_finds_child_apps_with_ad_trackers_that_deny_selling_or_sharing(demo_scan_db):
    sql = re.search(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    rows = sqlite3.connect(demo_scan_db).execute(sql).fetchall()
    targets = {row[0] for row in rows}
    # Tiny Tunes TV denies selling yet loads Meta and TikTok pixels; Happy Hippo denies too but
    # loads no tracker; Pixel Pals is not child-directed.
    assert DEMO_ADS_DESPITE_DENIAL <= targets
    assert not targets & DEMO_NOT_ADS_DESPITE_DENIAL
