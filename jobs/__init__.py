"""jobs: a background job runner, with persistent tracking, for Gemini's Interactions API."""

__version__ = "0.1.0"
