"""Scrapy spiders, one per module: policy (privacy policies) and site (third parties)."""
