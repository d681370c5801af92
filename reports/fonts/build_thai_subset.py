"""Build reports/fonts/loma-thai.woff2: the Thai block of Debian's TLWG Loma, for embedding in
HTML reports (make thai-font). Run once when the font or the range changes; the result is committed
so that rendering a report needs neither the Debian package nor fontTools."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE = Path("/usr/share/fonts/truetype/tlwg/Loma.ttf")  # Debian package fonts-tlwg-loma-ttf
OUTPUT = Path(__file__).with_name("loma-thai.woff2")
# The Thai block, plus the few shared marks Thai text uses between words.
THAI_CODEPOINTS = [*range(0x0E01, 0x0E3B), *range(0x0E3F, 0x0E5C), 0x0020, 0x00A0, 0x200B,
                   0x25CC]


def build(source: Path = SOURCE, output: Path = OUTPUT) -> int:
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]  # Thai needs mark positioning (tone marks above vowels)
    options.name_IDs = ["*"]         # keep the copyright and licence records
    options.notdef_outline = True
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=THAI_CODEPOINTS)
    subsetter.subset(font)
    subset.save_font(font, str(output), options)
    return output.stat().st_size


if __name__ == "__main__":
    if not SOURCE.exists():
        sys.exit(f"{SOURCE}: missing; install Debian's fonts-tlwg-loma-ttf (make thai-font)")
    print(f"wrote {OUTPUT} ({build()} bytes)")
