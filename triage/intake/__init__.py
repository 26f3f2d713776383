"""The way in: the door every post passes (posts), deliveries stored exactly once (ingest), file imports, dead
letters, sources and their settings.
"""
