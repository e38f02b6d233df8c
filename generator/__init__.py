"""Generator of MICO-style membership-inference competitions: models, challenges, exports."""

__version__ = "0.1.0"
