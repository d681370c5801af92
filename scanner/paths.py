"""Where the project's data lives in a checkout (rules, targets, demo sites)."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
RULES_DIR = ROOT / "rules"
POLICY_RULES_DIR = RULES_DIR / "policy"
TRACKER_RULES_DIR = RULES_DIR / "trackers"
TARGETS_DIR = ROOT / "targets"
DEMO_SITES_DIR = PACKAGE_DIR / "demo" / "sites"
