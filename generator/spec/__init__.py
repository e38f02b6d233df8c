"""What a competition is, before anything is trained: the preset and its validation, the
schedule and what the leaderboard discloses, the dataset kinds, MICO's splits and the seeds.

Pure and torch-free, so that ``plan``, ``status`` and every error message about a preset come
without loading a deep-learning stack. Imports only the shared plumbing above it
(``generator.errors``, ``generator.paths``); ``tests/test_imports.py`` holds it to that.
"""
